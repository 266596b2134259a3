"""The demo seed reads the clock once: a seed that starts a moment before a week starts and runs on into it seeds
one week's demo, not a history of one week closed as if the next had begun."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from labeling.demo.project import DECISIONS
from labeling.demo.seed import seed_demo
from labeling.models import (
    Alert,
    AuditEvent,
    CycleStatus,
    DatasetVersion,
    Decision,
    Flag,
    Output,
    Queue,
    Resolution,
    ReviewCycle,
    Rubric,
)
from labeling.rules.calendar import cycle_week

pytestmark = pytest.mark.django_db

SUNDAY_NIGHT = datetime(2026, 11, 22, 23, 59, 59, tzinfo=UTC)  # the demo's weeks start on Mondays, in UTC
# What the seed's steps do that the pages date by week: each service stamps it with a clock read of its own.
STAMPED = (
    (AuditEvent, "at"),
    (Decision, "created_at"),
    (Decision, "done_at"),
    (Rubric, "created_at"),
    (Resolution, "adjudicated_at"),
    (Flag, "resolved_at"),
    (Queue, "paused_at"),
    (DatasetVersion, "withdrawn_at"),
    (Alert, "acknowledged_at"),
)


@pytest.fixture
def seeded_across_a_week_start(monkeypatch):
    reads = iter([SUNDAY_NIGHT])
    # The first read at 23:59:59 on a Sunday, every later one a minute into Monday: the seed's steps take that long.
    monkeypatch.setattr("django.utils.timezone.now", lambda: next(reads, SUNDAY_NIGHT + timedelta(minutes=1)))

    with override_settings(DEBUG=True):
        return seed_demo()


def test_a_seed_run_across_a_week_start_closes_the_weeks_before_the_one_it_started_in(seeded_across_a_week_start):
    report = seeded_across_a_week_start

    running = cycle_week(report.project, SUNDAY_NIGHT)
    closed = ReviewCycle.objects.filter(project=report.project, status=CycleStatus.CLOSED)
    assert max(closed.values_list("week", flat=True)) == running - timedelta(days=7)
    assert not Output.objects.filter(project=report.project, routed_at__gt=SUNDAY_NIGHT).exists()


def test_what_the_seeds_steps_did_is_stamped_no_later_than_its_one_clock_read(seeded_across_a_week_start):
    """The last meeting's decisions, the rubric versions, the adjudications, the resolved flag, the paused queue, the
    withdrawn version, the acknowledged alert and the audit log of them all: the services stamped each with a clock
    read of its own, a minute into Monday, a week the seed did not write."""
    later = {
        f"{model.__name__}.{field}": model.objects.filter(**{f"{field}__gt": SUNDAY_NIGHT}).count()
        for model, field in STAMPED
    }

    assert {name: count for name, count in later.items() if count} == {}
    # The last meeting's decisions, and their audit rows, are of the seed's moment.
    assert Decision.objects.filter(created_at=SUNDAY_NIGHT).count() == len(DECISIONS)
    assert AuditEvent.objects.filter(action="decision.added", at=SUNDAY_NIGHT).count() == len(DECISIONS)
