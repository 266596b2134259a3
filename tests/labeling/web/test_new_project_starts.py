"""The new-project page's three starts: a template (its rubric and queues), from scratch, or a copy of a project the
user leads (operators: any). A forged POST naming a project the user may not copy is a 404 and creates nothing."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.utils.html import escape

from labeling.models import Item, Membership, Project, Queue, Rubric
from labeling.services.queues import QueueValues, create_queue
from labeling.services.rubric_templates import BY_KEY, SCRATCH, TEMPLATES, first_rubric, starter_queues
from tests.factories import MembershipFactory, UserFactory
from tests.helpers.labeling import make_items

NEW = "/projects/new"
SETTINGS = ("slug", "name", "description", "rule", "sample_rate", "weekly_quota", "overlap", "priority")


def new_project(**overrides) -> dict:
    data = {"name": "FAQ bot", "slug": "faq-bot", "time_zone": "UTC", "cycle_weekday": "0", "rubric_template": SCRATCH}
    return {**data, **overrides}


@pytest.fixture
def staff_lead(project, rubric):
    """A staff user (who may create projects) leading `project`, which has a rubric and a queue with items."""
    user = UserFactory(username="stella", is_staff=True)
    MembershipFactory(project=project, user=user, role="lead")
    create_queue(
        project=project,
        values=QueueValues(slug="refunds", name="Refunds", rule={"tags_any": ["refund"]}, weekly_quota=20, overlap=2),
    )
    make_items(project, 2, tags=["refund"])
    return user


@pytest.mark.parametrize("template", [template.key for template in TEMPLATES] + [SCRATCH])
def test_the_form_creates_a_template_projects_rubric_and_queues(client, db, template):
    client.force_login(UserFactory(username="stella", is_staff=True))

    response = client.post(NEW, new_project(rubric_template=template))

    assert response.status_code == 302 and response.headers["Location"] == "/p/faq-bot/"
    project = Project.objects.get(slug="faq-bot")
    assert Rubric.objects.get(project=project).questions == first_rubric(template)["questions"]
    queues = {queue["slug"]: queue for queue in Queue.objects.filter(project=project).values(*SETTINGS)}
    assert set(queues) == {queue["slug"] for queue in starter_queues(template)}
    for wanted in starter_queues(template):
        assert {name: queues[wanted["slug"]][name] for name in wanted} == wanted
    assert not Item.objects.filter(project=project).exists()


def test_the_page_shows_each_templates_queues(client, db):
    client.force_login(UserFactory(username="stella", is_staff=True))

    page = client.get(NEW).content.decode()

    for template in TEMPLATES:
        assert f'data-template-queues="{template.key}"' in page
        assert all(escape(queue["description"]) in page for queue in template.queues)
    # The numbers come from the settings the queues will be created with, not from the descriptions.
    assert "(all it matches, no weekly quota, 1 expert each)" in page  # thumbs down
    assert "(20 % of what its rule matches, up to 50 items a week, 2 experts each)" in page  # answer quality's sample
    assert "(12 % of what its rule matches, up to 40 items a week, 2 experts each)" in page  # support reply's sample


def test_no_starter_queue_description_states_a_number_that_its_settings_can_change():
    """A description is stored once; the numbers a lead can change would go stale in it."""
    numbers = re.compile(r"\d|\b(one|two|three|five|eight|ten|twice|half|third)\b", re.IGNORECASE)
    for template in [*TEMPLATES, SCRATCH]:
        for queue in starter_queues(template if template == SCRATCH else template.key):
            assert not numbers.search(queue["description"]), queue["description"]


def test_a_lead_is_offered_the_projects_they_lead_to_copy(client, staff_lead, other_project):
    MembershipFactory(project=other_project, user=staff_lead, role="expert")
    client.force_login(staff_lead)

    page = client.get(NEW).content.decode()

    assert 'value="copy"' in page and "Copy the rubric and queues of" in page
    assert '<option value="support-bot">Support bot</option>' in page
    assert 'value="sql-assistant"' not in page  # an expert there: not theirs to copy


def test_a_staff_user_who_leads_nothing_is_not_offered_a_copy(client, project):
    client.force_login(UserFactory(username="stella", is_staff=True))

    page = client.get(NEW).content.decode()

    assert 'value="copy"' not in page and "support-bot" not in page


def test_copying_by_the_form_takes_the_rubric_and_queues(client, staff_lead, project):
    client.force_login(staff_lead)

    response = client.post(NEW, new_project(rubric_template="copy", copy_from="support-bot"))

    assert response.status_code == 302 and response.headers["Location"] == "/p/faq-bot/"
    copy = Project.objects.get(slug="faq-bot")
    assert Rubric.objects.get(project=copy).questions == Rubric.objects.current_for(project).questions
    assert list(Queue.objects.filter(project=copy).order_by("slug").values(*SETTINGS)) == list(
        Queue.objects.filter(project=project).order_by("slug").values(*SETTINGS)
    )
    assert not Item.objects.filter(project=copy).exists()
    assert list(Membership.objects.filter(project=copy).values_list("user__username", flat=True)) == ["stella"]


def test_copies_of_one_name_without_latin_letters_get_a_slug_each_and_a_copy_posted_twice_is_one(
    client, staff_lead, project
):
    client.force_login(staff_lead)
    copy = new_project(name="Отзывы", slug="", rubric_template="copy", copy_from="support-bot")

    first = client.post(NEW, {**copy, "description": "Support"})
    again = client.post(NEW, {**copy, "description": "Support"})  # the form posted twice
    second = client.post(NEW, {**copy, "description": "Sales"})

    assert [response.headers["Location"] for response in (first, again, second)] == [
        "/p/project-1/", "/p/project-1/", "/p/project-2/",
    ]  # fmt: skip
    assert Queue.objects.filter(project__slug="project-2").count() == Queue.objects.filter(project=project).count()


def test_copy_without_a_project_is_a_400_beside_the_field(client, staff_lead):
    client.force_login(staff_lead)

    response = client.post(NEW, new_project(rubric_template="copy", copy_from=""))

    assert response.status_code == 400
    assert "Choose the project whose rubric and queues to copy." in response.content.decode()
    assert not Project.objects.filter(slug="faq-bot").exists()


@pytest.mark.parametrize("source", ["sql-assistant", "no-such-project"])
def test_a_forged_post_naming_a_project_the_user_may_not_copy_is_a_404(client, staff_lead, other_project, source):
    MembershipFactory(project=other_project, user=staff_lead, role="expert")
    client.force_login(staff_lead)

    response = client.post(NEW, new_project(rubric_template="copy", copy_from=source))

    assert response.status_code == 404
    assert not Project.objects.filter(slug="faq-bot").exists()


def test_an_operator_may_copy_any_project(client, project, other_project):
    create_queue(project=other_project, values=QueueValues(slug="all", name="All"))
    operator = UserFactory(username="opal", is_staff=True)
    operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    client.force_login(operator)

    assert 'value="sql-assistant"' in client.get(NEW).content.decode()
    response = client.post(NEW, new_project(rubric_template="copy", copy_from="sql-assistant"))

    assert response.status_code == 302
    assert list(Queue.objects.filter(project__slug="faq-bot").values_list("slug", flat=True)) == ["all"]


def test_the_choice_of_template_still_wins_over_a_stray_copy_from(client, staff_lead):
    """copy_from is read only when "copy" is the choice: a template's project gets the template's queues."""
    client.force_login(staff_lead)

    client.post(NEW, new_project(rubric_template="support-reply", copy_from="support-bot"))

    queues = set(Queue.objects.filter(project__slug="faq-bot").values_list("slug", flat=True))
    assert queues == {queue["slug"] for queue in BY_KEY["support-reply"].queues}
