"""The cycle calendar is total: every helper answers at the ends of the accepted range and beyond, in any zone."""

import ast
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.utils import timezone as django_timezone

from labeling.exceptions import InvalidWeek
from labeling.models import Item, Queue, RetentionCell, Weekday
from labeling.rules import calendar
from labeling.selectors.rubrics import rubrics_published_in_week
from labeling.services import retention
from labeling.services.routing import route_outputs
from tests.factories import OutputFactory, ProjectFactory

# Far east and far west of UTC, with weeks that do not start on Monday.
ZONES = [
    ("Pacific/Kiritimati", Weekday.THURSDAY),
    ("Etc/GMT+12", Weekday.SUNDAY),
    ("America/Anchorage", Weekday.SATURDAY),
]
EXTREMES = [
    datetime.min.replace(tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=-14))),
    datetime.max.replace(tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1))),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=14))),
]


@pytest.fixture(params=ZONES, ids=[zone for zone, _ in ZONES])
def odd_project(request, db):
    zone, weekday = request.param
    return ProjectFactory(time_zone=zone, cycle_weekday=weekday)


def _holds(project, moment: datetime) -> date:
    """The week holding `moment`, checked: it starts on the cycle weekday and its bounds hold the moment."""
    week = calendar.cycle_week(project, moment)
    assert week.weekday() == project.cycle_weekday
    start, end = calendar.week_start(project, week), calendar.week_end(project, week)
    assert start <= moment < end
    assert end - start in {timedelta(days=7), timedelta(days=7, hours=1), timedelta(days=7, hours=-1)}  # DST
    return week


def test_every_helper_answers_at_both_ends_of_the_accepted_range(odd_project):
    now = django_timezone.now()
    earliest, latest = calendar.accepted_range(now)

    for moment in (earliest, earliest + timedelta(hours=13), latest, latest - timedelta(hours=13), now):
        week = _holds(odd_project, moment)
        assert calendar.week_start(odd_project, week).astimezone(UTC) <= moment
        assert calendar.week_end(odd_project, week).astimezone(UTC) > moment
    assert calendar.current_week(odd_project, latest) >= calendar.current_week(odd_project, now)


@pytest.mark.parametrize("moment", EXTREMES, ids=lambda moment: moment.isoformat())
def test_beyond_the_range_a_moment_falls_in_the_first_or_last_week_the_calendar_holds(odd_project, moment):
    week = calendar.cycle_week(odd_project, moment)

    expected = calendar.first_week(odd_project) if moment.year == 1 else calendar.last_week(odd_project)
    assert week == expected and week.weekday() == odd_project.cycle_weekday
    # Its bounds exist in UTC and in the project's zone: queries and pages can use them.
    for bound in (calendar.week_start(odd_project, week), calendar.week_end(odd_project, week)):
        assert bound.astimezone(UTC).astimezone(odd_project.tzinfo) == bound


@pytest.mark.parametrize("day", [date.min, date(1, 1, 3), date(9999, 12, 25), date.max])
def test_week_start_and_end_of_any_date_convert_to_utc(odd_project, day):
    start, end = calendar.week_start(odd_project, day), calendar.week_end(odd_project, day)

    assert start.astimezone(UTC) < end.astimezone(UTC)


@pytest.mark.parametrize("day", [date.min, date(1, 1, 3), date(9999, 12, 25), date.max])
def test_a_weeks_span_at_the_calendars_ends_reads_no_week_beyond_them(odd_project, day):
    """`week_span` (and the rubric versions a week tells, which read its cycles) looks at the weeks beside the week:
    the calendar holds none before its first week or after its last, so it answers the week's own bounds there, not an
    OverflowError."""
    assert calendar.week_span(odd_project, day, cycles={}) == (
        calendar.week_start(odd_project, day),
        calendar.week_end(odd_project, day),
    )
    for week in (calendar.first_week(odd_project), calendar.last_week(odd_project)):
        assert rubrics_published_in_week(odd_project, week, cycle=None) == []


def test_the_calendar_is_defined_once():
    """No other module of the app defines its own week helper: they all ask `labeling.rules.calendar`."""
    helpers = {"cycle_week", "current_week", "week_start", "week_end", "week_function", "week_from_label"}
    root = Path(__file__).resolve().parents[3]
    homes = {
        (path.relative_to(root).as_posix(), node.name)
        for package in ("labeling", "api", "expertloop")
        for path in (root / package).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name in helpers
    }
    assert homes == {("labeling/rules/calendar.py", name) for name in helpers}


def test_outputs_stored_before_the_range_existed_route_without_error(odd_project):
    """Rows written before ingest had a range (year 1, year 9999) land in the calendar's first and last weeks."""
    Queue.objects.create(project=odd_project, slug="all", name="All")
    # What could be stored: ingest converted to UTC, so a moment without a UTC form was a 500, not a row.
    stored = [moment for moment in EXTREMES if moment.utcoffset() == timedelta(0)] + [
        datetime(1, 1, 1, 5, tzinfo=UTC),
        datetime(9999, 12, 31, 20, tzinfo=UTC),
    ]
    outputs = [OutputFactory(project=odd_project, occurred_at=moment) for moment in stored]

    made = route_outputs(project_id=odd_project.pk, output_ids=[output.pk for output in outputs])

    assert made == len(stored)
    weeks = set(Item.objects.values_list("week", flat=True))
    assert weeks == {calendar.first_week(odd_project), calendar.last_week(odd_project)}


@pytest.mark.postgres
def test_retention_leaves_out_activity_from_the_calendars_first_days(odd_project):
    """Year-1 activity west of UTC falls before any cycle week: it is left out, not a hang or an overflow."""
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    OutputFactory(project=odd_project, end_user_id="u-legacy", occurred_at=datetime.min.replace(tzinfo=UTC))
    OutputFactory(project=odd_project, end_user_id="u-now", occurred_at=now - timedelta(days=1))

    assert retention.refresh_retention(project=odd_project, now=now) > 0
    assert set(RetentionCell.objects.values_list("cohort_week", flat=True)) == {calendar.cycle_week(odd_project, now)}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("last week", "is not a week or a day: write an ISO week, e.g. 2026-W48, or a date, e.g. 2026-11-26."),
        ("2026-W60", "is not a week: 2026 has no week 60."),
        ("0001-W01", "is out of range: weeks run from 1970-W01 to 2199-W52."),
        ("2026-02-30", "is not a day of the calendar: the date does not exist."),
    ],
)
def test_a_refused_week_says_what_is_wrong_apart_from_the_text_it_quotes(db, text, reason):
    """A page that names the text its own way ("`from` (2026-W60) is not a week: …") reads `reason`, and never parses
    the message; the message (the API's) is the text, as written, then the reason."""
    with pytest.raises(InvalidWeek) as refused:
        calendar.week_of_label_or_day(ProjectFactory(), text)
    assert refused.value.reason == reason
    assert refused.value.message in (f"{text!r} {reason}", f"{text} {reason}")  # a day that does not exist: unquoted
