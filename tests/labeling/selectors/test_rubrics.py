"""Rubric versions from this process's cache: never another project's, never a stale "current", never shared."""

from datetime import UTC, datetime, timedelta

import pytest

from labeling.exceptions import NotFound
from labeling.models import CycleStatus, Queue, ReviewCycle, Rubric
from labeling.rules import calendar
from labeling.selectors.report import report_of_week
from labeling.selectors.rubrics import answered_keys, published_version, rubric_version, rubrics_published_data
from labeling.services import assignment
from labeling.services.rubrics import publish_rubric
from tests.helpers.labeling import label_outputs, make_items
from tests.helpers.rubrics import QUESTIONS, questions

V2_QUESTIONS = [{"key": "fine", "kind": "binary", "prompt": "Is it fine?"}]


def test_a_version_read_once_is_served_without_a_query(project, rubric, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert published_version(project, rubric.pk).questions == QUESTIONS
    with django_assert_num_queries(0):
        assert published_version(project, rubric.pk).questions == QUESTIONS
        assert rubric_version(project, str(rubric.pk)).pk == rubric.pk


def test_another_projects_version_is_refused_even_once_cached(project, other_project, rubric):
    foreign = publish_rubric(project=other_project, questions=QUESTIONS)
    assert published_version(other_project, foreign.pk).pk == foreign.pk  # now in the cache

    assert published_version(project, foreign.pk) is None
    with pytest.raises(NotFound):
        rubric_version(project, str(foreign.pk))


def test_a_caller_changing_its_copy_changes_nobody_elses(project, rubric):
    given = published_version(project, rubric.pk)
    given.questions.append({"key": "extra", "kind": "text", "prompt": "?"})
    given.guidelines = "changed"

    again = published_version(project, rubric.pk)

    assert again.questions == QUESTIONS and again.guidelines == rubric.guidelines


def test_an_id_not_found_is_not_remembered_as_missing(project, rubric):
    missing = rubric.pk + 1000
    assert published_version(project, missing) is None

    Rubric.objects.create(pk=missing, project=project, version=2, questions=V2_QUESTIONS)

    assert published_version(project, missing).questions == V2_QUESTIONS


def test_the_screen_shows_a_version_published_after_the_last_one_was_cached(client, expert, project, rubric):
    """Which version is current is read with each item, never cached: a lead's new version shows at once."""
    queue = Queue.objects.create(project=project, slug="all", name="All")
    make_items(project, 1)
    item = assignment.next_item(expert=expert, queue=queue)
    client.force_login(expert)
    url = f"/p/{project.slug}/items/{item.pk}/"
    assert f'name="rubric_id" value="{rubric.pk}"' in client.get(url).content.decode()  # v1 now cached

    newer = publish_rubric(project=project, questions=questions(required=("tone",)), guidelines="Version **two**.")

    html = client.get(url).content.decode()
    assert f'name="rubric_id" value="{newer.pk}"' in html
    assert "Version <strong>two</strong>." in html


def test_the_keys_some_label_answered_are_found_in_one_query(project, other_project, django_assert_num_queries):
    """Publishing a version that asks four questions differently asks once which of them labels answered, not once
    per question; another project's labels answer nothing here."""
    label_outputs(project, answers=({"correct": True, "helpful": 4},), resolve=False)
    label_outputs(other_project, answers=({"correct": True, "tone": "curt"},), resolve=False)

    with django_assert_num_queries(1):
        found = answered_keys(project, ["tone", "helpful", "issues", "correct"])

    assert found == ["helpful", "correct"]
    with django_assert_num_queries(0):
        assert answered_keys(project, []) == []


@pytest.mark.parametrize("later_closed", [False, True], ids=["later-open", "later-closed"])
@pytest.mark.parametrize(
    ("closed_in", "moved_to", "published_at"),
    [
        # Closed in UTC, moved 13 hours ahead: the later week, drawn in Auckland, would start in the closed week's end.
        ("UTC", "Pacific/Auckland", datetime(2026, 11, 22, 20, tzinfo=UTC)),
        # Closed in Auckland, moved to UTC: the later week would start 13 hours after the closed week ended.
        ("Pacific/Auckland", "UTC", datetime(2026, 11, 22, 15, tzinfo=UTC)),
    ],
)
def test_after_a_zone_move_a_version_is_told_in_one_week_of_a_closed_week_and_the_one_after_it(
    project, closed_in, moved_to, published_at, later_closed
):
    """The week of 16 November closed in one zone; the project then moved to another. v2, published near its end, is
    told in exactly one of it and the week after it, open or closed since in the new zone (as `close_week` stores
    it): never in both, never in neither."""
    project.time_zone = closed_in
    project.save(update_fields=["time_zone"])
    closed_week = calendar.cycle_week(project, datetime(2026, 11, 18, 12, tzinfo=UTC))
    cycle = ReviewCycle.objects.create(
        project=project, week=closed_week, status=CycleStatus.CLOSED, report={}, closed_in_time_zone=closed_in
    )
    publish_rubric(project=project, questions=QUESTIONS)
    v2 = publish_rubric(project=project, questions=V2_QUESTIONS)
    Rubric.objects.filter(pk=v2.pk).update(created_at=published_at)
    Rubric.objects.filter(version=1).update(created_at=published_at - timedelta(weeks=3))
    project.time_zone = moved_to
    project.save(update_fields=["time_zone"])
    later_week = closed_week + timedelta(days=7)
    later_cycle = None
    if later_closed:
        later_cycle = ReviewCycle.objects.create(
            project=project, week=later_week, status=CycleStatus.CLOSED, report={}, closed_in_time_zone=moved_to
        )

    told = [
        [published["version"] for published in rubrics_published_data(project, closed_week, cycle=cycle)],
        [published["version"] for published in rubrics_published_data(project, later_week, cycle=later_cycle)],
    ]

    assert sorted(told) == [[], [2]]


@pytest.mark.parametrize("later_closed", [False, True], ids=["later-open", "later-closed"])
def test_a_weeks_report_reads_the_closed_weeks_beside_it_as_the_versions_published_in_it_do(
    project, monkeypatch, later_closed
):
    """The meeting page and the API read the closed weeks beside a week with its cycle (`report_of_week`'s `beside`):
    after a zone move each version is told in the week it is told in when read without them, in exactly one, and the
    week's own frozen report is the one served."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime(2026, 12, 2, 12, tzinfo=UTC))
    project.time_zone = "UTC"
    project.save(update_fields=["time_zone"])
    closed_week = calendar.cycle_week(project, datetime(2026, 11, 18, 12, tzinfo=UTC))
    ReviewCycle.objects.create(
        project=project, week=closed_week, status=CycleStatus.CLOSED, report={"mark": "A"}, closed_in_time_zone="UTC"
    )
    publish_rubric(project=project, questions=QUESTIONS)
    v2 = publish_rubric(project=project, questions=V2_QUESTIONS)
    Rubric.objects.filter(pk=v2.pk).update(created_at=datetime(2026, 11, 22, 20, tzinfo=UTC))
    Rubric.objects.filter(version=1).update(created_at=datetime(2026, 11, 1, tzinfo=UTC))
    project.time_zone = "Pacific/Auckland"  # the week after, drawn here, would start in the closed week's end
    project.save(update_fields=["time_zone"])
    if later_closed:
        ReviewCycle.objects.create(
            project=project,
            week=closed_week + timedelta(days=7),
            status=CycleStatus.CLOSED,
            report={"mark": "B"},
            closed_in_time_zone="Pacific/Auckland",
        )

    told = []
    for week in (closed_week - timedelta(days=7), closed_week, closed_week + timedelta(days=7)):
        found = report_of_week(project=project, week=week)
        published = rubrics_published_data(project, week, cycle=found.cycle, beside=found.beside)
        assert published == rubrics_published_data(project, week, cycle=found.cycle)
        told.append([version["version"] for version in published])

    assert told == [[], [2], []]
    assert report_of_week(project=project, week=closed_week).report == {"mark": "A"}


def test_an_older_version_than_the_running_week_is_no_news_without_reading_the_weeks_cycles(
    project, django_assert_num_queries
):
    """The project page asks every lead's visit: a version published long before the running week costs the newest
    two versions' query only, not the cycles `calendar.week_span` reads for a week after a zone move."""
    from labeling.selectors.rubrics import rubric_published_this_week

    publish_rubric(project=project, questions=QUESTIONS)
    v2 = publish_rubric(project=project, questions=QUESTIONS[:1])
    Rubric.objects.filter(pk=v2.pk).update(created_at=v2.created_at - timedelta(days=90))

    with django_assert_num_queries(1):
        assert rubric_published_this_week(project) is None
