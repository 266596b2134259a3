"""The test clock: a fixture that moves `timezone.now` moves every clock the tests' objects are made with."""

from datetime import UTC, datetime

from labeling.rules.calendar import current_week, cycle_week
from tests.factories import OutputFactory


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
