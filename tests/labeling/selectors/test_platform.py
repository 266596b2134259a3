"""The platform page's figures, read at a given moment."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from labeling.models import Project, ProjectWeek
from labeling.selectors.platform import platform_rows
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
