"""Where a project's weekly close stands, as a lead or an operator reads it at a glance: the week that ended last
is closed, being closed, failed or overdue (or the project is too young to have one). A failed close of any week
still open comes first, the oldest of them: an older week's failure does not go away when a later week closes, and
it is the one a lead fixes first.

Beat closes a project's weeks once each is over plus CYCLE_CLOSE_GRACE_HOURS of elapsed time (`close_due_at`, which
`services.cycles.due_weeks` reads through `last_due_week`, the oldest missed week first), looking every
CYCLE_SWEEP_SECONDS; a close takes minutes. A week still not closed OVERDUE_AFTER past that is overdue: nothing is
closing it (no worker, no beat), and someone should look. The home page and the platform page both read it from here;
the `close_overdue` alert waits longer (ALERT_CLOSE_OVERDUE_HOURS after the same moment) before it tells anyone.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db.models import Q

from labeling.models import CycleStatus, Project, ReviewCycle

from .calendar import created_week, current_week, week_end

OVERDUE_AFTER = timedelta(hours=1)


class CloseState(StrEnum):
    CLOSED = "closed"  # the last ended week is closed: the running week runs
    NEW = "new"  # the project did not exist when the last week ended: nothing to close yet
    CLOSING = "closing"  # the week ended and is due: beat closes it within minutes
    FAILED = "failed"  # a close failed, of this week or an older one still open (retried with backoff, or closed
    # by hand from the meeting page)
    OVERDUE = "overdue"  # due for longer than OVERDUE_AFTER and still not closed


# How much a state needs attention, for sorting by it (descending puts trouble first).
SEVERITY = {CloseState.FAILED: 4, CloseState.OVERDUE: 3, CloseState.CLOSING: 1, CloseState.CLOSED: 0}


@dataclass(frozen=True)
class CloseStatus:
    state: CloseState
    week: date  # the week the state is about: the oldest failed one, else the week that ended last (NEW: the running)
    due_at: datetime  # when that week is (or was) due to close
    running_due_at: datetime  # when the running week will be
    error: str = ""  # a failed close's recorded error
    failed_at: datetime | None = None
    failed_weeks: int = 0  # still-open weeks whose close failed, that one included

    @property
    def stands_out(self) -> bool:
        return self.state in (CloseState.FAILED, CloseState.OVERDUE)

    @property
    def severity(self) -> int | None:
        return SEVERITY.get(self.state)


# The cycles `close_status` reads besides those of `weeks_to_read`: still open with a failed close, whatever the week.
FAILED_CLOSE = Q(status=CycleStatus.OPEN, failure_kind="close")
CYCLE_FIELDS = ("project_id", "week", "status", "failure_kind", "last_error", "failed_at")


def retry_overdue(next_attempt_at: datetime | None, now: datetime) -> bool:
    """Whether a failed close's (or refresh's) automatic retry is overdue: its moment passed OVERDUE_AFTER ago, longer
    than a sweep and a close take, and the failure still stands, so nothing is retrying it (no worker, no beat)."""
    return next_attempt_at is not None and overdue(next_attempt_at, now)


def overdue(moment: datetime, now: datetime) -> bool:
    """Whether what was to happen at `moment` (a close due, a retry) is OVERDUE_AFTER late: nothing is doing it."""
    return now >= moment + OVERDUE_AFTER


def ended_before_the_project(project: Project, week: date) -> bool:
    """Did the week end before the project was created? Beat never closes such a week, and nobody may close one that
    holds none of the project's outputs and nothing to review (outputs sent with older timestamps are in their own
    weeks, which a lead may close: `selectors.report.has_something_to_close`).

    The one rule `left_to_a_lead`, on the week the calendar places the creation in (`created_week`). Reading the
    creation moment against the week's end (`created_at >= week_end`) is the same but where a zone's clock went back
    across midnight, so that the midnight a week ends at came twice (America/St_Johns and Goose_Bay before 2011: 00:01
    back to 23:01): a project created in the hour that followed was, by the calendar, created in the week that had
    just ended, which beat closes; read by the moment, that week had ended before the project and the home page
    said there was nothing to close."""
    return left_to_a_lead(week, created=created_week(project))


def close_due_at(project: Project, week: date) -> datetime:
    """When the week is due to close: its end plus CYCLE_CLOSE_GRACE_HOURS of elapsed time.

    Added to the instant, not to the local clock: a clock change within the grace (a week ending at midnight before a
    02:00 change) neither adds nor removes an hour, so the page, beat and the alerts name the same moment.
    """
    return week_end(project, week).astimezone(UTC) + timedelta(hours=settings.CYCLE_CLOSE_GRACE_HOURS)


def last_due_week(project: Project, now: datetime) -> date:
    """The latest week whose close is due at `now` (`close_due_at` is at or before it): the week before the one
    holding the moment a grace before now."""
    return current_week(project, now - timedelta(hours=settings.CYCLE_CLOSE_GRACE_HOURS)) - timedelta(days=7)


def first_week_beat_closes(*, created: date, latest_closed: date | None, last_ended: date) -> date:
    """The oldest week beat's sweep closes (`services.cycles.due_weeks`, besides retries of failed closes): the week
    after the latest closed one, not before the week the project was created in (`created`); a project that never
    closed one starts at its last ended week. A week before it that is not closed stays so until a lead closes it
    from its meeting page."""
    return max(created, latest_closed + timedelta(days=7)) if latest_closed is not None else last_ended


def left_to_a_lead(week: date, *, created: date) -> bool:
    """Is the week one beat never closes, whatever else closed: a week before the one the project was created in
    (`created`), so imported history does not get a close and a digest per week? One holding review items (outputs
    sent with older dates, routed later) keeps its figures out of any report until a lead closes it from its meeting
    page; its gold and dataset rows do not wait for it. Leads are told of those not closed (`selectors.left_open`)."""
    return week < created


class CloseRetry(StrEnum):
    """Whether beat tries a failed close again (`close_retry`): the close_failed alert keeps it in its facts (and
    retells it when it changes), and the meeting page's failure notice and /readyz say it (`failure_retry`)."""

    SCHEDULED = "scheduled"  # beat's sweep tries it again, with backoff (`services.cycles.retry_delay`)
    OVERDUE = "overdue"  # its retry is overdue (`retry_overdue`): nothing is retrying it
    LEFT_TO_A_LEAD = "left_to_a_lead"  # a week from before the project's first (`left_to_a_lead`): beat never closes it


