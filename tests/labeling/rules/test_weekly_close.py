"""Where a project's weekly close stands, as the home page shows a lead and the platform page an operator: the last
ended week closed, closing, failed or overdue (the last two stand out), or nothing to close yet."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from labeling.models import CycleStatus, Project, ReviewCycle
from labeling.rules.calendar import created_week, cycle_week, week_end
from labeling.rules.weekly_close import (
    OVERDUE_AFTER,
    CloseState,
    beat_closes,
    beat_leaves_open_before,
    close_due_at,
    close_status,
    ended_before_the_project,
    last_due_week,
    left_to_a_lead,
    weeks_to_read,
)
from labeling.selectors.platform import platform_rows
from labeling.services.cycles import due_weeks
from tests.factories import ProjectFactory

UTC = ZoneInfo("UTC")
RUNNING = date(2026, 11, 23)  # a Monday
ENDED = date(2026, 11, 16)
DUE = datetime(2026, 11, 23, tzinfo=UTC)  # the ended week is over (no grace)
OLD_PROJECT = Project(slug="p", time_zone="UTC", cycle_weekday=0, created_at=datetime(2026, 1, 1, tzinfo=UTC))


def cycle(week: date, **fields) -> ReviewCycle:
    return ReviewCycle(project=OLD_PROJECT, week=week, **fields)


def test_it_reads_the_running_week_and_the_one_before():
    assert weeks_to_read(OLD_PROJECT, DUE + timedelta(hours=5)) == (RUNNING, ENDED)


@pytest.mark.parametrize(
    "cycles, after_due, state, stands_out",
    [
        ({ENDED: cycle(ENDED, status=CycleStatus.CLOSED)}, timedelta(days=2), CloseState.CLOSED, False),
        ({}, timedelta(minutes=5), CloseState.CLOSING, False),
        ({ENDED: cycle(ENDED)}, OVERDUE_AFTER - timedelta(minutes=1), CloseState.CLOSING, False),
        ({ENDED: cycle(ENDED)}, OVERDUE_AFTER, CloseState.OVERDUE, True),
        ({}, timedelta(days=3), CloseState.OVERDUE, True),
        ({ENDED: cycle(ENDED, failure_kind="close")}, timedelta(minutes=5), CloseState.FAILED, True),
        # A failed refresh of the figures is not a failed close.
        ({ENDED: cycle(ENDED, failure_kind="refresh")}, timedelta(minutes=5), CloseState.CLOSING, False),
    ],
)
def test_the_state_of_the_last_ended_week(cycles, after_due, state, stands_out):
    status = close_status(OLD_PROJECT, cycles, DUE + after_due)

    assert (status.state, status.stands_out) == (state, stands_out)
    assert (status.week, status.due_at, status.running_due_at) == (ENDED, DUE, DUE + timedelta(days=7))


def test_a_failed_close_carries_its_error_and_time():
    failed_at = DUE + timedelta(minutes=3)
    failed = cycle(ENDED, failure_kind="close", last_error="OperationalError: timeout", failed_at=failed_at)

    status = close_status(OLD_PROJECT, {ENDED: failed}, DUE + timedelta(minutes=5))

    assert (status.error, status.failed_at) == ("OperationalError: timeout", failed_at)
    assert status.severity > close_status(OLD_PROJECT, {}, DUE + timedelta(days=1)).severity  # failed before overdue


def test_the_grace_hours_delay_when_a_week_is_due(settings):
    settings.CYCLE_CLOSE_GRACE_HOURS = 6

    status = close_status(OLD_PROJECT, {}, DUE + timedelta(hours=6) + OVERDUE_AFTER - timedelta(minutes=1))

    assert status.state == CloseState.CLOSING and status.due_at == DUE + timedelta(hours=6)


def test_a_project_created_in_the_running_week_has_nothing_to_close_yet():
    new = Project(slug="n", time_zone="UTC", cycle_weekday=0, created_at=DUE + timedelta(hours=1))

    assert close_status(new, {}, DUE + timedelta(days=2)).state == CloseState.NEW


def test_weeks_follow_the_projects_time_zone_and_weekday():
    tokyo = Project(slug="t", time_zone="Asia/Tokyo", cycle_weekday=2, created_at=OLD_PROJECT.created_at)
    # Tuesday 16:00 UTC is Wednesday 01:00 in Tokyo: its Wednesday week has begun.
    running, ended = weeks_to_read(tokyo, datetime(2026, 11, 24, 16, tzinfo=UTC))

    assert (running, ended) == (date(2026, 11, 25), date(2026, 11, 18))


def test_a_failed_close_of_an_older_open_week_shows_though_the_last_week_closed():
    """Only the last ended week was read: a week whose close failed stayed failed, unseen, once the next one closed.
    Every still-open week with a failed close counts, the oldest first (the one to fix first)."""
    older, oldest = ENDED - timedelta(days=7), ENDED - timedelta(days=14)
    failed_at = DUE - timedelta(days=6)
    cycles = {
        ENDED: cycle(ENDED, status=CycleStatus.CLOSED),
        older: cycle(older, failure_kind="close", last_error="later failure", failed_at=DUE),
        oldest: cycle(oldest, failure_kind="close", last_error="disk full", failed_at=failed_at),
        RUNNING: cycle(RUNNING, failure_kind="close", last_error="not over: ignored"),
    }

    status = close_status(OLD_PROJECT, cycles, DUE + timedelta(days=2))

    assert (status.state, status.stands_out, status.week) == (CloseState.FAILED, True, oldest)
    assert (status.error, status.failed_at, status.failed_weeks) == ("disk full", failed_at, 2)
    assert status.due_at == datetime(2026, 11, 9, tzinfo=UTC)  # the end of that week


def test_a_closed_older_week_with_a_stale_failure_is_not_failed():
    stale = cycle(ENDED - timedelta(days=7), status=CycleStatus.CLOSED, failure_kind="close", last_error="old")

    status = close_status(OLD_PROJECT, {ENDED - timedelta(days=7): stale}, DUE + timedelta(minutes=5))

    assert status.state == CloseState.CLOSING


# Berlin changes its clocks at 02:00 on a Sunday: a week that ends at Sunday midnight with a grace of 4 hours has the
# change inside its grace, forward an hour on 2026-03-29 and back an hour on 2026-10-25.
@pytest.mark.django_db
@pytest.mark.parametrize("week", [date(2026, 3, 22), date(2026, 10, 18)], ids=["clocks-forward", "clocks-back"])
def test_the_page_and_beat_agree_on_when_a_week_is_due_across_a_clock_change(settings, week):
    """The grace is elapsed time after the week's end: the page said "due" an hour before beat closed the week (or an
    hour after), and turned it overdue when beat had only just started on it."""
    settings.CYCLE_CLOSE_GRACE_HOURS = 4
    project = ProjectFactory(time_zone="Europe/Berlin", cycle_weekday=6)
    Project.objects.filter(pk=project.pk).update(created_at=datetime(2026, 1, 1, tzinfo=UTC))
    project.refresh_from_db()
    due = week_end(project, week).astimezone(UTC) + timedelta(hours=4)

    for now, is_due in [(due - timedelta(minutes=1), False), (due, True), (due + timedelta(minutes=1), True)]:
        (row,) = platform_rows(now=now)  # what the platform page shows (the home page reads the same status)
        beat_closes_it = (project.pk, week) in due_weeks(now)
        assert (row.close.week, row.close.due_at) == (week, due), now
        assert (row.close.due_at <= now, beat_closes_it) == (is_due, is_due), now
    assert close_status(project, {}, due + OVERDUE_AFTER - timedelta(minutes=1)).state == CloseState.CLOSING
    assert close_status(project, {}, due + OVERDUE_AFTER).state == CloseState.OVERDUE


@pytest.mark.parametrize(
    ("week", "failed", "closes"),
    [
        (date(2026, 10, 26), False, False),  # before the project: never beat's
        (date(2026, 11, 2), False, False),  # between its first week and the latest closed one: a lead's to close
        (date(2026, 11, 2), True, True),  # the same, its close failed: retried whichever week closed after it
        (date(2026, 11, 16), False, True),  # after the latest closed one, due
        (date(2026, 11, 23), False, True),  # not due yet: beat's once it is
    ],
)
def test_beat_closes_the_weeks_after_the_latest_closed_one_and_retries_any_failed_close(week, failed, closes):
    """The one answer `due_weeks` and the meeting page and dashboard read ("the weekly close will not close it")."""
    facts = {"created": date(2026, 11, 2), "last_due": ENDED, "latest_closed": date(2026, 11, 9)}
    assert beat_closes(week, failed=failed, **facts) is closes


@pytest.mark.parametrize(
    "latest_closed",
    [None, date(2026, 10, 19), date(2026, 11, 2), date(2026, 11, 9), ENDED],
    ids=["never", "before-the-project", "first-week", "behind-the-ended", "the-ended"],
)
# Within the grace the ended week is not due yet, though a lead may have closed it already.
@pytest.mark.parametrize("last_due", [ENDED, ENDED - timedelta(days=7)], ids=["due", "within-grace"])
def test_every_week_beat_leaves_open_is_before_the_bound_the_home_page_reads_below(latest_closed, last_due):
    """`selectors.left_open` looks for the weeks left to a lead only below `beat_leaves_open_before`: none is past it,
    and those below it that beat closes are only the ones whose failed close it retries."""
    facts = {"created": date(2026, 11, 2), "last_due": last_due, "latest_closed": latest_closed}
    bound = beat_leaves_open_before(**facts)
    for week in (date(2026, 9, 7) + timedelta(days=7 * n) for n in range(16)):
        if not beat_closes(week, failed=True, **facts) or not beat_closes(week, failed=False, **facts):
            assert week < bound, week
        elif week < bound:  # beat's whatever its close did: only the latest closed week, which no reader counts
            assert week == latest_closed, week


# Zones whose clocks change at or near midnight (Santiago, Havana, São Paulo, Tehran, Asunción), by half or quarter
# hours (Lord Howe, Chatham, Kathmandu, Kolkata), that skipped a day (Apia), and that went back across midnight, 00:01
# to 23:01 (St John's and Goose Bay, before 2011).
ZONES = [
    "UTC", "Europe/London", "Europe/Berlin", "America/New_York", "America/Santiago", "America/Havana",
    "America/Sao_Paulo", "America/Asuncion", "Asia/Tehran", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe",
    "Pacific/Chatham", "Pacific/Apia", "America/St_Johns", "America/Goose_Bay",
]  # fmt: skip
# Creation moments around the midnight a week ends at: just before, at it, within an hour after (a clock sent back
# repeats that hour), and well after.
NEAR_THE_END = [
    timedelta(microseconds=-1),
    timedelta(0),
    timedelta(minutes=1),
    timedelta(minutes=30),
    timedelta(hours=1),
]
AROUND_A_CHANGE = [*NEAR_THE_END, timedelta(minutes=59), timedelta(minutes=61), timedelta(hours=3), timedelta(days=2)]


def moments_week_ends_are_read_at(zone: ZoneInfo, day: date) -> list[timedelta]:
    """Every step around a clock change within a day of `day`'s midnight; a few on every tenth other day."""
    noon = datetime.combine(day, datetime.min.time(), tzinfo=zone) + timedelta(hours=12)
    if (noon - timedelta(days=2)).utcoffset() != (noon + timedelta(days=1)).utcoffset():
        return AROUND_A_CHANGE
    return NEAR_THE_END if day.toordinal() % 10 == 0 else []  # every weekday in turn


