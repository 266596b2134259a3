"""Sign-in, the project list and the project overview: members only, fixed query counts."""

import pytest
from django.contrib.auth.models import Group, Permission

from tests.factories import OutputFactory, ProjectFactory, UserFactory


def test_pages_need_a_signed_in_user(client, project):
    for path in ["/", f"/p/{project.slug}/"]:
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login/")


def test_an_expert_sees_only_their_projects(client, expert, other_project):
    ProjectFactory(slug="faq-bot", name="FAQ bot").memberships.create(user=expert, role="expert")
    client.force_login(expert)

    response = client.get("/")

    assert b"Support bot" in response.content and b"FAQ bot" in response.content
    assert b"SQL assistant" not in response.content


def test_it_validates_ownership(client, expert, other_project):
    client.force_login(expert)
    assert client.get(f"/p/{other_project.slug}/").status_code == 404


def test_the_overview_lists_recent_outputs_as_inert_text(client, expert, project):
    OutputFactory(project=project, output='<img src=x onerror="alert(1)"><script>alert(2)</script>')
    client.force_login(expert)

    response = client.get(f"/p/{project.slug}/")

    html = response.content.decode()
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&lt;script&gt;" in html
    assert "<script>alert" not in html


def test_pages_send_an_enforced_content_security_policy(client, expert):
    client.force_login(expert)
    response = client.get("/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "Content-Security-Policy-Report-Only" not in response.headers


def test_list_pages_run_a_fixed_number_of_queries(client, expert, project, django_assert_num_queries):
    client.force_login(expert)
    for _ in range(3):
        ProjectFactory().memberships.create(user=expert, role="expert")
    OutputFactory.create_batch(5, project=project)

    # session, user, projects with counts, queues (the home page's own test pins more: tests/labeling/web/test_home.py)
    with django_assert_num_queries(4):
        client.get("/")
    # session, user, project with membership, queues, outputs, saved explore views
    with django_assert_num_queries(6):
        client.get(f"/p/{project.slug}/")
    OutputFactory.create_batch(20, project=project)
    with django_assert_num_queries(6):
        client.get(f"/p/{project.slug}/")


def test_staff_alone_see_only_their_own_projects(client, expert, other_project):
    """`is_staff` opens the admin site; it does not show other projects' outputs."""
    expert.is_staff = True
    expert.save(update_fields=["is_staff"])
    OutputFactory(project=other_project, output="another team's transcript")
    client.force_login(expert)

    assert b"SQL assistant" not in client.get("/").content
    assert client.get(f"/p/{other_project.slug}/").status_code == 404


def _operator(permission_via_group: bool):
    user = UserFactory(username="opal")
    permission = Permission.objects.get(codename="operate_all_projects", content_type__app_label="labeling")
    if permission_via_group:
        group = Group.objects.create(name="operators")
        group.permissions.add(permission)
        user.groups.add(group)
    else:
        user.user_permissions.add(permission)
    return user


@pytest.mark.parametrize("via_group", [False, True], ids=["direct", "group"])
def test_the_operator_permission_shows_every_project_and_its_outputs(client, project, other_project, via_group):
    OutputFactory(project=other_project, output="another team's transcript")
    client.force_login(_operator(via_group))

    home = client.get("/").content
    assert b"Support bot" in home and b"SQL assistant" in home
    overview = client.get(f"/p/{other_project.slug}/")
    assert overview.status_code == 200 and b"another team&#x27;s transcript" in overview.content


def test_superusers_see_every_project(client, project, other_project):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    home = client.get("/").content
    assert b"Support bot" in home and b"SQL assistant" in home


def test_the_project_list_asks_the_operator_permission_in_the_same_query(client, expert, django_assert_num_queries):
    expert.is_staff = True
    expert.save(update_fields=["is_staff"])
    client.force_login(expert)
    # session, user, projects with counts (membership or permission folded in): with one project, a redirect to it
    with django_assert_num_queries(3):
        assert client.get("/").headers["Location"] == "/p/support-bot/"