def close_retry(week: date, *, created: date, next_attempt_at: datetime | None, now: datetime) -> CloseRetry:
    """Whether beat tries the failed close of `week` again, as `services.cycles.due_weeks` decides, at `now`: never
    for a week before the one the project was created in (`created`), else from `next_attempt_at`, unless that is
    overdue.

    `due_weeks` closes one week per project per sweep, the oldest due (so weeks close in order), so a younger failed
    week whose moment has come waits while an older one is due: for a sweep when both come due together, longer
    while the older one's close runs (it stays due until it ends). A younger week may thus read OVERDUE though beat
    runs, when an older week of its project took over OVERDUE_AFTER to close or fail again. Left so: retrying every
    due week at once would close them out of order."""
    if left_to_a_lead(week, created=created):
        return CloseRetry.LEFT_TO_A_LEAD
    if retry_overdue(next_attempt_at, now):
        return CloseRetry.OVERDUE
    return CloseRetry.SCHEDULED


class RefreshRetry(StrEnum):
    """Whether beat tries a failed refresh of a week's figures again (`refresh_retry`): the meeting page's failure
    notice and /readyz say it (`failure_retry`)."""

    SCHEDULED = "scheduled"  # beat's hourly refresh tries it again, with backoff (`services.cycles.retry_delay`)
    OVERDUE = "overdue"  # its retry is overdue (`retry_overdue`): nothing is retrying it
    ENDED = "ended"  # the week has ended: beat refreshes only the running week; the week's close computes its figures


def refresh_retry(week: date, *, running: date, next_attempt_at: datetime | None, now: datetime) -> RefreshRetry:
    """Whether beat tries the failed refresh of `week` again, as `services.cycles.running_weeks_to_refresh` decides,
    at `now`: never once the week has ended (`running`: the running week at `now`), whatever its `next_attempt_at`
    says (recorded when it failed, maybe while it ran); else from `next_attempt_at`, unless that is overdue."""
    if week < running:
        return RefreshRetry.ENDED
    if retry_overdue(next_attempt_at, now):
        return RefreshRetry.OVERDUE
    return RefreshRetry.SCHEDULED


def failure_retry(cycle: ReviewCycle, *, created: date, running: date, now: datetime) -> CloseRetry | RefreshRetry:
    """Whether beat tries the cycle's failed close (`close_retry`) or refresh (`refresh_retry`) again, at `now`."""
    if cycle.failure_kind == "close":
        return close_retry(cycle.week, created=created, next_attempt_at=cycle.next_attempt_at, now=now)
    return refresh_retry(cycle.week, running=running, next_attempt_at=cycle.next_attempt_at, now=now)


