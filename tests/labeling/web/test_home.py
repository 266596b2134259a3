"""The home page for everyone (issue 18, point 5): each of my projects with what waits for me there.

Experts see the items waiting for them per queue and their week's labels (the very counts of the project's own
page: one selector); leads the cases to adjudicate and where the weekly close stands (failed and overdue stand
out); engineers the newest ready dataset version. One project and no operator: straight to it. A fixed number of
queries, however many projects.
"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labeling.models import DatasetVersion, Output, Project, Queue, ReviewCycle, Rubric, VersionStatus, week_label
from labeling.rules.calendar import current_week, week_start
from labeling.selectors import work
from labeling.selectors.gold import adjudication_queue
from labeling.services.assignment import next_item
from labeling.services.cycles import record_failure
from labeling.services.datasets import create_dataset
from labeling.services.labels import submit_label
from labeling.services.queues import QueueValues, create_queue
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, OutputFactory, ProjectFactory, UserFactory
from tests.helpers.labeling import TIE, label_outputs, make_items
from tests.helpers.rubrics import QUESTIONS

COUNTS = ("waiting_for_me", "my_labels_this_week", "done_this_week", "placed_this_week")


def home_queues(response, slug: str) -> dict[str, dict[str, int]]:
    """The queue rows of a project's card on the home page: the numbers shown, by queue slug."""
    page = response.content.decode()
    card = re.search(rf'data-project="{slug}".*?</section>', page, re.S).group(0)
    rows = {}
    for queue, row in re.findall(r'<tr data-queue="([a-z0-9-]+)">(.*?)</tr>', card, re.S):
        cells = {
            name: re.search(rf'class="stat-{name}">(.*?)</td>', row, re.S).group(1) for name in ("waiting", "mine")
        }
        rows[queue] = {name: int(re.sub(r"<[^>]+>", "", text)) for name, text in cells.items()}
    return rows


def label_one(expert, queue, rubric):
    item = next_item(expert=expert, queue=queue)
    submit_label(expert=expert, item=item, rubric=rubric, answers={"correct": True, "helpful": 4})


@pytest.fixture
def two_projects(project, expert, rubric):
    """`expert` in two projects with different calendars: queues with items waiting, one label made this week, and a
    queue restricted to another expert."""
    sample = create_queue(project=project, values=QueueValues(slug="sample", name="Sample", weekly_quota=10))
    make_items(project, 3)
    label_one(expert, sample, rubric)

    faq = ProjectFactory(slug="faq-bot", name="FAQ bot", time_zone="Pacific/Kiritimati", cycle_weekday=3)
    MembershipFactory(project=faq, user=expert, role="expert")
    other = MembershipFactory(project=faq, user=UserFactory(username="ezra"), role="expert").user
    create_queue(project=faq, values=QueueValues(slug="all", name="All", overlap=2))
    create_queue(project=faq, values=QueueValues(slug="vip", name="VIP", eligible_expert_ids=(other.pk,)))
    make_items(faq, 5)
    return project, faq


def test_an_expert_sees_each_projects_waiting_counts_as_its_own_page_counts_them(client, expert, two_projects):
    client.force_login(expert)

    response = client.get("/")

    assert response.status_code == 200
    shown = {entry.project.slug: entry.queues for entry in response.context["projects"]}
    for project in two_projects:
        own_page = work.queues_for_labeler(expert, project)
        assert [(q.slug, *(getattr(q, n) for n in COUNTS)) for q in shown[project.slug]] == [
            (q.slug, *(getattr(q, n) for n in COUNTS)) for q in own_page
        ]
        assert home_queues(response, project.slug) == {
            q.slug: {"waiting": q.waiting_for_me, "mine": q.my_labels_this_week} for q in own_page
        }
    # The figures themselves: 3 items, one labeled by erin; 5 items wanting two labels; VIP is not hers.
    assert home_queues(response, "support-bot") == {"sample": {"waiting": 2, "mine": 1}}
    assert home_queues(response, "faq-bot") == {"all": {"waiting": 5, "mine": 0}}
    # Items complete of the items placed, with the quota beside them, as the project page shows it (it said "1 / 10").
    assert "<strong>1</strong> of 3 placed · quota 10" in response.content.decode()


def test_a_one_project_expert_goes_straight_to_the_project(client, expert, project, other_project):
    client.force_login(expert)

    response = client.get("/")

    assert response.status_code == 302 and response.headers["Location"] == f"/p/{project.slug}/"


