"""The weekly review cycle: close a week (resolve → datasets → metrics → report → next cycle → digests),
record its failures, and record the meeting's decisions. The report itself is a read: selectors/report.py.

Every step is idempotent: gold answers and metric rows are recomputed, dataset builds make no new
version when nothing changed, and the cycle is closed by a conditional update whose row count says
which of two twin runs froze the report. Closing a closed week returns it unchanged.
"""

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from labeling.exceptions import InvalidInput, NotFound, NothingToClose, WeekNotOver
from labeling.metrics.agreement import too_few_gold_items
from labeling.models import (
    AuditEvent,
    CycleStatus,
    Dataset,
    Decision,
    ExpertWeek,
    Item,
    Membership,
    Project,
    ReviewCycle,
    Role,
    week_label,
    work_key,
)
from labeling.reports import GOLD_PART_WORDS
from labeling.rules.access import MANAGING_ROLES, check_can_manage
from labeling.rules.calendar import created_week, current_week, week_end
from labeling.rules.commands import command_details
from labeling.rules.moments import utc_moment
from labeling.rules.text import FORMER_MEMBER, counted, isolated
from labeling.rules.twins import audited_twin, is_recent, twin_of
from labeling.rules.weekly_close import beat_closes, first_week_beat_closes, last_due_week
from labeling.selectors.changes import changes_of_weeks
from labeling.selectors.digest import (
    RestatedFigure,
    digest_lines_by_expert,
    headline_figures,
    meeting_url,
    restated_figure_line,
    restated_figures,
    rubric_published_lines,
)
from labeling.selectors.report import (
    TREND_WEEKS,
    build_report,
    compared_with_week_before,
    has_something_to_close,
    with_final_trend_point,
    with_final_verdict_split,
    within_the_project,
)

from . import alerts, outbox, webhook_events
from .changes import recompute_closed_weeks_changes, refresh_week_changes
from .datasets import build_version
from .lanes import Step, run_lanes
from .metrics import refresh_week_metrics
from .platform import refresh_project_week
from .redaction import redact_free_text, redactor_for
from .resolution import resolve_stale_items
from .retention import refresh_retention
from .themes import refresh_week_themes

logger = logging.getLogger(__name__)

# The first key of a week lock is the project's id moved into a range of its own, clear of other advisory locks.
_WEEK_LOCK_SPACE = 0x45_4C_00_00  # "EL"


def get_cycle(*, project: Project, week: date) -> ReviewCycle:
    """The project's cycle for the week, made (open) if it does not exist yet."""
    cycle, _ = ReviewCycle.objects.get_or_create(project=project, week=week)
    return cycle


def request_close(*, project: Project, week: date, closed_by=None) -> bool:
    """Queue the close of a week that is over (through the outbox); False if it is closed already.

    A week still running raises WeekNotOver, one with nothing to close NothingToClose. Asking again while a close is
    queued adds nothing.
    """
    if ReviewCycle.objects.filter(project=project, week=week, status=CycleStatus.CLOSED).exists():
        return False
    if week >= current_week(project):
        raise WeekNotOver(f"The week {week_label(week)} is still running: close it once it has ended.")
    check_something_to_close(project, week)
    closed_by_id = closed_by.pk if closed_by is not None and closed_by.pk else None
    outbox.enqueue(
        task="labeling.close_week",
        args=[project.pk, week.isoformat(), closed_by_id],
        dedupe_key=work_key("close_week", project.pk, week.isoformat()),
    )
    return True


def check_something_to_close(project: Project, week: date, *, nothing: str = "no review cycle to close") -> None:
    if not has_something_to_close(project, week):
        created = timezone.localtime(project.created_at, project.tzinfo)
        raise NothingToClose(
            f"The week {week_label(week)} ended before the project was created ({created:%d %B %Y}) and holds "
            f"none of its outputs and nothing to review: there is {nothing}."
        )


def request_refresh(*, project: Project, week: date) -> bool:
    """Queue a recompute of the week's figures (through the outbox); False if the week is closed (frozen).

    A week with nothing to close raises NothingToClose: it has no figures, and its refresh would make a cycle nobody
    could close."""
    if ReviewCycle.objects.filter(project=project, week=week, status=CycleStatus.CLOSED).exists():
        return False
    check_something_to_close(project, week, nothing="nothing to compute")
    outbox.enqueue(
        task="labeling.refresh_metrics",
        args=[project.pk, week.isoformat()],
        dedupe_key=work_key("refresh_metrics", project.pk, week.isoformat()),
    )
    return True


# The close ---------------------------------------------------------------------------------------------------


@contextmanager
def _timed(timings: dict[str, float], step: str):
    started = time.perf_counter()
    yield
    timings[step] = round(time.perf_counter() - started, 3)


def refresh_metrics(*, project: Project, week: date, now: datetime | None = None) -> None:
    """Recompute the week's metric rows, every cohort's retention cells, what changed, the failure themes (what the
    meeting page shows) and the week's usage row (what the platform page shows).

    A failure is recorded on the week's cycle (see `record_failure`) and raised; a success records on the cycle when
    it started (`figures_refreshed_at`: the figures' "as of") and clears a recorded refresh failure (not a close
    failure: only a close proves the close works). A closed week is left
    as it is: a refresh queued before its close would otherwise rewrite the rows under its frozen report.
    """
    with week_lock(project=project, week=week):
        if ReviewCycle.objects.filter(project=project, week=week, status=CycleStatus.CLOSED).exists():
            return
        if not has_something_to_close(project, week):
            return  # queued before request_refresh refused such weeks: it would make a cycle nobody could close
        # The wall clock even when `now` is given (the demo's seed passes the moment it started): a label saved after
        # this is one the figures may leave out, which the meeting page counts against it.
        started = timezone.now()
        try:
            _refresh_in_lanes(project, week=week, now=now)
        except Exception as exc:
            _record_and_log(project=project, week=week, kind="refresh", error=exc)
            raise
        cycle = get_cycle(project=project, week=week)
        ReviewCycle.objects.filter(pk=cycle.pk).update(figures_refreshed_at=started)
        ReviewCycle.objects.filter(pk=cycle.pk, failure_kind="refresh").update(**_NO_FAILURE)


