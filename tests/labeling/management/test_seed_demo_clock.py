"""The demo seed reads the clock once: a seed that starts a moment before a week starts and runs on into it seeds
one week's demo, not a history of one week closed as if the next had begun."""

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from django.test import override_settings

from labeling.demo import seed as demo
from labeling.demo.seed import seed_demo
from labeling.demo.support_bot import generate
from labeling.models import CycleStatus, Output, ReviewCycle
from labeling.rules.calendar import cycle_week

pytestmark = pytest.mark.django_db

SUNDAY_NIGHT = datetime(2026, 11, 22, 23, 59, 59, tzinfo=UTC)  # the demo's weeks start on Mondays, in UTC


def test_a_seed_run_across_a_week_start_closes_the_weeks_before_the_one_it_started_in(monkeypatch):
    # A tenth of the shoppers: which weeks close is tested, not the size of what is seeded (test_seed_demo's fixture).
    monkeypatch.setattr(demo, "generate", partial(generate, shoppers=30))
    reads = iter([SUNDAY_NIGHT])
    # The first read at 23:59:59 on a Sunday, every later one a minute into Monday: the seed's steps take that long.
    monkeypatch.setattr("django.utils.timezone.now", lambda: next(reads, SUNDAY_NIGHT + timedelta(minutes=1)))

    with override_settings(DEBUG=True):
        report = seed_demo()

    running = cycle_week(report.project, SUNDAY_NIGHT)
    closed = ReviewCycle.objects.filter(project=report.project, status=CycleStatus.CLOSED)
    assert max(closed.values_list("week", flat=True)) == running - timedelta(days=7)
    assert not Output.objects.filter(project=report.project, routed_at__gt=SUNDAY_NIGHT).exists()