def test_an_operator_with_one_project_stays_on_the_home_page(client, project):
    """Operators see every project (here there is one): the home page is their list, not a door to one project."""
    operator = UserFactory(username="opal")
    operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    MembershipFactory(project=project, user=operator, role="lead")
    client.force_login(operator)

    response = client.get("/")

    assert response.status_code == 200 and 'data-project="support-bot"' in response.content.decode()


def test_a_user_without_projects_is_told_what_to_do(client, db):
    client.force_login(UserFactory(username="pat"))

    page = client.get("/").content.decode()

    assert "No projects yet" in page and "Ask a project's lead to invite you" in page


def test_a_lead_sees_the_cases_to_adjudicate_and_a_failed_close_stands_out(client, project, lead, other_project):
    MembershipFactory(project=other_project, user=lead, role="lead")
    Project.objects.filter(pk__in=[project.pk, other_project.pk]).update(created_at=timezone.now() - timedelta(days=60))
    label_outputs(project, 2, answers=TIE)
    ended = current_week(project) - timedelta(days=7)
    record_failure(project=project, week=ended, kind="close", error="boom")
    ReviewCycle.objects.create(
        project=other_project, week=ended, status="closed", closed_at=timezone.now()
    )  # the other project's close went well
    client.force_login(lead)

    page = client.get("/").content.decode()

    support, sql = (
        re.search(rf'data-project="{slug}".*?</section>', page, re.S).group(0)
        for slug in ("support-bot", "sql-assistant")
    )
    assert adjudication_queue(project)[1] == 2
    assert "<strong>2</strong> cases</a>" in support and "<strong>0</strong> cases</a>" in sql
    assert "close-failed" in support and '<span class="badge bad">failed</span>' in support
    assert "close-closed" in sql and "badge bad" not in sql


def test_a_failed_close_of_an_older_open_week_stands_out_on_the_home_page(client, project, lead, other_project):
    """The week before last failed to close and is still open while last week closed: the lead is told of it."""
    MembershipFactory(project=other_project, user=lead, role="engineer")  # two projects: the home page, no redirect
    Project.objects.filter(pk=project.pk).update(created_at=timezone.now() - timedelta(days=60))
    ended = current_week(project) - timedelta(days=7)
    record_failure(project=project, week=ended - timedelta(days=7), kind="close", error="boom")
    ReviewCycle.objects.create(project=project, week=ended, status="closed", closed_at=timezone.now())
    client.force_login(lead)

    page = client.get("/").content.decode()

    assert '<span class="badge bad">failed</span>' in page
    failed = ended - timedelta(days=7)
    assert f"The close of {week_label(failed)} (week of {failed.day} {failed:%b}) failed" in page


def test_the_cycles_are_read_by_project_id_without_joining_the_projects(client, project, lead, other_project):
    """The cycles' default ordering (by project, so by its slug) joined labeling_project for an order never used."""
    MembershipFactory(project=other_project, user=lead, role="lead")
    client.force_login(lead)

    with CaptureQueriesContext(connection) as queries:
        client.get("/")

    # The cycles' own query (the weeks before the project ask for closed cycles in a subquery of the items').
    [cycles] = [query["sql"] for query in queries if query["sql"].startswith('SELECT "labeling_reviewcycle"')]
    assert '"labeling_project"' not in cycles and '"project_id" IN' in cycles


def test_an_overdue_close_stands_out(client, project, lead, other_project):
    MembershipFactory(project=other_project, user=lead, role="engineer")
    # Weeks that began two days ago (UTC): the week before ended two days ago, and nothing closed it.
    two_days_ago = (timezone.now().weekday() - 2) % 7
    Project.objects.filter(pk=project.pk).update(
        created_at=timezone.now() - timedelta(days=60), time_zone="UTC", cycle_weekday=two_days_ago
    )
    client.force_login(lead)

    page = client.get("/").content.decode()

    assert '<span class="badge bad">overdue</span>' in page


def test_an_engineer_sees_the_newest_ready_dataset_version(client, project, engineer, other_project):
    MembershipFactory(project=other_project, user=engineer, role="engineer")
    old = create_dataset(project=project, spec={"name": "Support eval"})
    new = create_dataset(project=project, spec={"name": "Refunds eval"})
    now = timezone.now()
    DatasetVersion.objects.create(dataset=old, number=7, status=VersionStatus.READY, built_at=now - timedelta(days=3))
    DatasetVersion.objects.create(dataset=new, number=2, status=VersionStatus.READY, built_at=now - timedelta(hours=2))
    DatasetVersion.objects.create(dataset=new, number=3, status=VersionStatus.FAILED, built_at=now)
    client.force_login(engineer)

    page = client.get("/").content.decode()

    assert "Refunds eval v2</a>" in page and "built 2\xa0hours ago" in page
    assert "No version is ready yet." in page  # the other project
    assert "To adjudicate" not in page and "Waiting for me" not in page


