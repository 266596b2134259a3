"""The platform page's figures, read at a given moment."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from labeling.models import Project, ProjectWeek
from labeling.selectors.platform import platform_rows, usage_range, usage_rows
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("zone", "week", "hours"),
    [("America/New_York", date(2026, 10, 26), 169), ("Europe/Berlin", date(2026, 3, 23), 167)],
)
def test_the_running_weeks_change_counts_the_share_of_its_real_hours_gone_by(zone, week, hours):
    """A week with a clock change has 169 or 167 hours. At the pace of the weeks before (100 outputs an hour), it
    ends with 100 more or fewer outputs than they had: an hour before its end, its change already says so (the share
    of the week gone by is 168/169, not 168/168), instead of 0 % until the week is over."""
    project = ProjectFactory(time_zone=zone)
    Project.objects.filter(pk=project.pk).update(created_at=datetime(2026, 1, 1, tzinfo=UTC))
    now = timezone.now()
    for back in range(1, 5):
        ProjectWeek.objects.create(project=project, week=week - timedelta(weeks=back), outputs=16800, computed_at=now)
    ProjectWeek.objects.create(project=project, week=week, outputs=(hours - 1) * 100, computed_at=now)
    ends = datetime.combine(week + timedelta(days=7), datetime.min.time(), tzinfo=project.tzinfo)

    [row] = platform_rows(now=ends.astimezone(UTC) - timedelta(hours=1))

    assert row.this_week.week == week
    assert row.this_week.change == pytest.approx(hours / 168 - 1)


@pytest.mark.parametrize("only_auckland", [False, True])
def test_the_default_usage_range_holds_the_running_week_of_a_zone_already_in_monday(only_auckland):
    """Monday 08:00 in Auckland is still Sunday 19:00 in UTC: the default range ends on the Auckland project's
    today (Monday), so its running week is shown, not missing until UTC's midnight. Shown alone, a project's range
    ends on its own today; a UTC project's range ends on Sunday."""
    now = datetime(2026, 12, 6, 19, 0, tzinfo=UTC)  # Monday 7 Dec 2026, 08:00 NZDT
    auckland = ProjectFactory(time_zone="Pacific/Auckland", cycle_weekday=0)
    utc = ProjectFactory(time_zone="UTC", cycle_weekday=0)
    running = date(2026, 12, 7)
    ProjectWeek.objects.create(project=auckland, week=running, outputs=5, computed_at=now)

    since, until = usage_range(since=None, until=None, now=now, project=auckland if only_auckland else None)

    assert until == running
    assert [(row.project, row.week) for row in usage_rows(since=since, until=until)][0] == (auckland, running)
    assert usage_range(since=None, until=None, now=now, project=utc)[1] == date(2026, 12, 6)
