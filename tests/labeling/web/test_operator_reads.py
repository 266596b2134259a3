"""An operator who is not a member of a project reads its members, API keys, datasets and audit log, as they read its
meeting and explore pages: to answer "who has access, what key is this, what happened" without making themselves a
member. What those pages change stays with the members (the API keys' revoke excepted: an operator revokes any key,
as the admin's revoke action always let them); an operator sees no button for the rest, and a POST is refused as
before (a 404, never a 500), changing nothing."""

import re

import pytest

from labeling.models import ApiKey, AuditEvent, Dataset, Invitation, Membership, OutboxMessage
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import build_version, create_dataset
from labeling.services.invitations import invite_member
from tests.factories import MembershipFactory
from tests.helpers.labeling import label_outputs

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(project, lead, engineer):
    """A key the engineer issued, a pending invitation and a dataset with a ready version: each audited."""
    key = create_api_key(project=project, name="product app", scopes=["ingest"], created_by=engineer).api_key
    invite_member(project=project, email="newbie@example.com", role="expert", invited_by=lead)
    label_outputs(project, 2)
    dataset = create_dataset(project=project, spec={"name": "Support eval"}, actor=lead)
    build_version(dataset_id=dataset.pk)
    return key


def pages(project) -> dict[str, str]:
    return {
        "members": f"/p/{project.slug}/manage/members/",
        "keys": f"/p/{project.slug}/keys/",
        "datasets": f"/p/{project.slug}/datasets/",
        "dataset": f"/p/{project.slug}/datasets/support-eval/",
        "audit": f"/p/{project.slug}/manage/audit/",
    }


def tabs(html: str) -> list[str]:
    """The names of the sub-navigation's tabs."""
    nav = html[html.index('<nav class="subnav"') : html.index("</nav>", html.index('<nav class="subnav"'))]
    return re.findall(r"<a href=\"[^\"]+\"[^>]*>([^<]+)</a>", nav.split('class="tabs"', 1)[1])


def test_an_operator_who_is_not_a_member_reads_who_has_access_which_keys_the_datasets_and_what_happened(
    client, project, operator, history
):
    client.force_login(operator)
    paths = pages(project)

    members = client.get(paths["members"])
    keys = client.get(paths["keys"])
    datasets = client.get(paths["datasets"])
    dataset = client.get(paths["dataset"])
    audit = client.get(paths["audit"])

    assert [page.status_code for page in (members, keys, datasets, dataset, audit)] == [200] * 5
    assert {'data-member="lena"', 'data-member="enzo"', 'data-invitation="newbie@example.com"'} <= set(
        re.findall(r'data-(?:member|invitation)="[^"]+"', members.content.decode())
    )
    listed = keys.content.decode()
    assert f'data-key="{history.prefix}"' in listed and "product app" in listed and "ingest" in listed
    assert 'data-dataset="support-eval"' in datasets.content.decode()
    assert 'data-version="1"' in dataset.content.decode()
    assert {"api_key.created", "member.invited", "dataset.created"} <= {
        row["event"].action for row in audit.context["rows"]
    }


def test_an_operator_who_is_not_a_member_sees_no_button_that_changes_anything_but_revoking_a_key(
    client, project, operator, history
):
    client.force_login(operator)
    paths = pages(project)

    shown = {name: client.get(paths[name]) for name in ("members", "keys", "datasets", "dataset")}

    assert {name: response.status_code for name, response in shown.items()} == dict.fromkeys(shown, 200)
    members, keys, datasets, dataset = (response.content.decode() for response in shown.values())
    assert not re.search(r'action="[^"]*/(role|remove|invite|resend|revoke)"', members)
    assert "Send invitation" not in members and "Remove…" not in members and "<select" not in members
    assert "Issue a key" not in keys and 'name="scopes"' not in keys
    assert f'href="/p/{project.slug}/keys/{history.pk}/revoke"' in keys  # any key, as the admin's action revokes it
    assert "New dataset" not in datasets
    assert "Build now" not in dataset and "/withdraw" not in dataset and "Prepare" not in dataset
    # Nor a diff link: that API is the members'. The downloads are linked (test_operator_dataset_downloads.py).
    assert "/diff" not in dataset
    diff = client.get(f"/api/v1/projects/{project.slug}/datasets/support-eval/diff")
    assert diff.status_code == 403 and "not as one of its members" in diff.json()["errors"][0]["message"]