def _projects_with_everything(user, count: int) -> None:
    """`count` projects where the user has each role in turn, each with a queue, items, a cycle and a dataset."""
    roles = ["expert", "lead", "engineer"]
    for n in range(count):
        project = ProjectFactory(slug=f"p{n}", name=f"P{n}", time_zone=["UTC", "Asia/Tokyo"][n % 2])
        MembershipFactory(project=project, user=user, role=roles[n % 3])
        create_queue(project=project, values=QueueValues(slug="sample", name="Sample", weekly_quota=5))
        make_items(project, 2)
        ReviewCycle.objects.create(project=project, week=current_week(project) - timedelta(days=7), status="closed")
        dataset = create_dataset(project=project, spec={"name": "Eval"})
        DatasetVersion.objects.create(dataset=dataset, number=1, status=VersionStatus.READY, built_at=timezone.now())


@pytest.mark.parametrize("count", [2, 6])
def test_the_home_page_runs_a_fixed_number_of_queries(client, db, count, django_assert_num_queries):
    user = UserFactory(username="mo")
    _projects_with_everything(user, count)
    # Where mo labels, a second queue mo holds an item in, then paused: its line on the card costs no query.
    for queue in Queue.objects.filter(project__memberships__user=user, project__memberships__role="expert"):
        paused = create_queue(project=queue.project, values=QueueValues(slug="paused", name="Paused"))
        make_items(queue.project, 1)
        assert next_item(expert=user, queue=paused) is not None
        Queue.objects.filter(pk=paused.pk).update(is_active=False)
    client.force_login(user)

    # session, user, projects with their counts, the queues of the projects mo labels in, the cycles of those mo leads
    # (each one's latest closed among them), their weeks beat leaves open holding items
    with django_assert_num_queries(6):
        response = client.get("/")

    assert len(response.context["projects"]) == count
    assert response.content.decode().count('class="notice held-paused"') == len(range(0, count, 3))


def test_an_operator_outside_a_project_reads_operator_view_on_its_page_as_on_the_home_page(client, project):
    """The project's page named the operator's access "Staff view", a name left from when is_staff gave it."""
    operator = UserFactory(username="opal")
    operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    client.force_login(operator)

    home = client.get("/").content.decode()
    page = client.get(f"/p/{project.slug}/").content.decode()

    assert "Operator view" in home
    assert "Operator view" in page and "Staff view" not in page


def test_a_lead_reads_a_rubric_version_published_in_the_running_week_on_the_home_page(
    client, project, lead, rubric, other_project, django_assert_num_queries
):
    """v2 published in the running week: the week's figures pool two versions' labels, and the card says so, linking
    to the meeting page's account of what changed. A version published the week before, or a project's first
    version, is not news there."""
    MembershipFactory(project=other_project, user=lead, role="lead")
    publish_rubric(project=other_project, questions=QUESTIONS)  # a first version: nothing changed
    this_week = current_week(project)
    v2 = publish_rubric(project=project, questions=QUESTIONS[:1], published_by=lead)
    Rubric.objects.filter(pk=v2.pk).update(created_at=week_start(project, this_week) + timedelta(minutes=1))
    client.force_login(lead)

    # the home page's six, and the two newest versions of the project that published one this week
    with django_assert_num_queries(7):
        page = client.get("/").content.decode()

    support, sql = (
        re.search(rf'data-project="{slug}".*?</section>', page, re.S).group(0)
        for slug in ("support-bot", "sql-assistant")
    )
    assert "v2 published" in support and "by <bdi>lena</bdi>" in support
    assert f'href="/p/support-bot/meeting/{week_label(this_week)}/#rubric-published"' in support
    assert "home-rubric" not in sql

    Rubric.objects.filter(pk=v2.pk).update(created_at=week_start(project, this_week) - timedelta(minutes=1))
    with django_assert_num_queries(6):  # nobody published this week: no more than the page's own
        assert "home-rubric" not in client.get("/").content.decode()


def test_a_projects_output_count_on_the_home_page_has_its_thousands_grouped(client, project, lead, other_project):
    """2,081 as the other pages write counts, not 2081."""
    Output.objects.bulk_create(OutputFactory.build(project=project) for _ in range(2_081))
    client.force_login(lead)
    MembershipFactory(project=other_project, user=lead, role="lead")  # two projects: the home page, not a redirect

    page = client.get("/").content.decode()

    card = re.search(r'data-project="support-bot".*?</section>', page, re.S).group(0)
    assert "· 2,081 outputs received ·" in card