def test_ended_before_the_project_is_the_created_week_rule_and_the_moment_reading_but_where_midnight_came_twice():
    """`ended_before_the_project` is `left_to_a_lead` of the created week. Over 31 years of weeks, in every weekday's
    calendar and zones with odd clock changes, it agrees with the reading of the creation moment against the week's
    end, but for a project created in the hour after a midnight that came twice (the clock sent back across it):
    there, by the calendar (`cycle_week`), the creation is in the week that had just ended."""
    differ = []
    for name in ZONES:
        zone = ZoneInfo(name)
        projects = [Project(slug="p", time_zone=name, cycle_weekday=weekday) for weekday in range(7)]
        day = date(2000, 1, 3)
        while day < date(2031, 1, 1):
            project, week = projects[day.weekday()], day - timedelta(days=7)  # the week ending at `day`'s midnight
            steps = moments_week_ends_are_read_at(zone, day)
            end = week_end(project, week).astimezone(UTC) if steps else None  # steps in elapsed time
            for step in steps:
                project.created_at = end + step
                one_rule = ended_before_the_project(project, week)
                assert one_rule is left_to_a_lead(week, created=cycle_week(project, project.created_at))
                if one_rule is not (project.created_at >= end):
                    differ.append((name, day, step))
            day += timedelta(days=1)

    assert {(name, day.year) for name, day, _ in differ} == {
        (name, year) for name in ("America/St_Johns", "America/Goose_Bay") for year in range(2000, 2011)
    }
    for name, day, step in differ:  # each within the hour after a midnight that came twice: its clock went back
        midnight = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(name)).astimezone(UTC)
        assert timedelta(0) < step <= timedelta(hours=1), (name, day, step)
        assert (midnight + step).astimezone(ZoneInfo(name)).date() < day, (name, day, step)


def test_a_project_created_in_the_hour_after_a_midnight_that_came_twice_has_the_week_beat_closes_to_close(settings):
    """St John's, 1 November 2009: at 00:01 the clocks went back to 23:01 on Saturday. Created at 23:30 the second
    time, the project's Sunday week is the one that ended at midnight: the home page says beat is closing it, as beat
    does, not that there is nothing to close yet."""
    zone = ZoneInfo("America/St_Johns")
    created = datetime(2009, 10, 31, 23, 30, fold=1, tzinfo=zone).astimezone(UTC)
    project = Project(slug="s", time_zone="America/St_Johns", cycle_weekday=6, created_at=created)
    week = date(2009, 10, 25)
    assert created >= week_end(project, week) and cycle_week(project, created) == week
    settings.CYCLE_CLOSE_GRACE_HOURS = 2  # due past the repeated hour: read then, the running week is the next one
    now = close_due_at(project, week) + timedelta(minutes=1)

    status = close_status(project, {}, now)

    assert (status.state, status.week) == (CloseState.CLOSING, week)
    assert beat_closes(week, created=created_week(project), last_due=last_due_week(project, now), latest_closed=None,
                       failed=False)  # fmt: skip
