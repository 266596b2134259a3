"""`clear_of_week_start` (tests/conftest.py) keeps the clock a day from the week start of every project a test has,
whatever its zone, and refuses one it did not know of.

The wall clock is pinned here, before the fixture moves it, to a moment that is a day into the UTC project's week but
not yet a day into New York's (its weeks start at 05:00 UTC): a clock kept clear of `project` alone stayed there.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from labeling.models import Project
from labeling.rules.calendar import current_week, cycle_week
from tests.factories import OutputFactory, ProjectFactory
from tests.helpers.clock import assert_clock_covers_every_project, clear_of_week_starts

pytestmark = pytest.mark.django_db

TUESDAY_2_UTC = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)


@pytest.fixture
def wall_clock(monkeypatch):
    """The wall clock at Tuesday 02:00 UTC, running."""
    wall = timezone.now
    offset = TUESDAY_2_UTC - wall()
    monkeypatch.setattr("django.utils.timezone.now", lambda: wall() + offset)


@pytest.fixture
def other_project(db):
    return ProjectFactory(slug="sql-assistant", name="SQL assistant", time_zone="America/New_York")


def test_the_clock_is_a_day_from_the_week_start_of_the_other_project_in_its_own_zone(
    wall_clock, project, clear_of_week_start, other_project
):
    now = timezone.now()

    assert clear_of_week_starts(now, [project, other_project])
    assert current_week(other_project, now) == current_week(other_project, now + timedelta(hours=23))


def test_a_project_moved_to_another_zone_after_the_clock_was_set_is_refused(project):
    covered = [project]
    ProjectFactory(slug="faq-bot")  # UTC too: covered
    assert_clock_covers_every_project(covered, by="the test")

    Project.objects.filter(pk=project.pk).update(time_zone="America/Los_Angeles")

    with pytest.raises(AssertionError, match="support-bot.*America/Los_Angeles"):
        assert_clock_covers_every_project(covered, by="the test")


def test_outputs_made_on_a_weeks_last_day_fall_in_the_week_the_moved_clock_reads(project, monkeypatch, request):
    """On the last day of a week clear_of_week_start moves the clock two days on; an output the factory makes must be
    of the week the pages then read (the factory held the real clock: every week's last day failed these tests)."""
    last_day = datetime(2026, 12, 13, 12, tzinfo=UTC)  # a Sunday noon: the project's weeks start on Mondays
    monkeypatch.setattr("django.utils.timezone.now", lambda: last_day)
    request.getfixturevalue("clear_of_week_start")

    output = OutputFactory(project=project)

    assert current_week(project) != cycle_week(project, last_day)  # moved on, into the next week
    assert cycle_week(project, output.occurred_at) == current_week(project)
    assert cycle_week(project, output.received_at) == current_week(project)