@contextmanager
def week_lock(*, project: Project, week: date):
    """Hold the project week's lock: one close or refresh of a week at a time. A refresh that started before a
    close waits for it (and then finds the week closed) instead of rewriting the rows under its frozen report.

    A PostgreSQL session advisory lock, released at the end or when the worker's connection goes; SQLite (the
    demo) runs its tasks one at a time in the request and takes none.
    """
    if connection.vendor != "postgresql":
        yield
        return
    key = [_WEEK_LOCK_SPACE + project.pk, week.toordinal()]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", key)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


# Failures and their backoff ----------------------------------------------------------------------------------

_NO_FAILURE = {"failure_kind": "", "last_error": "", "failed_at": None, "attempts": 0, "next_attempt_at": None}


def retry_delay(attempts: int) -> timedelta:
    """How long the sweeps wait after the `attempts`-th failure in a row: doubling from the base, capped."""
    base, cap = settings.CYCLE_RETRY_BASE_SECONDS, settings.CYCLE_RETRY_MAX_SECONDS
    return timedelta(seconds=min(cap, base * 2 ** min(max(attempts, 1) - 1, 40)))


def record_failure(*, project: Project, week: date, kind: str, error: str, now: datetime | None = None) -> ReviewCycle:
    """Record a failed close or refresh on the week's cycle: the error, one more attempt, and when to retry."""
    now = now or timezone.now()
    cycle = get_cycle(project=project, week=week)
    with transaction.atomic():
        # The row lock counts two failing twins as two attempts, not one.
        recorded_kind, attempts = (
            ReviewCycle.objects.select_for_update().values_list("failure_kind", "attempts").get(pk=cycle.pk)
        )
        if recorded_kind == "close" and kind == "refresh":
            return cycle  # a failing close is what leads must see; a refresh of the same week does not hide it
        # Each kind backs off on its own count: a close after failed refreshes starts from the base delay.
        attempts = attempts + 1 if recorded_kind == kind else 1
        ReviewCycle.objects.filter(pk=cycle.pk).update(
            failure_kind=kind,
            last_error=error[:2000],
            failed_at=now,
            attempts=attempts,
            next_attempt_at=now + retry_delay(attempts),
        )
    cycle.refresh_from_db()
    return cycle


def _record_and_log(*, project: Project, week: date, kind: str, error: BaseException) -> None:
    logger.error("%s of %s %s failed", kind, project.slug, week_label(week), exc_info=error)
    try:
        record_failure(project=project, week=week, kind=kind, error=f"{type(error).__name__}: {error}".strip())
    except Exception:  # e.g. the database is gone: the original error is what the caller raises
        logger.exception("could not record the failed %s of %s %s", kind, project.slug, week_label(week))


def _request_alerts(project: Project) -> None:
    try:
        alerts.request_evaluation(project_id=project.pk)
    except Exception:  # e.g. the database is gone: the hourly round evaluates the project later
        logger.exception("could not ask for the alert evaluation of %s", project.slug)


def close_week(
    *, project_id: int, week: date, closed_by=None, now: datetime | None = None, command: str = ""
) -> ReviewCycle | None:
    """Close the project's cycle week: resolve gold answers, rebuild auto datasets, compute the metrics,
    freeze the report, open the next cycle and send the experts their digest.

    Returns the closed cycle (None if the project is gone). A closed week is returned unchanged; a week
    still running raises WeekNotOver, one with nothing to close NothingToClose. Step timings are logged and
    kept in the report's `close.steps` (with their lane; `close.wall_seconds` is the steps' wall time). `command`:
    the management command closing it (the audit log names it), when neither a person nor beat does.
    """
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    now = now or timezone.now()
    ends = week_end(project, week)
    if now < ends:
        raise WeekNotOver(
            f"The week {week_label(week)} is still running: it can be closed from "
            f"{timezone.localtime(ends, project.tzinfo):%A %d %B %Y, %H:%M} ({project.time_zone})."
        )
    with week_lock(project=project, week=week):
        cycle = ReviewCycle.objects.filter(project=project, week=week).first()
        if cycle is not None and cycle.is_closed:
            return cycle
        check_something_to_close(project, week)  # before a cycle is made for the week
        cycle = cycle or get_cycle(project=project, week=week)
        try:
            return _close(project, cycle, week=week, closed_by=closed_by, now=now, command=command)
        except Exception as exc:
            # Recorded for the leads and /readyz; the close sweep tries again after a growing delay.
            _record_and_log(project=project, week=week, kind="close", error=exc)
            _request_alerts(project)  # close_failed is told now, not at the next hourly round
            raise


def _refresh_in_lanes(
    project: Project, *, week: date, now: datetime | None, first: Sequence[Step] = ()
) -> tuple[dict[str, Any], list[dict]]:
    """Recompute the week's figures (`refresh_metrics`' list), the `first` steps ahead of them: what `run_lanes`
    returns.

    Each step reads what is committed (the close's resolve) and none reads what another writes, so they run in two
    lanes on two connections (services.lanes). Lane 1: the `first` steps (the close's dataset build, mostly
    PostgreSQL's work), then the themes (mostly scikit-learn's); lane 2: metrics, retention, what changed and usage,
    mostly SQL. One lane's Python runs while the other waits on the database: W4's close at 1M rows 5.6-5.7 -> 4.2-4.5 s
    (bench/README.md).
    """
    return run_lanes(
        [*first, ("themes", partial(refresh_week_themes, project=project, week=week))],
        [
            ("metrics", partial(refresh_week_metrics, project=project, week=week)),
            ("retention", partial(refresh_retention, project=project, now=now)),
            ("changes", partial(refresh_week_changes, project=project, week=week, now=now)),
            ("usage", partial(refresh_project_week, project=project, week=week, now=now)),
        ],
    )


def _refresh_open_previous_week(project: Project, *, week: date) -> bool:
    """Compute the figures of the week before, if it is still open: the report freezes the change from it, and a week
    closed out of order (or the first one beat closes) would otherwise compare with rows never computed ("+22 vs last
    week (0)" beside a week of 2 labels). Only the rows the report reads of it (`refresh_week_metrics`: quality,
    agreement, queues), under its own lock; its cycle stays open. True when it ran.

    A failure here is logged and the close goes on: the week being closed is frozen either way, comparing with the
    rows the week before has (as it did before this step), and that week's own refresh records its failures."""
    previous = week - timedelta(days=7)
    if not within_the_project(project, previous) or not has_something_to_close(project, previous):
        return False  # the report compares with no week, or with one that holds nothing
    with week_lock(project=project, week=previous):
        if ReviewCycle.objects.filter(project=project, week=previous, status=CycleStatus.CLOSED).exists():
            return False  # frozen by its own close: the rows are final
        try:
            with transaction.atomic():
                refresh_week_metrics(project=project, week=previous)
        except Exception:
            logger.exception(
                "could not compute %s %s before closing the week after it", project.slug, week_label(previous)
            )
            return False
    return True


