"""The cycle calendar every layer shares: which cycle week a moment falls in, when a week starts and ends,
and the range of timestamps ingest accepts.

A project's weeks start on its cycle weekday, at midnight in its time zone. Every helper here is total:
it answers for any date and any aware datetime Python can hold, never with an OverflowError. Ingest only
accepts timestamps in `accepted_range()`, but rows stored before that rule existed may hold year 1 or
9999, and week labels such as 0001-W01 come from URLs: at the edges of the calendar, where a week's
start or end (in the project's zone or in UTC) is not representable, a helper answers with the first
or last cycle week whose bounds are representable.

Imports only models and the standard library (the floor of the layer graph in DESIGN.md).
"""

import re
import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, tzinfo

from django.conf import settings
from django.utils import timezone

from labeling.exceptions import InvalidWeek
from labeling.models import Project, ReviewCycle
from labeling.models.projects import known_zone

# A day of margin at each end: a zone's offset is under a day, so a week starting on or after
# FIRST_DAY and ending on or before LAST_DAY converts to UTC and back without leaving the calendar.
FIRST_DAY = date(1, 1, 2)
LAST_DAY = date(9999, 12, 30)
_FIRST, _LAST = FIRST_DAY.toordinal(), LAST_DAY.toordinal()

# Weeks a URL or a client may name: every helper stays inside the dates Python can represent around them.
WEEK_LABEL = re.compile(r"(\d{4})-W(\d{2})", re.ASCII)
WEEK_YEARS = range(1970, 2200)
# The labels week_from_label takes, for the API schema: WEEK_LABEL within WEEK_YEARS, weeks 01 to 53 (a 53rd week in a
# year that has none still passes the pattern and is refused, naming the year).
WEEK_LABEL_PATTERN = r"^(19[7-9]\d|2[01]\d\d)-W(0[1-9]|[1-4]\d|5[0-3])$"


def accepted_range(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The earliest and latest timestamps ingest accepts: INGEST_EARLIEST_TIMESTAMP, now + INGEST_MAX_FUTURE_SECONDS."""
    now = now or timezone.now()
    return settings.INGEST_EARLIEST_TIMESTAMP, now + timedelta(seconds=settings.INGEST_MAX_FUTURE_SECONDS)


def earliest_label_on_week(project: Project, week: date) -> datetime:
    """The earliest a label on one of the week's items can have been saved, to bound a search by `created_at`.

    An item is placed in the week its output occurred in, and ingest takes outputs dated up to
    INGEST_MAX_FUTURE_SECONDS ahead (hand-picked ones go into the running week): so an item of the week exists from
    the week's start less that. Two more days for a time zone changed since (the running week's start moves by the
    difference of the offsets, under 27 hours).
    """
    return week_start(project, week) - timedelta(seconds=settings.INGEST_MAX_FUTURE_SECONDS, days=2)


def first_week(project: Project) -> date:
    """The first cycle week the calendar can hold for the project (its start is on or after FIRST_DAY)."""
    return date.fromordinal(_FIRST + (project.cycle_weekday - FIRST_DAY.weekday()) % 7)


def last_week(project: Project) -> date:
    """The last cycle week the calendar can hold for the project (it ends on or before LAST_DAY)."""
    end = LAST_DAY.toordinal() - (LAST_DAY.weekday() - project.cycle_weekday) % 7
    return date.fromordinal(end - 7)


def week_function(project: Project) -> Callable[[datetime], date]:
    """Return `cycle_week` for one project, without its per-call lookups (for many rows)."""
    tz, weekday = project.tzinfo, project.cycle_weekday
    first, last = first_week(project).toordinal(), last_week(project).toordinal()

    def week_of(moment: datetime) -> date:
        try:
            day = moment.astimezone(tz).date().toordinal()
        except OverflowError:  # within a day of year 1 or 9999: the local date does not exist
            day = _FIRST if moment.year < 5000 else _LAST
        start = day - (date.fromordinal(day).weekday() - weekday) % 7
        return date.fromordinal(min(max(start, first), last))

    return week_of


def cycle_week(project: Project, moment: datetime) -> date:
    """First day of the project's cycle week holding `moment`, in the project's time zone."""
    return week_function(project)(moment)


def created_week(project: Project) -> date:
    """The cycle week the project was created in: its first week, read in its time zone now. Beat closes no week
    before it (`rules.weekly_close.left_to_a_lead`)."""
    return cycle_week(project, project.created_at)


def local_today(project: Project, now: datetime | None = None) -> date:
    """The project's date now, in its time zone (UTC's may still be yesterday, or already tomorrow)."""
    return timezone.localtime(now or timezone.now(), project.tzinfo).date()


def current_week(project: Project, now: datetime | None = None) -> date:
    """First day of the project's running cycle week."""
    return cycle_week(project, now or timezone.now())


def _clamped(project: Project, week: date) -> date:
    return min(max(week, first_week(project)), last_week(project))


def day_start(project: Project, day: date) -> datetime:
    """The moment a day begins in the project's time zone (a filter's "from" day, or the day after its "to")."""
    return datetime.combine(day, time.min, tzinfo=project.tzinfo)


def week_start(project: Project, week: date, *, zone: tzinfo | None = None) -> datetime:
    """The moment the cycle week (its first day) begins, in the project's time zone (or `zone`: a closed week's
    `week_zone`)."""
    return datetime.combine(_clamped(project, week), time.min, tzinfo=zone or project.tzinfo)


