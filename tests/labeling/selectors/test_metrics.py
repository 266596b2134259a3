"""The week range every reader of the metric rows asks for (the dashboards and the metrics API)."""

from datetime import timedelta

import pytest

from labeling.exceptions import InvalidInput
from labeling.rules import calendar
from labeling.selectors.metrics import DEFAULT_WEEKS, MAX_WEEKS, WeekRange, week_range

pytestmark = pytest.mark.django_db


def test_the_range_defaults_to_the_weeks_up_to_the_current_one(project):
    current = calendar.current_week(project)

    assert week_range(project=project) == WeekRange(first=current - timedelta(weeks=DEFAULT_WEEKS - 1), last=current)
    last = current - timedelta(weeks=20)
    assert week_range(project=project, last=last).first == last - timedelta(weeks=DEFAULT_WEEKS - 1)
    assert week_range(project=project, first=last, last=last).weeks == 1


def test_a_range_that_ends_before_it_starts_names_both_weeks(project):
    week = calendar.week_from_label(project, "2026-W10")

    with pytest.raises(InvalidInput, match=r"`from` \(2026-W10\) is after `to` \(2026-W09\)"):
        week_range(project=project, first=week, last=week - timedelta(weeks=1))


def test_a_range_longer_than_the_limit_is_refused_and_the_limit_itself_is_not(project):
    last = calendar.current_week(project)

    assert week_range(project=project, first=last - timedelta(weeks=MAX_WEEKS - 1), last=last).weeks == MAX_WEEKS
    with pytest.raises(InvalidInput, match=f"Ask for {MAX_WEEKS} weeks at most; {MAX_WEEKS + 1} weeks"):
        week_range(project=project, first=last - timedelta(weeks=MAX_WEEKS), last=last)