def _close(
    project: Project, cycle: ReviewCycle, *, week: date, closed_by, now: datetime, command: str = ""
) -> ReviewCycle:
    started = time.perf_counter()
    timings: dict[str, float] = {}
    with _timed(timings, "resolve"):
        resolved = resolve_stale_items(project_id=project.pk, through_week=week)
    results, lane_steps = _refresh_in_lanes(
        project, week=week, now=now, first=[("datasets", partial(_rebuild_datasets, project, now=now))]
    )
    timings.update((step["step"], step["seconds"]) for step in lane_steps)
    with _timed(timings, "previous week"):
        previous_refreshed = _refresh_open_previous_week(project, week=week)
    if not previous_refreshed:
        del timings["previous week"]
    with _timed(timings, "report"):
        report = build_report(project=project, week=week, now=now, status=CycleStatus.CLOSED)
    # A list, not a mapping: jsonb does not keep the order of keys, and the steps have one.
    steps = [
        {"step": "resolve", "seconds": timings["resolve"]},
        *lane_steps,
        *([{"step": "previous week", "seconds": timings["previous week"]}] if previous_refreshed else []),
        {"step": "report", "seconds": timings["report"]},
    ]
    report["close"] = {
        "resolved_items": resolved,
        "datasets": results["datasets"],
        "steps": steps,
        "wall_seconds": round(time.perf_counter() - started, 3),  # below the steps' sum when the lanes overlapped
    }

    with transaction.atomic():
        deferred = _digest_waits(project, week=week, now=now)  # locks the newest ended week's row, if after this one
        following = week + timedelta(days=7)
        # Then the rows this close writes or restates (the ended weeks after it whose pass-rate trend has a point for
        # it or whose "what changed" compares with it, `_restated_reach`; the week after, this week, the week before),
        # newest first: the order in which every writer of several of a project's cycles locks them (redaction and
        # erasure rewriting frozen reports), so that none waits on another holding a row it wants in turn. No week after
        # the newest ended one, whose row `_digest_waits` locked first.
        running = current_week(project, now)
        later = [week + timedelta(weeks=n) for n in range(2, _restated_reach() + 1)]
        later = [later_week for later_week in later if later_week < running]
        _lock_newest_first(project, weeks=[*later, following, week, week - timedelta(days=7)])
        won = ReviewCycle.objects.filter(pk=cycle.pk, status=CycleStatus.OPEN).update(
            status=CycleStatus.CLOSED,
            report=report,
            closed_at=now,
            closed_by=closed_by,
            closed_in_time_zone=project.time_zone,
            digest_deferred=deferred,
            **_NO_FAILURE,
        )
        if won:
            # The headline figures of the later weeks closed already, before this close restates any of them.
            announced = _closed_headlines(project, weeks=[*later, following])
            # Closes of two weeks side by side meet on these row locks, so whichever commits second sees the other
            # closed and restates the later week.
            _compare_again(project, week=week, closed_by=closed_by, closing=True)
            # Before the week after is compared again: the headline that tells endpoints holds its restated week-1
            # retention by verdict.
            headlines = _restate_from_final_gold(project, week=week, closed_by=closed_by)
            if _compare_again(project, week=following, closed_by=closed_by):
                headlines.discard(following)  # told with its restated comparison
            _tell_restated_headlines(project, weeks=headlines, with_week=week)
            _restate_trend_points(project, week=week, closed_by=closed_by)
            _notify_restated_reports(project, announced=announced, with_week=week)
        if has_something_to_close(project, following):  # not a week before the project holding nothing: no cycle
            get_cycle(project=project, week=following)
        if won:
            AuditEvent.objects.create(
                project=project,
                actor=closed_by,
                action="cycle.closed",
                details={"week": week_label(week), **timings, **command_details(command)},
            )
            if not deferred:
                # Asked for in the close's transaction: a worker that dies after the commit leaves the digests owed
                # (the outbox row), and whoever runs it sends them; send_digests' claim keeps them to one send.
                outbox.enqueue(
                    task="labeling.send_digests", args=[cycle.pk], dedupe_key=work_key("send_digests", cycle.pk)
                )
            cycle.refresh_from_db()
            webhook_events.cycle_closed(cycle)  # cycle.closed and cycle.digest, with the close
            # The closed week's quotas and changes, and a failed or overdue close resolved: told after the close.
            alerts.request_evaluation(project_id=project.pk)
    logger.info("closed %s %s in %s", project.slug, week_label(week), timings)
    cycle.refresh_from_db()
    return cycle


def _lock_newest_first(project: Project, *, weeks: list[date]) -> None:
    """Lock the project's cycles of `weeks` (those that exist), newest first (`locked_newest_first`)."""
    list(ReviewCycle.objects.filter(project=project, week__in=weeks).locked_newest_first().values_list("pk", flat=True))


