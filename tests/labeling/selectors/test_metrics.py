"""The week range every reader of the metric rows asks for (the dashboards and the metrics API), and the running
week's throughput, counted live by the rule a refresh stores."""

from datetime import timedelta

import pytest

from labeling.exceptions import InvalidInput
from labeling.models import Item, ItemStatus, Label, Queue, QueueWeek, Slot
from labeling.rules import calendar
from labeling.selectors.metrics import (
    DEFAULT_WEEKS,
    MAX_WEEKS,
    WeekRange,
    running_week_throughput,
    throughput_series,
    week_range,
)
from labeling.selectors.report import within_the_project
from labeling.services.metrics import refresh_week_metrics
from tests.factories import OutputFactory, created_weeks_ago

pytestmark = pytest.mark.django_db


def test_the_range_defaults_to_the_weeks_up_to_the_current_one(project):
    created_weeks_ago(project, 52)  # old enough that every default week is one of its own
    current = calendar.current_week(project)

    assert week_range(project=project) == WeekRange(first=current - timedelta(weeks=DEFAULT_WEEKS - 1), last=current)
    last = current - timedelta(weeks=20)
    assert week_range(project=project, last=last).first == last - timedelta(weeks=DEFAULT_WEEKS - 1)
    assert week_range(project=project, first=last, last=last).weeks == 1


def test_the_default_range_starts_no_earlier_than_the_projects_first_week(project, rubric, this_week):
    """A project created this week had eleven weeks before it on the dashboard, rows of zeros before it existed. Its
    first week is the one the meeting page and the report API take for it (`within_the_project`): the week it was
    created in, or an earlier one holding review work (outputs sent with older dates)."""
    assert week_range(project=project) == WeekRange(first=this_week, last=this_week)

    queue = Queue.objects.create(project=project, slug="sample", name="Sample")
    backdated = this_week - timedelta(weeks=3)
    _item(project, queue, backdated)

    assert week_range(project=project).first == backdated
    assert within_the_project(project, backdated) and not within_the_project(project, backdated - timedelta(weeks=1))
    # A range asked for is kept, before the project too; a `to` before its first week is a range of that week alone.
    asked = this_week - timedelta(weeks=30)
    assert week_range(project=project, first=asked).first == asked
    assert week_range(project=project, last=asked) == WeekRange(first=asked, last=asked)


def test_a_range_that_ends_before_it_starts_names_both_weeks(project):
    week = calendar.week_from_label(project, "2026-W10")

    with pytest.raises(InvalidInput, match=r"`from` \(2026-W10\) is after `to` \(2026-W09\)"):
        week_range(project=project, first=week, last=week - timedelta(weeks=1))


def test_a_range_longer_than_the_limit_is_refused_and_the_limit_itself_is_not(project):
    last = calendar.current_week(project)

    assert week_range(project=project, first=last - timedelta(weeks=MAX_WEEKS - 1), last=last).weeks == MAX_WEEKS
    with pytest.raises(InvalidInput, match=f"Ask for {MAX_WEEKS} weeks at most; {MAX_WEEKS + 1} weeks"):
        week_range(project=project, first=last - timedelta(weeks=MAX_WEEKS), last=last)


def _item(project, queue, week, *, labels=(), complete=False) -> Item:
    status = ItemStatus.COMPLETE if complete else ItemStatus.OPEN
    item = Item.objects.create(project=project, queue=queue, output=OutputFactory(project=project), week=week,
                               overlap=queue.overlap, status=status)  # fmt: skip
    for number in range(1, queue.overlap + 1):
        Slot.objects.create(item=item, queue=queue, number=number)
    for expert, seconds in labels:
        Label.objects.create(item=item, expert=expert, rubric=project.rubrics.get(), answers={"correct": True},
                             seconds_spent=seconds)  # fmt: skip
    return item


def test_the_running_weeks_live_throughput_is_what_a_refresh_stores_for_the_same_week(
    project, rubric, expert, other_expert, this_week, last_week
):
    """The dashboard counts the running week from its items and labels; the refresh (and the close) store the same
    week's queue rows. Both read one rule, so on the same data they cannot disagree, queue by queue and summed."""
    capped = Queue.objects.create(project=project, slug="capped", name="Capped", overlap=2, weekly_quota=5)
    open_ended = Queue.objects.create(project=project, slug="open-ended", name="Open ended", overlap=1)
    # No items, and a quota: a row with 0 placed, its quota counted (a queue without one and no items has no row).
    Queue.objects.create(project=project, slug="idle", name="Idle", weekly_quota=3)
    _item(project, capped, this_week, labels=[(expert, 30), (other_expert, 50)], complete=True)
    _item(project, capped, this_week, labels=[(expert, 12)])
    _item(project, capped, this_week)
    _item(project, open_ended, this_week, labels=[(other_expert, 7)], complete=True)
    _item(project, open_ended, last_week, labels=[(expert, 99)], complete=True)  # another week's: not counted

    live = {slug: running_week_throughput(project=project, week=this_week, queue_slug=slug)
            for slug in (None, "capped", "open-ended", "idle")}  # fmt: skip
    refresh_week_metrics(project=project, week=this_week)

    stored = {row.queue.slug: row for row in QueueWeek.objects.filter(project=project, week=this_week)}
    assert set(stored) == {"capped", "open-ended", "idle"}
    for slug, row in stored.items():
        assert live[slug] == {
            "queues": 1, "queues_with_quota": int(row.quota is not None),
            "items_in_quota_queues": row.items if row.quota is not None else 0, "quota": row.quota,
            "labels": row.labels, "labels_wanted": row.labels_wanted, "items": row.items,
            "items_complete": row.items_complete, "backlog": row.backlog,
        }  # fmt: skip
    assert live["capped"]["quota"] == 5
    assert (stored["capped"].labels, stored["capped"].backlog, stored["capped"].median_seconds) == (3, 3, 30)
    assert (live["idle"]["queues"], live["idle"]["quota"], live["idle"]["items"]) == (1, 3, 0)
    assert live[None] == {
        "queues": 3, "queues_with_quota": 2, "items_in_quota_queues": 3, "quota": 8, "labels": 4,
        "labels_wanted": 7, "items": 4, "items_complete": 2, "backlog": 3,
    }  # fmt: skip


def test_a_past_weeks_live_count_is_what_its_stored_rows_add_up_to(project, rubric, expert, last_week):
    """The same rule read back through the series: a week's stored rows summed as the dashboard sums them are what
    counting the week live gives."""
    capped = Queue.objects.create(project=project, slug="capped", name="Capped", overlap=2, weekly_quota=5)
    open_ended = Queue.objects.create(project=project, slug="open-ended", name="Open ended", overlap=1)
    _item(project, capped, last_week, labels=[(expert, 30)], complete=False)
    _item(project, open_ended, last_week, labels=[(expert, 7)], complete=True)

    refresh_week_metrics(project=project, week=last_week)
    (stored,) = throughput_series(project=project, weeks=WeekRange(first=last_week, last=last_week))

    live = running_week_throughput(project=project, week=last_week)
    assert {key: stored[key] for key in live} == live