def week_end(project: Project, week: date, *, zone: tzinfo | None = None) -> datetime:
    """The moment the cycle week is over: the start of the next one, in the project's time zone (or `zone`)."""
    return datetime.combine(_clamped(project, week) + timedelta(days=7), time.min, tzinfo=zone or project.tzinfo)


def week_zone(project: Project, cycle: ReviewCycle | None) -> zoneinfo.ZoneInfo:
    """The zone a week's dates and times are read in, on its meeting page and in its report: a closed week's is the
    one it was closed in (the zone whose calendar drew its dates, frozen in its report, even after the project moves);
    any other week's, or one closed before the zone was kept, is the project's."""
    closed_in = known_zone(cycle.closed_in_time_zone) if cycle is not None and cycle.is_closed else None
    return closed_in or project.tzinfo  # or a zone since dropped from tzdata: the project's, as Project.tzinfo


def span_weeks(project: Project, week: date) -> tuple[date | None, date, date | None]:
    """The weeks `week_span` reads the cycles of: the week before the (clamped) week, the week, the week after; None
    for one beyond the calendar's first or last week, which holds no cycle (and may be no date at all)."""
    week = _clamped(project, week)
    before = week - timedelta(days=7) if week >= first_week(project) + timedelta(days=7) else None
    after = week + timedelta(days=7) if week <= last_week(project) - timedelta(days=7) else None
    return before, week, after


def week_span(project: Project, week: date, *, cycles: dict[date, ReviewCycle]) -> tuple[datetime, datetime]:
    """The moments the cycle week spans, for what a week tells once (a rubric version published in it). `cycles`: the
    week's and the weeks' beside it, by week (any may be missing). A week starts where a closed week before it ends,
    whatever its own status, else at its own start in its `week_zone`; it ends where the week after it starts by the
    same rule, so a closed week keeps its own end. After a zone move, weeks drawn in two zones would otherwise overlap
    or leave a gap at their seam, telling a moment in two weeks or in none: each seam is the closed week's before it."""
    before, cycle, after = (cycles.get(each) if each is not None else None for each in span_weeks(project, week))
    start_zone = week_zone(project, before if before is not None and before.is_closed else cycle)
    end_zone = week_zone(project, cycle if cycle is not None and cycle.is_closed else after)
    return week_start(project, week, zone=start_zone), week_end(project, week, zone=end_zone)


def week_from_label(project: Project, label: str) -> date:
    """The project's cycle week that starts in the ISO week `label` ("2026-W48").

    Raise InvalidWeek for a malformed label and for a year outside WEEK_YEARS: every calendar helper
    (time zones, a range of weeks either side) must stay inside the dates Python can represent.
    """
    match = WEEK_LABEL.fullmatch(label or "")
    if not match:
        raise _invalid(label, "is not a week: write it as an ISO week, e.g. 2026-W48.")
    year, number = int(match[1]), int(match[2])
    if year not in WEEK_YEARS:
        raise _invalid(label, f"is out of range: weeks run from {WEEK_YEARS.start}-W01 to {WEEK_YEARS.stop - 1}-W52.")
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError:
        raise _invalid(label, f"is not a week: {year} has no week {number}.") from None
    return monday + timedelta(days=project.cycle_weekday)


_WRITTEN_AS_A_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# WEEK_LABEL_PATTERN, or a day YYYY-MM-DD (week_of_label_or_day reads it), for the API schema.
WEEK_OR_DAY_PATTERN = rf"{WEEK_LABEL_PATTERN}|^\d{{4}}-\d{{2}}-\d{{2}}$"


def week_of_label_or_day(project: Project, text: str) -> date:
    """The project's cycle week named by an ISO week label ("2026-W48", `week_from_label`) or holding a day
    ("2026-11-26", in the project's calendar: the week starting on its weekday on or before that day).

    Raise InvalidWeek for anything else, for a day that does not exist and for a year outside WEEK_YEARS."""
    text = text or ""
    if not _WRITTEN_AS_A_DAY.fullmatch(text):
        if WEEK_LABEL.fullmatch(text):
            return week_from_label(project, text)
        raise _invalid(text, "is not a week or a day: write an ISO week, e.g. 2026-W48, or a date, e.g. 2026-11-26.")
    if no_such_day(text):
        raise InvalidWeek(f"{text} {NO_SUCH_DAY}", reason=NO_SUCH_DAY)
    day = date.fromisoformat(text)
    if day.year not in WEEK_YEARS:
        raise _invalid(text, f"is out of range: days run from {WEEK_YEARS.start}-01-01 to {WEEK_YEARS.stop - 1}-12-31.")
    return cycle_week(project, day_start(project, day))  # the one rule of which week holds a moment


def _invalid(text: str, reason: str) -> InvalidWeek:
    """The refusal of `text` (quoted, as written) for `reason`, which a page may name beside its own quoting."""
    return InvalidWeek(f"{text!r} {reason}", reason=reason)


NO_SUCH_DAY = "is not a day of the calendar: the date does not exist."


def no_such_day(text: str) -> str | None:
    """What is wrong with text written as YYYY-MM-DD that names no day (2026-13-45, 2026-02-30); None for a real day
    or for text of another format (which the date field's own message covers)."""
    text = text.strip()
    if not _WRITTEN_AS_A_DAY.fullmatch(text):
        return None
    try:
        date.fromisoformat(text)
    except ValueError:
        return f"{text} {NO_SUCH_DAY}"
    return None