def _compare_again(project: Project, *, week: date, closed_by, closing: bool = False) -> bool:
    """If `week` is closed and so is the week before it, restate `week`'s week-over-week comparison from the report
    the week before froze (`compared_with_week_before`), so both orders of closing give the same figures. A week
    closed before the week before it (out of order: by a lead, or while that week's close failed and waited), or
    whose report was built while the week before was closing, compared with that week as it stood then.

    In the close's transaction, which holds the rows' locks (`_lock_newest_first`; a redaction of the report waits).
    Nothing is written when the comparison stands; a restated report says when and from which week
    (`compared_again`), and the audit log keeps it. Endpoints hear it (`cycle.compared_again`) only of a week an
    earlier close froze: not `closing`, the week this close freezes, whose `cycle.closed` tells the restated report.
    Return whether it told them. In a savepoint: a report it cannot read is logged, never a reason to fail the
    close."""
    before_week = week - timedelta(days=7)
    closed = ReviewCycle.objects.filter(project=project, week__in=[before_week, week], status=CycleStatus.CLOSED)
    cycles = {cycle.week: cycle for cycle in closed.only("pk", "project_id", "week", "report", "closed_at")}
    this, before = cycles.get(week), cycles.get(before_week)
    if this is None or before is None or not this.report or not before.report:
        return False
    try:
        with transaction.atomic():
            restated = compared_with_week_before(project, this.report, before.report)
            if _without_restatement(restated) == _without_restatement(this.report):
                return False
            restated["compared_again"] = {"with_week": week_label(before_week), "at": utc_moment(timezone.now())}
            ReviewCycle.objects.filter(pk=this.pk).update(report=restated)
            AuditEvent.objects.create(
                project=project,
                actor=closed_by,
                action="cycle.compared_again",
                details={"week": week_label(week), "with_week": week_label(before_week)},
            )
            # Its `cycle.closed` told the figures as they stood; endpoints that keep them hear the restated ones,
            # delivered through the outbox once the close commits; the leads get a notice of the figures that
            # changed (`_notify_restated_reports`).
            if not closing:
                this.project, this.report = project, restated
                webhook_events.cycle_compared_again(this)
    except Exception:
        logger.exception("could not compare %s %s again with the week before", project.slug, week_label(week))
        return False
    return not closing


def _tell_restated_headlines(project: Project, *, weeks: set[date], with_week: date) -> None:
    """Tell endpoints (`cycle.compared_again`) the headlines `_restate_from_final_gold` restated from `with_week`'s
    final gold answers (the retention by verdict): their `cycle.closed` sent the split as it stood. In the close's
    transaction, delivered through the outbox once it commits; in a savepoint: a failure is logged, never a reason to
    fail the close."""
    if not weeks:
        return
    try:
        with transaction.atomic():
            cycles = ReviewCycle.objects.filter(project=project, week__in=weeks).order_by("week")
            for cycle in cycles.only("pk", "project_id", "week", "report", "closed_at"):
                cycle.project = project
                webhook_events.cycle_compared_again(cycle, restated_from=week_label(with_week))
    except Exception:
        logger.exception("could not tell the headlines restated from %s %s", project.slug, week_label(with_week))


def _closed_headlines(project: Project, *, weeks: list[date]) -> dict[int, dict[str, str]]:
    """The headline figures (`headline_figures`) of the closed weeks among `weeks`, by cycle id: what their frozen
    reports said before a close restates them. One query of two keys of each report."""
    rows = ReviewCycle.objects.filter(project=project, week__in=weeks, status=CycleStatus.CLOSED).values_list(
        "pk", "report__headline", "report__verdict_question"
    )
    return {pk: headline_figures({"headline": headline, "verdict_question": verdict}) for pk, headline, verdict in rows}


def _notify_restated_reports(project: Project, *, announced: dict[int, dict[str, str]], with_week: date) -> None:
    """Ask for a notice to the leads of each closed week whose report's headline figures the close of `with_week` (out
    of order) restated, naming them (`send_restated_report_notice`). A closed week, whether or not its experts'
    digest went out: its report was on the meeting page, and `cycle.closed` told its headline, from its close; the
    experts' digest holds none of these figures. In the close's transaction, through the outbox; in a savepoint: a
    failure is logged, never a reason to fail the close."""
    if not announced:
        return
    try:
        with transaction.atomic():
            rows = ReviewCycle.objects.filter(pk__in=announced).values_list(
                "pk", "report__headline", "report__verdict_question"
            )
            for pk, headline, verdict in rows:
                figures = restated_figures(
                    announced[pk], headline_figures({"headline": headline, "verdict_question": verdict})
                )
                if figures:
                    outbox.enqueue(
                        task="labeling.send_restated_report_notice",
                        args=[pk, week_label(with_week), [list(figure) for figure in figures]],
                        dedupe_key=work_key("send_restated_report_notice", pk, week_label(with_week)),
                    )
    except Exception:
        logger.exception(
            "could not ask for the restated report notices of %s after %s", project.slug, week_label(with_week)
        )


def _without_restatement(report: dict) -> dict:
    return {key: value for key, value in report.items() if key != "compared_again"}


def _restate_trend_points(project: Project, *, week: date, closed_by) -> None:
    """Give the closed weeks further from `week` than the next one (`_compare_again` restates that one) the pass-rate
    trend point the other froze for itself (`with_final_trend_point`): each later week whose trend has a point for
    `week`, and `week`'s own trend its points for the closed weeks before it. So both orders of closing give the same
    trends: a week closed after later weeks had read its figures as they stood (still open, later labels missing), or
    whose report was built while an earlier week closed (the two closes meet on the newest ended week's row, which
    each locks first), had them in its trend as they stood then. A trend point is another week's
    figure: the week's own figures stay as frozen.

    In the close's transaction, which holds the later weeks' rows (`_lock_newest_first`). A restated report says which
    points and when (`trend_restated`); the audit log keeps each (`cycle.compared_again`). In a savepoint: a report it
    cannot read is logged, never a reason to fail the close."""
    reach = timedelta(weeks=TREND_WEEKS - 1)
    # Only the keys read: the reports' agendas and themes may be large.
    trends = {
        closed_week: {"verdict_question": verdict, "week_start": week_start, "pass_rate_trend": trend}
        for closed_week, verdict, week_start, trend in ReviewCycle.objects.filter(
            project=project, status=CycleStatus.CLOSED, week__gte=week - reach, week__lte=week + reach
        ).values_list("week", "report__verdict_question", "report__week_start", "report__pass_rate_trend")
    }
    if week not in trends:
        return
    neighbours = {week - timedelta(days=7), week, week + timedelta(days=7)}
    # (the week whose trend is restated, the week whose point it takes)
    pairs = [(later, week) for later in sorted(trends) if later not in neighbours and later > week]
    pairs += [(week, earlier) for earlier in sorted(trends) if earlier not in neighbours and earlier < week]
    try:
        with transaction.atomic():
            restated: dict[date, tuple[dict, list[date]]] = {}
            for reader, of in pairs:
                trend, points = restated.get(reader, (trends[reader], []))
                again = with_final_trend_point(trend, trends[of], project=project)
                if again is not None:
                    restated[reader] = (again, [*points, of])
            now = utc_moment(timezone.now())
            readers = ReviewCycle.objects.filter(project=project, week__in=list(restated)).only("pk", "week", "report")
            by_week = {cycle.week: cycle for cycle in readers}  # one read of the reports rewritten, not one each
            for reader, (trend, points) in sorted(restated.items(), reverse=True):
                cycle = by_week[reader]
                earlier = (cycle.report.get("trend_restated") or {}).get("weeks") or []
                weeks = sorted({*earlier, *(week_label(point) for point in points)})
                report = cycle.report | {
                    "pass_rate_trend": trend["pass_rate_trend"],
                    "trend_restated": {"weeks": weeks, "at": now},
                }
                ReviewCycle.objects.filter(pk=cycle.pk).update(report=report)
                AuditEvent.objects.bulk_create(
                    AuditEvent(
                        project=project,
                        actor=closed_by,
                        action="cycle.compared_again",
                        details={"week": week_label(reader), "with_week": week_label(point), "trend_point": True},
                    )
                    for point in points
                )
    except Exception:
        logger.exception("could not restate the trend points of %s around %s", project.slug, week_label(week))