def test_an_operator_who_is_not_a_member_is_refused_every_other_change_and_nothing_changes(
    client, project, operator, history, lead, expert
):
    client.force_login(operator)
    base = f"/p/{project.slug}"
    membership = Membership.objects.get(user=expert)
    invitation = Invitation.objects.get()
    before = (
        AuditEvent.objects.count(), OutboxMessage.objects.count(), ApiKey.objects.count(), Invitation.objects.count(),
    )  # fmt: skip

    posts = {
        f"{base}/keys/": {"name": "mine", "scopes": ["ingest"]},
        f"{base}/manage/members/invite": {"email": "someone@example.com", "role": "expert"},
        f"{base}/manage/members/{membership.pk}/role": {"role": "lead"},
        f"{base}/manage/members/{membership.pk}/remove": {},
        f"{base}/manage/invitations/{invitation.pk}/resend": {},
        f"{base}/manage/invitations/{invitation.pk}/revoke": {},
        f"{base}/datasets/new": {"name": "Mine"},
        f"{base}/datasets/support-eval/build": {},
        f"{base}/datasets/support-eval/v1/withdraw": {"reason": "bad gold"},
    }
    for path, data in posts.items():
        assert client.post(path, data).status_code == 404, path

    after = (
        AuditEvent.objects.count(), OutboxMessage.objects.count(), ApiKey.objects.count(), Invitation.objects.count(),
    )  # fmt: skip
    assert after == before
    assert Membership.objects.get(user=expert).role == "expert"
    assert list(Dataset.objects.values_list("slug", "build_requested_at")) == [("support-eval", None)]


def test_an_operator_who_is_not_a_member_revokes_a_key_audited_as_theirs(client, project, operator, history):
    client.force_login(operator)
    revoke = f"/p/{project.slug}/keys/{history.pk}/revoke"

    assert client.get(revoke).status_code == 200
    response = client.post(revoke, follow=True)

    assert response.status_code == 200 and "revoked: every request with it is refused" in response.content.decode()
    history.refresh_from_db()
    assert not history.is_active
    assert AuditEvent.objects.get(action="api_key.revoked").actor == operator


def test_an_operator_who_is_one_of_its_engineers_revokes_a_key_another_issued_as_the_service_lets_them(
    client, project, operator, lead, history
):
    """The keys page and the revoking service ask one rule: an engineer revokes only their own keys, an operator any,
    whatever their role in the project (the page offered no Revoke and answered 403 where the service would revoke)."""
    MembershipFactory(project=project, user=operator, role="engineer")
    theirs = create_api_key(project=project, name="lead's job", scopes=["read"], created_by=lead).api_key
    client.force_login(operator)
    revoke = f"/p/{project.slug}/keys/{theirs.pk}/revoke"

    assert f'href="{revoke}"' in client.get(f"/p/{project.slug}/keys/").content.decode()
    assert client.get(revoke).status_code == 200
    assert client.post(revoke).status_code == 302
    theirs.refresh_from_db()
    assert not theirs.is_active


def test_an_operator_who_is_one_of_its_experts_reads_the_pages_as_an_operator(client, project, operator, history):
    """An expert alone gets a 404 on them: the operator permission, not the role, opens them."""
    MembershipFactory(project=project, user=operator, role="expert")
    client.force_login(operator)

    for name, path in pages(project).items():
        assert client.get(path).status_code == 200, name
    assert "Issue a key" not in client.get(pages(project)["keys"]).content.decode()


@pytest.mark.parametrize("persona", ["expert", "outsider"])
def test_members_without_the_role_and_outsiders_still_get_a_404(client, project, persona, request, history):
    client.force_login(request.getfixturevalue(persona))

    for name, path in pages(project).items():
        assert client.get(path).status_code == 404, name


def test_the_operators_tabs_are_the_pages_they_read_and_the_overview_links_them(client, project, operator, history):
    client.force_login(operator)
    paths = pages(project)

    for name in ("members", "keys", "datasets", "dataset", "audit"):
        assert tabs(client.get(paths[name]).content.decode()) == ["Members", "Datasets", "API keys", "Audit log"], name
    overview = client.get(f"/p/{project.slug}/").content.decode()
    for name in ("members", "keys", "datasets", "audit"):
        assert f'href="{paths[name]}"' in overview, name


@pytest.mark.parametrize("who", ["operator", "operator who is an expert", "operator who is an engineer"])
def test_every_api_link_the_dataset_page_shows_an_operator_opens_for_them(client, project, lead, operator, who):
    """The page links a diff only to whom its API opens (a member whose role reads datasets); an operator reading the
    page as an operator (a member of no project, or one of its experts: `read_project`) gets the downloads, which open
    for them, and no diff; nor does the versions API's JSON link one."""
    label_outputs(project, 2)
    dataset = create_dataset(project=project, spec={"name": "Support eval"}, actor=lead)
    build_version(dataset_id=dataset.pk)
    label_outputs(project, 1)
    build_version(dataset_id=dataset.pk)
    if who != "operator":
        MembershipFactory(project=project, user=operator, role=who.rsplit(" ", 1)[1])
    client.force_login(operator)

    page = client.get(f"/p/{project.slug}/datasets/support-eval/").content.decode()

    links = [link.replace("&amp;", "&") for link in re.findall(r'href="(/api/v1/[^"]+)"', page)]
    assert any("/download" in link for link in links)
    assert any("/diff" in link for link in links) is (who == "operator who is an engineer")
    assert {link: client.get(link).status_code for link in links} == dict.fromkeys(links, 200)
    versions = client.get(f"/api/v1/projects/{project.slug}/datasets/support-eval/versions")
    assert versions.status_code == 200 and "/diff" not in versions.content.decode()