def tried_again(retry: CloseRetry | RefreshRetry) -> bool:
    """Does beat try the failure again at all (its retry may be overdue)? Not a close left to a lead, nor the refresh
    of a week that has ended: their recorded `next_attempt_at` is no attempt to come."""
    return retry not in (CloseRetry.LEFT_TO_A_LEAD, RefreshRetry.ENDED)


class LeftOpen(StrEnum):
    """Why beat leaves a week open that no close of its will close (`why_left_open`): the pages say which."""

    BEFORE_THE_PROJECT = "before_the_project"
    BEHIND_A_CLOSED_WEEK = "behind_a_closed_week"
    BEFORE_THE_FIRST_CLOSE = "before_the_first_close"


def why_left_open(week: date, *, created: date, latest_closed: date | None) -> LeftOpen:
    """Why beat leaves open a week it does not close (`beat_closes` False): one before the week the project was created
    in (`left_to_a_lead`); else one before the latest closed week, or, while the project never closed one, before the
    last ended week, where beat starts (`first_week_beat_closes`)."""
    if left_to_a_lead(week, created=created):
        return LeftOpen.BEFORE_THE_PROJECT
    return LeftOpen.BEHIND_A_CLOSED_WEEK if latest_closed is not None else LeftOpen.BEFORE_THE_FIRST_CLOSE


def beat_closes(week: date, *, created: date, last_due: date, latest_closed: date | None, failed: bool) -> bool:
    """Does beat's sweep close the week by itself, now or once it is due (`services.cycles.due_weeks` asks it of each
    failed close it would retry, the selectors of each week over and not closed)? Not a week before the project's
    first (`created`); a failed close of any later week that is due is retried (with backoff), whichever weeks
    closed after it; any other week from `first_week_beat_closes` on, read at the last due week, and a week not yet
    due. A week it does not close stays open until a lead closes it from its meeting page."""
    if left_to_a_lead(week, created=created):
        return False
    if week > last_due or failed:
        return True
    return week >= first_week_beat_closes(created=created, latest_closed=latest_closed, last_ended=last_due)


def beat_leaves_open_before(*, created: date, last_due: date, latest_closed: date | None) -> date:
    """A week `beat_closes` leaves open (read at `last_due`, with `latest_closed`) is before this one, whatever its
    failed close: where a reader of the weeks left to a lead stops looking. Weeks before it that beat closes are those
    whose failed close it retries (a week not yet due before it is the latest closed one)."""
    return max(created, first_week_beat_closes(created=created, latest_closed=latest_closed, last_ended=last_due))


def weeks_to_read(project: Project, now: datetime) -> tuple[date, date]:
    """The running week and the week that ended before it: the cycles `close_status` reads (with FAILED_CLOSE)."""
    running = current_week(project, now)
    return running, running - timedelta(days=7)


def close_status(project: Project, cycles: dict[date, ReviewCycle], now: datetime) -> CloseStatus:
    """The close status of the project, from its cycles (by week; a week without one is absent): those of
    `weeks_to_read` and those matching FAILED_CLOSE. Other cycles given are ignored."""
    running, ended = weeks_to_read(project, now)
    running_due_at = close_due_at(project, running)
    failed = sorted(
        week
        for week, cycle in cycles.items()
        if week < running and cycle.status == CycleStatus.OPEN and cycle.failure_kind == "close"
    )
    if failed:
        cycle = cycles[failed[0]]
        return CloseStatus(
            state=CloseState.FAILED,
            week=failed[0],
            due_at=close_due_at(project, failed[0]),
            running_due_at=running_due_at,
            error=cycle.last_error,
            failed_at=cycle.failed_at,
            failed_weeks=len(failed),
        )
    due_at = close_due_at(project, ended)
    cycle = cycles.get(ended)
    if cycle is not None and cycle.status == CycleStatus.CLOSED:
        state = CloseState.CLOSED
    elif ended_before_the_project(project, ended):
        # No week of the project has ended: what is to come is its running week's close, not the week before it.
        return CloseStatus(state=CloseState.NEW, week=running, due_at=running_due_at, running_due_at=running_due_at)
    elif overdue(due_at, now):
        state = CloseState.OVERDUE
    else:
        state = CloseState.CLOSING
    return CloseStatus(state=state, week=ended, due_at=due_at, running_due_at=running_due_at)
