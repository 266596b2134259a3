"""A closed week's "what changed" made again (`recompute_closed_weeks_changes`, when a week before it closes late)
reads its weeks in the zone it was closed in, as its report and its notices do, not in the one the project moved to."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.models import ChangeWeekTally, CycleStatus, ReviewCycle
from labeling.rules import calendar
from labeling.services import changes
from labeling.services.changes import recompute_closed_weeks_changes

pytestmark = pytest.mark.django_db


def test_a_closed_weeks_what_changed_made_again_after_a_zone_move_reads_the_week_it_closed_in(project, monkeypatch):
    """The week closed in UTC; the project then moved to Auckland (13 hours ahead in November). Made again, its
    "what changed" counts the week and its baseline weeks from UTC midnights, not Auckland's."""
    week = calendar.cycle_week(project, datetime(2026, 11, 18, 12, tzinfo=UTC))
    cycle = ReviewCycle.objects.create(
        project=project, week=week, status=CycleStatus.CLOSED, report={}, closed_in_time_zone="UTC"
    )
    project.time_zone = "Pacific/Auckland"
    project.save(update_fields=["time_zone"])
    windows = []

    def noted(**window):
        windows.append(window)
        return real(**window)

    real = changes.WeekWindow
    monkeypatch.setattr(changes, "WeekWindow", noted)

    recompute_closed_weeks_changes(project=project, cycles=[cycle], now=datetime(2026, 12, 7, 12, tzinfo=UTC))

    [window] = windows
    utc_midnight = datetime.combine(week, datetime.min.time(), tzinfo=UTC)
    assert window["starts"] == [utc_midnight - timedelta(weeks=n) for n in range(len(window["starts"]))]
    assert window["end"] == utc_midnight + timedelta(days=7)


def test_made_again_it_reads_the_weeks_zones_from_the_cycles_its_caller_read(project):
    """The close that restates the weeks (`cycles._restate_from_final_gold`) has read their cycle rows already: their
    zones come from those, with no query of the cycles again."""
    week = calendar.cycle_week(project, datetime(2026, 11, 18, 12, tzinfo=UTC))
    ReviewCycle.objects.create(
        project=project, week=week, status=CycleStatus.CLOSED, report={}, closed_in_time_zone="UTC"
    )
    [cycle] = ReviewCycle.objects.filter(project=project).only("pk", "week", "report", "status", "closed_in_time_zone")

    with CaptureQueriesContext(connection) as queries:
        recompute_closed_weeks_changes(project=project, cycles=[cycle], now=datetime(2026, 12, 7, 12, tzinfo=UTC))

    assert not [query["sql"] for query in queries if 'FROM "labeling_reviewcycle"' in query["sql"]]


@pytest.mark.postgres  # the weeks' tallies are kept on PostgreSQL only (`changes._week_change_rows`)
def test_made_again_in_the_zone_it_closed_in_it_keeps_the_tallies_of_the_projects_calendar(project):
    """The project moved from UTC to Auckland; the running week's refresh kept its baseline weeks' tallies, Auckland's
    weeks. A closed week made again in UTC reads UTC weeks, of another calendar: it drops none of Auckland's, which
    the running week's next refresh reads (else counted again, for nothing)."""
    closed_week = calendar.cycle_week(project, datetime(2026, 11, 18, 12, tzinfo=UTC))
    cycle = ReviewCycle.objects.create(
        project=project, week=closed_week, status=CycleStatus.CLOSED, report={}, closed_in_time_zone="UTC"
    )
    project.time_zone = "Pacific/Auckland"
    project.save(update_fields=["time_zone"])
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    changes.refresh_week_changes(project=project, week=calendar.current_week(project, now), now=now)
    aucklands = set(ChangeWeekTally.objects.filter(project=project).values_list("starts_at", flat=True))
    assert aucklands

    recompute_closed_weeks_changes(project=project, cycles=[cycle], now=now)

    kept = set(ChangeWeekTally.objects.filter(project=project).values_list("starts_at", flat=True))
    assert aucklands <= kept