def _restated_reach() -> int:
    """How many weeks after a closing week its close may restate (and so locks): the pass-rate trend's points for it
    (`_restate_trend_points`), and the "what changed" whose baseline it is (`_restate_from_final_gold`)."""
    return max(TREND_WEEKS - 1, settings.CHANGES_BASELINE_WEEKS)


def _restate_from_final_gold(project: Project, *, week: date, closed_by) -> set[date]:
    """Make again, from the stored rows, what the closed weeks after `week` froze from its outputs and gold answers as
    they stood (the week still open: later labels, late outputs missing): the "what changed" of those whose baseline
    it is (up to CHANGES_BASELINE_WEEKS after it: the week's rows recomputed and stored, `changes` frozen again), and
    the retention by verdict of those within `_restated_reach` (`with_final_verdict_split`: its cohort's users'
    verdicts). So both orders of closing give the same figures. A later week's "what changed" is made again whole (its
    own week's rows as they are now among them); the rest of its figures stay as frozen. Not of a later week with a
    week still open before it: that week's close restates it.

    Only when such a week is closed (out of order): a close in order finds none and reads nothing more. In the close's
    transaction, which holds the later weeks' rows (`_lock_newest_first`); each restatement of a close reads the
    reports as the one before it left them. A restated report says which parts, from which weeks and when
    (`gold_restated`); the audit log keeps each (`cycle.compared_again` with `gold_parts`). Return the weeks whose
    headline it restated (the week-1 retention by verdict), for endpoints to hear them once (`cycle.compared_again`,
    with a restated comparison if there is one); the leads hear of it by e-mail (`_notify_restated_reports`). In a
    savepoint: a report it cannot read or a recompute that fails is logged, never a reason to fail the close."""
    baseline = timedelta(weeks=settings.CHANGES_BASELINE_WEEKS)
    closed = list(
        ReviewCycle.objects.filter(
            project=project,
            status=CycleStatus.CLOSED,
            week__gt=week,
            week__lte=week + timedelta(weeks=_restated_reach()),
        ).only("pk", "week", "report", "status", "closed_in_time_zone")  # the last two: `week_zone`, for "what changed"
    )
    later = {cycle.week: cycle for cycle in closed if cycle.report}
    if not later:
        return set()
    # A later week with a week before it not closed yet (besides this one) waits for that week's close, which restates
    # it in turn: restated now, it would read that week's gold answers as they stand and call them this week's.
    closed_weeks = {cycle.week for cycle in closed}
    between = (week + timedelta(weeks=n) for n in range(1, (max(later) - week).days // 7))
    if gap := next((w for w in between if w not in closed_weeks and has_something_to_close(project, w)), None):
        later = {later_week: cycle for later_week, cycle in later.items() if later_week < gap}
    if not later:
        return set()
    try:
        with transaction.atomic():
            now = timezone.now()
            reports = {later_week: cycle.report for later_week, cycle in later.items()}
            parts: dict[date, list[str]] = {}
            for later_week, report in with_final_verdict_split(reports, project=project).items():
                reports[later_week] = report
                parts.setdefault(later_week, []).append("retention")
            # The weeks whose baseline holds `week`; a report frozen before "what changed" existed is left as it was.
            changing = sorted(w for w, report in reports.items() if w - week <= baseline and "changes" in report)
            if changing:
                recompute_closed_weeks_changes(project=project, cycles=[later[w] for w in changing], now=now)
                for later_week, entries in changes_of_weeks(project=project, weeks=changing).items():
                    if entries != reports[later_week]["changes"]:
                        reports[later_week] = reports[later_week] | {"changes": entries}
                        parts.setdefault(later_week, []).insert(0, "changes")
            for later_week, restated in sorted(parts.items(), reverse=True):
                earlier = reports[later_week].get("gold_restated") or {}
                report = reports[later_week] | {
                    "gold_restated": {
                        "weeks": sorted({*(earlier.get("weeks") or []), week_label(week)}),
                        "parts": [
                            part for part in GOLD_PART_WORDS if part in {*(earlier.get("parts") or []), *restated}
                        ],
                        "at": utc_moment(now),
                    }
                }
                ReviewCycle.objects.filter(pk=later[later_week].pk).update(report=report)
            AuditEvent.objects.bulk_create(
                AuditEvent(
                    project=project,
                    actor=closed_by,
                    action="cycle.compared_again",
                    details={"week": week_label(later_week), "with_week": week_label(week), "gold_parts": restated},
                )
                for later_week, restated in sorted(parts.items(), reverse=True)
            )
    except Exception:
        logger.exception("could not restate what the weeks after %s %s read of it", project.slug, week_label(week))
        return set()
    return {w for w in parts if reports[w].get("headline") != later[w].report.get("headline")}


def _digest_waits(project: Project, *, week: date, now: datetime) -> bool:
    """Whether the week's close is catching up, so its digest waits for the newest week's: the project's newest ended
    week is after it, is one the sweep closes (not before the project's first week), and is not closed yet.

    One e-mail per catch-up instead of one per missed week; on time, the newest ended week is the one closing. Nothing
    is lost: the newest week's close lists every waiting week when it sends its digest, and if it fails the weeks wait
    for the project's next close that succeeds (its retry, or the week after it).
    """
    newest = current_week(project, now) - timedelta(days=7)
    if newest <= week or newest < created_week(project):
        return False
    # Locked until this close commits: a close of the newest week at the same time either froze its report first (so
    # this week sends its own digest) or waits for this commit, and its digest then finds this week waiting.
    newest_cycle = get_cycle(project=project, week=newest)
    status = ReviewCycle.objects.select_for_update().filter(pk=newest_cycle.pk).values_list("status", flat=True).get()
    return status != CycleStatus.CLOSED


def _rebuild_datasets(project: Project, *, now: datetime) -> list[dict]:
    """Build a new version of each auto dataset, built at the close's moment (`now`); a failed build is reported,
    and the close goes on."""
    outcomes = []
    for dataset in Dataset.objects.filter(project=project, auto_rebuild=True).order_by("slug"):
        try:
            version = build_version(dataset_id=dataset.pk, now=now)
        except Exception as exc:  # the build marked its version failed; the meeting still gets its report
            logger.exception("dataset %s failed to build during the weekly close", dataset)
            outcomes.append({"dataset": dataset.slug, "version": None, "error": str(exc)[:500]})
            continue
        outcomes.append({"dataset": dataset.slug, "version": version.number if version else None, "error": ""})
    return outcomes


def due_weeks(now: datetime | None = None) -> list[tuple[int, date]]:
    """(project id, week) of each project's oldest week that is over and not closed yet (what beat closes).

    The weeks to close are those after the project's latest closed week (none before the week it was created in,
    and only the last ended week if it never closed one), up to its last ended week, and any older week of the
    project's whose close failed. The oldest goes first and one per project per sweep,
    so after beat or the workers were down for weeks each missed week closes in order, with its own report, and the
    report of the week after it compares with its figures. A week whose close failed is due again only from its
    `next_attempt_at` (exponential backoff); meanwhile the weeks after it close. A project whose week cannot even be
    computed (say, a time zone that tzdata no longer has) is logged and skipped: it never keeps the others from
    closing.
    """
    now = now or timezone.now()
    bounds = {}
    for project in Project.objects.all():
        try:
            last = last_due_week(project, now)
            first = created_week(project)  # the first week the project existed in
            if first > last:
                continue  # the project did not exist in its last ended week
        except Exception:
            logger.exception("cannot tell which week of %s is due; the sweep goes on", project.slug)
            continue
        bounds[project.pk] = (first, last)
    # Two queries for every project: its latest closed week, and its failed closes still open.
    latest_closed = dict(
        ReviewCycle.objects.filter(project_id__in=bounds, status=CycleStatus.CLOSED)
        .values("project_id")
        .annotate(latest=Max("week"))
        .values_list("project_id", "latest")
    )
    failed: dict[int, dict[date, bool]] = {}  # project -> failed week -> still backing off
    for project_id, week, next_attempt_at in ReviewCycle.objects.filter(
        project_id__in=bounds, status=CycleStatus.OPEN, failure_kind="close"
    ).values_list("project_id", "week", "next_attempt_at"):
        failed.setdefault(project_id, {})[week] = bool(next_attempt_at and next_attempt_at > now)
    due = []
    for project_id, (first, last) in bounds.items():
        backing_off = {week for week, waits in failed.get(project_id, {}).items() if waits}
        latest = latest_closed.get(project_id)
        # Not a failed week from before the project: it may hold nothing to close any more, and a lead closes it.
        retries = [
            week
            for week, waits in failed.get(project_id, {}).items()
            if not waits
            and week <= last
            and beat_closes(week, created=first, last_due=last, latest_closed=latest, failed=True)
        ]
        # A project that never closed a week (a fresh one, or one whose beat never ran) starts at its last one.
        week = first_week_beat_closes(created=first, latest_closed=latest, last_ended=last)
        while week in backing_off:
            week += timedelta(days=7)
        weeks = [*retries, week] if week <= last else retries
        if weeks:
            due.append((project_id, min(weeks)))
    return due


def running_weeks_to_refresh(now: datetime | None = None) -> list[tuple[int, date]]:
    """(project id, running week) of each project whose figures beat should recompute now.

    A week whose last refresh failed waits for its `next_attempt_at`, as a failed close does.
    """
    now = now or timezone.now()
    weeks = []
    for project in Project.objects.all():
        try:
            week = current_week(project, now)
        except Exception:
            logger.exception("cannot tell the running week of %s; the sweep goes on", project.slug)
            continue
        weeks.append((project.pk, week))
    waiting = set(
        ReviewCycle.objects.filter(next_attempt_at__gt=now, failure_kind="refresh").values_list("project_id", "week")
    )
    return [pair for pair in weeks if pair not in waiting]


def request_due_closes(now: datetime | None = None) -> int:
    """Queue the close of every project week that is over and still open (beat's sweep); return how many."""
    return _request_each(due_weeks(now), request_close)


def request_running_refreshes(now: datetime | None = None) -> int:
    """Queue a recompute of each project's running week that is not waiting out a backoff; return how many."""
    return _request_each(running_weeks_to_refresh(now), request_refresh)


def _request_each(weeks: list[tuple[int, date]], request: Callable[..., bool]) -> int:
    projects = Project.objects.in_bulk({project_id for project_id, _ in weeks})
    for project_id, week in weeks:
        if project_id in projects:  # a project deleted since the sweep read its weeks has nothing to do
            request(project=projects[project_id], week=week)
    return len(weeks)


def send_digests(*, cycle_id: int) -> int:
    """E-mail each expert of the project their week: last week's work and this week's queues. Sent once.

    It also names the older weeks whose digests waited for this one (closed while the close caught up, see
    `_digest_waits`), each with the expert's labels and its meeting page, and claims them with its own.
    The close asks for it through the outbox, so a worker lost (or a digest failing to build) before the claim commits
    leaves it to the next delivery; one lost after the commit, while sending, loses the digests rather than sending
    them twice.
    """
    now = timezone.now()
    # The claim and the building of every e-mail are one transaction: a digest that fails to build (a bug, a row
    # gone) rolls its claim back, so the next delivery of the close's outbox message tries again rather than the
    # week's digests being lost unsent. Only the sending comes after the commit.
    with transaction.atomic():
        claimed = ReviewCycle.objects.filter(pk=cycle_id, digests_sent_at__isnull=True, digest_deferred=False).update(
            digests_sent_at=now
        )
        if not claimed:
            return 0  # a twin sent them, the cycle is gone, or its digest waits for a newer week's
        cycle = ReviewCycle.objects.select_related("project").get(pk=cycle_id)
        caught_up = _claim_waiting_digests(cycle, now=now)
        messages = _digest_messages(cycle, caught_up)
    if not messages:
        return 0
    with mailers.default as connection:  # one connection for all of them
        return connection.send_messages(messages) or 0


def _digest_messages(cycle: ReviewCycle, caught_up: list[ReviewCycle]) -> list[EmailMessage]:
    """Each expert's digest e-mail of `cycle` (and of the older weeks it `caught_up`), built but not sent."""
    project = cycle.project
    # A week closed after a newer week's digest went out (left open, then closed by hand): its digest comes second,
    # so it says it is late rather than read as the latest week's.
    newer = (
        ReviewCycle.objects.filter(project=project, week__gt=cycle.week, digests_sent_at__isnull=False)
        .order_by("-week")
        .first()
    )
    late = f" (closed late, after {newer.label})" if newer else ""
    experts = _digest_recipients(project)
    if not experts:
        return []
    figures = {
        (row.week, row.expert_id): row
        for row in ExpertWeek.objects.filter(project=project, week__in=[cycle.week, *(c.week for c in caught_up)])
    }
    queue_lines = digest_lines_by_expert(cycle)
    # A version published during the week: its figures pool two versions' labels, as its meeting page says.
    rubric_lines = rubric_published_lines(cycle)
    messages: list[EmailMessage] = []
    for user in experts:
        row = figures.get((cycle.week, user.pk))
        lines = [f"Hello {isolated(user.get_full_name() or user.username)},", ""]
        if newer:
            lines += [
                f"{cycle.label} closed late, after the digest of {newer.label} went out: these are its final figures.",
                "",
            ]
        if row and row.labels:
            # None: nothing of theirs was compared; 0.0 is a rate to tell like any other, unless over too few items.
            agreement = (
                f", agreeing with the gold answer {row.gold_rate:.0%} of the time"
                if row.gold_rate is not None and not too_few_gold_items(row.gold_items)
                else ""
            )
            lines.append(f"In {cycle.label} you labeled {counted(row.labels, 'item')}{agreement}. Thank you.")
        else:
            lines.append(f"You labeled no items in {cycle.label}.")
        if rubric_lines:
            lines += ["", *rubric_lines]
        if caught_up:
            lines += ["", "The weekly close was catching up: these earlier weeks closed with it, each with its report:"]
            for older in caught_up:
                done = figures.get((older.week, user.pk))
                labeled = (
                    f"you labeled {counted(done.labels, 'item')}" if done and done.labels else "you labeled no items"
                )
                lines.append(f"- {older.label}: {labeled} — {meeting_url(older)}")
        # The queues they may label in: the team-wide lines (the cycle.digest webhook, Slack) list every one.
        lines += ["", *queue_lines(user.pk)]
        messages.append(
            EmailMessage(
                subject=f"[expertloop] {isolated(project.name)}: your week after {cycle.label}{late}",
                body="\n".join(lines) + "\n",
                to=[user.email],
            )
        )
    return messages


def send_restated_report_notice(*, cycle_id: int, with_week: str, figures: list[list[str]]) -> int:
    """E-mail the project's leads and admins the headline figures of a closed week's report that `with_week`'s close
    (a week before it, closed after it) restated, each "was …, now …" (`_notify_restated_reports`; `figures` as
    `RestatedFigure` fields): the report they may have discussed changed. Sent once: the audit event
    `cycle.restated_report_notice_sent` claims it, so a retry finds it sent; a worker lost after the claim loses the
    notice rather than sending it twice, as the digest does. Return how many e-mails went out."""
    restated = [RestatedFigure(*figure) for figure in figures]
    with transaction.atomic():
        # The cycle's row lock (its own, not its project's): two deliveries of the same notice claim it in turn.
        cycle = (
            ReviewCycle.objects.select_for_update(no_key=True, of=("self",))
            .select_related("project")
            .filter(pk=cycle_id)
            .order_by()
            .first()
        )
        if cycle is None:
            return 0  # the cycle is gone
        claim = {"week": cycle.label, "with_week": with_week}
        project = cycle.project
        if (
            not restated
            or AuditEvent.objects.filter(
                project=project,
                action="cycle.restated_report_notice_sent",
                details__week=cycle.label,
                details__with_week=with_week,
            ).exists()
        ):
            return 0
        readers = _report_readers(project)
        if not readers:
            return 0
        AuditEvent.objects.create(
            project=project,
            action="cycle.restated_report_notice_sent",
            details=claim | {"figures": [figure.name for figure in restated], "recipients": len(readers)},
        )
    messages = [
        EmailMessage(
            subject=f"[expertloop] {isolated(project.name)}: the {cycle.label} report changed",
            body="\n".join(
                [
                    f"Hello {isolated(user.get_full_name() or user.username)},",
                    "",
                    f"{with_week} closed after {cycle.label}, and its final figures changed the {cycle.label} report, "
                    "which you may have discussed already:",
                    *(f"- {restated_figure_line(figure)}" for figure in restated),
                    "",
                    f"The meeting page: {meeting_url(cycle)}",
                ]
            )
            + "\n",
            to=[user.email],
        )
        for user in readers
    ]
    with mailers.default as connection:  # one connection for all of them
        return connection.send_messages(messages) or 0


def _digest_recipients(project: Project) -> list:
    """Whom a project's digests go to: its experts with an active account and an e-mail address, by username."""
    return _members_to_mail(project, roles=(Role.EXPERT,))


def _report_readers(project: Project) -> list:
    """Who read and discuss a project's weekly reports (the meeting page): its leads and admins with an active account
    and an e-mail address, by username."""
    return _members_to_mail(project, roles=MANAGING_ROLES)


def _members_to_mail(project: Project, *, roles: tuple[str, ...]) -> list:
    return [
        membership.user
        for membership in Membership.objects.of_active_accounts()
        .filter(project=project, role__in=roles)
        .exclude(user__email="")
        .select_related("user")
        .order_by("user__username")
    ]


def _claim_waiting_digests(cycle: ReviewCycle, *, now: datetime) -> list[ReviewCycle]:
    """Claim the project's closed weeks before `cycle` whose digests wait for a newer week's; return them, oldest
    first. In the caller's transaction: the rows are locked, newest first as every writer of several weeks locks them
    (`locked_newest_first`), so of two digests sent at once (the newest week's and a retried older close's) one claims
    each waiting week and the other finds it claimed, and a redaction or erasure rewriting the reports meanwhile
    waits or is waited for, never both."""
    waiting = list(
        ReviewCycle.objects.filter(
            project_id=cycle.project_id,
            status=CycleStatus.CLOSED,
            digest_deferred=True,
            digests_sent_at__isnull=True,
            week__lt=cycle.week,
        ).locked_newest_first()
    )
    ReviewCycle.objects.filter(pk__in=[older.pk for older in waiting]).update(digests_sent_at=now)
    for older in waiting:
        older.project = cycle.project  # for its meeting link
    return sorted(waiting, key=lambda older: older.week)


# Decisions ---------------------------------------------------------------------------------------------------


@transaction.atomic
def decide_in_week(*, user, project: Project, week: date, **decision) -> Decision:
    """`add_decision` in the project's week, its cycle made if need be. A week that ended before the project and holds
    none of its outputs and nothing to review has no meeting: InvalidInput, and no cycle is made for it (it could
    never be closed)."""
    if not has_something_to_close(project, week):
        raise InvalidInput(
            f"{week_label(week)} ended before this project was created and holds none of its outputs and nothing to "
            "review: it has no meeting to record a decision in."
        )
    return add_decision(user=user, cycle=get_cycle(project=project, week=week), **decision)


@transaction.atomic
def add_decision(
    *, user, cycle: ReviewCycle, text: str, owner: str = "", due_date: date | None = None, item_id: int | None = None
) -> Decision:
    """Record what the meeting decided (leads and admins); the same decision posted again moments later by the same
    lead is the first one (rules.twins)."""
    check_can_manage(user, cycle.project)
    text, owner = (text or "").strip(), (owner or "").strip()
    if not text:
        raise InvalidInput("Write down what was decided.")
    if len(text) > 2000:
        raise InvalidInput(f"A decision is at most 2,000 characters; this one has {len(text):,}.")
    if len(owner) > 200:
        raise InvalidInput("The owner's name is at most 200 characters.")
    if "\x00" in text + owner:
        raise InvalidInput("A decision may not contain NUL characters.")
    # The item's row lock (`lock_item_for_words`), found and taken in one statement (an item erased meanwhile is not
    # found), before the cycle's, as a `redact_outputs` batch locks its items before the weeks whose reports quote them.
    item = Item.objects.select_for_update(no_key=True).filter(pk=item_id, project=cycle.project)
    if item_id is not None and item.values_list("pk", flat=True).first() is None:
        raise NotFound("No such item.")
    # The cycle's row lock makes the same decision posted twice at the same instant wait for the first, and find it.
    ReviewCycle.objects.select_for_update(no_key=True).values_list("pk", flat=True).get(pk=cycle.pk)
    # The meeting may quote the end user's address from an output, and name its owner by an address: stored under the
    # redaction rules in force, read under the locks a `redact_outputs` run takes before it reads decisions (the
    # item's; the week's with --all), and compared as stored with a twin.
    redactor = redactor_for(cycle.project)
    text = redact_free_text(redactor, text)[: Decision._meta.get_field("text").max_length]
    owner = redact_free_text(redactor, owner)[: Decision._meta.get_field("owner").max_length]
    same = {"text": text, "owner": owner, "due_date": due_date, "item_id": item_id}
    twin = twin_of(Decision.objects.filter(cycle=cycle, created_by=user, **same))
    if twin is not None:
        return twin
    decision = Decision.objects.create(cycle=cycle, created_by=user, **same)
    AuditEvent.objects.create(
        project_id=cycle.project_id, actor=user, action="decision.added", details=_decision_details(decision)
    )
    return decision


@transaction.atomic
def delete_decision(*, user, project: Project, week: date, decision_id: int) -> None:
    """Delete a decision of the project's week (leads and admins); NotFound for one it does not have, unless this
    lead deleted it moments ago: the same delete posted again is the first one (rules.twins)."""
    check_can_manage(user, project)
    # The row lock makes a delete posted twice at the same instant wait for the first, then find the row gone.
    decision = (
        Decision.objects.select_for_update(of=("self",))
        .filter(pk=decision_id, cycle__project=project, cycle__week=week)
        .select_related("cycle")
        .first()
    )
    if decision is None:
        if audited_twin(project_id=project.pk, actor=user, action="decision.deleted", decision=decision_id):
            return
        raise NotFound("No such decision.")
    AuditEvent.objects.create(
        project_id=project.pk, actor=user, action="decision.deleted", details=_decision_details(decision)
    )
    decision.delete()


@transaction.atomic
def mark_decision_done(*, user, project: Project, decision_id: int) -> Decision:
    """Mark a decision of the project done (leads and admins): it is no longer carried to later meetings. NotFound for
    one the project does not have; a decision done already is left as it is (InvalidInput), unless this lead marked it
    moments ago: the same post again is the first one (rules.twins)."""
    check_can_manage(user, project)
    # The row lock makes a mark posted twice at the same instant wait for the first, then find the decision done.
    decision = (
        Decision.objects.select_for_update(of=("self",))
        .filter(pk=decision_id, cycle__project=project)
        .select_related("cycle", "done_by")
        .first()
    )
    if decision is None:
        raise NotFound("No such decision.")
    if decision.is_done:
        if decision.done_by_id == user.pk and is_recent(decision.done_at):
            return decision
        who = decision.done_by.username if decision.done_by else FORMER_MEMBER
        raise InvalidInput(f"This decision was already marked done by {who} on {decision.done_at:%Y-%m-%d}.")
    # The audit row first, and the decision done at its moment: the meeting page's "What changed meanwhile" reads
    # the log up to `done_at`, and a row stamped by a later clock read could fall past it (a second boundary between).
    event = AuditEvent.objects.create(
        project_id=project.pk, actor=user, action="decision.done", details=_decision_details(decision)
    )
    decision.done_at, decision.done_by = event.at, user
    decision.save(update_fields=["done_at", "done_by"])
    return decision


def _decision_details(decision: Decision) -> dict:
    return {
        "decision": decision.pk,
        "week": week_label(decision.cycle.week),
        "text": decision.text,
        "owner": decision.owner,
        "due_date": decision.due_date.isoformat() if decision.due_date else None,
        "item": decision.item_id,
    }
