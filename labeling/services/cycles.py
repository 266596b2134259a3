"""The weekly review cycle: close a week (resolve → datasets → metrics → report → next cycle → digests),
build its report, and record the meeting's decisions.

Every step is idempotent: gold answers and metric rows are recomputed, dataset builds make no new
version when nothing changed, and the cycle is closed by a conditional update whose row count says
which of two twin runs froze the report. Closing a closed week returns it unchanged.
"""

import logging
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.mail import EmailMessage, mailers
from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from labeling.exceptions import InvalidInput, NotFound, WeekNotOver
from labeling.metrics.retention import mean_curves
from labeling.models import (
    AgreementMetric,
    AuditEvent,
    Comment,
    CycleStatus,
    Dataset,
    Decision,
    ExpertWeek,
    Flag,
    Item,
    Membership,
    Project,
    QualityMetric,
    QueueWeek,
    RetentionCell,
    ReviewCycle,
    Role,
    week_label,
    work_key,
)
from labeling.rules.access import check_can_manage
from labeling.rules.calendar import current_week, week_end
from labeling.rules.gold import gold_answers, open_ties
from labeling.rules.text import excerpt
from labeling.selectors.gold import adjudication_queue

from . import outbox
from .datasets import build_version
from .metrics import questions_of, refresh_week_metrics, verdict_question
from .resolution import resolve_stale_items
from .retention import refresh_retention

logger = logging.getLogger(__name__)

# The years a week label may name: far enough either side of any real data, and far inside Python's dates
# (year 1 and 9999 overflow as soon as a helper steps a week or a time zone away).
TREND_WEEKS = 12
RETENTION_COHORTS = 8
RETENTION_OFFSETS = 8
AGENDA_LIMIT = 50
MOVERS = 5
MOVER_MIN_ITEMS = 5


def get_cycle(*, project: Project, week: date) -> ReviewCycle:
    """The project's cycle for the week, made (open) if it does not exist yet."""
    cycle, _ = ReviewCycle.objects.get_or_create(project=project, week=week)
    return cycle


def request_close(*, project: Project, week: date, closed_by=None) -> bool:
    """Queue the close of a week that is over (through the outbox); False if it is closed already.

    A week still running raises WeekNotOver. Asking again while a close is queued adds nothing.
    """
    if ReviewCycle.objects.filter(project=project, week=week, status=CycleStatus.CLOSED).exists():
        return False
    if week >= current_week(project):
        raise WeekNotOver(f"The week {week_label(week)} is still running: close it once it has ended.")
    closed_by_id = closed_by.pk if closed_by is not None and closed_by.pk else None
    outbox.enqueue(
        task="labeling.close_week",
        args=[project.pk, week.isoformat(), closed_by_id],
        dedupe_key=work_key("close_week", project.pk, week.isoformat()),
    )
    return True


def request_refresh(*, project: Project, week: date) -> bool:
    """Queue a recompute of the week's figures (through the outbox); False if the week is closed (frozen)."""
    if ReviewCycle.objects.filter(project=project, week=week, status=CycleStatus.CLOSED).exists():
        return False
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
    """Recompute the week's metric rows and every cohort's retention (what the meeting page shows).

    A failure is recorded on the week's cycle (see `record_failure`) and raised; a success clears a
    recorded refresh failure (not a close failure: only a close proves the close works).
    """
    try:
        refresh_week_metrics(project=project, week=week)
        refresh_retention(project=project, now=now)
    except Exception as exc:
        _record_and_log(project=project, week=week, kind="refresh", error=exc)
        raise
    ReviewCycle.objects.filter(project=project, week=week, failure_kind="refresh").update(**_NO_FAILURE)


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


def close_week(*, project_id: int, week: date, closed_by=None, now: datetime | None = None) -> ReviewCycle | None:
    """Close the project's cycle week: resolve gold answers, rebuild auto datasets, compute the metrics,
    freeze the report, open the next cycle and send the experts their digest.

    Returns the closed cycle (None if the project is gone). A closed week is returned unchanged; a week
    still running raises WeekNotOver. Step timings are logged and kept in the report's `close.steps`.
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
    cycle = get_cycle(project=project, week=week)
    if cycle.is_closed:
        return cycle
    try:
        return _close(project, cycle, week=week, closed_by=closed_by, now=now)
    except Exception as exc:
        # Recorded for the leads and /readyz; the close sweep tries again after a growing delay.
        _record_and_log(project=project, week=week, kind="close", error=exc)
        raise


def _close(project: Project, cycle: ReviewCycle, *, week: date, closed_by, now: datetime) -> ReviewCycle:
    timings: dict[str, float] = {}
    with _timed(timings, "resolve"):
        resolved = resolve_stale_items(project_id=project.pk, through_week=week)
    with _timed(timings, "datasets"):
        datasets = _rebuild_datasets(project)
    with _timed(timings, "metrics"):
        refresh_week_metrics(project=project, week=week)
    with _timed(timings, "retention"):
        refresh_retention(project=project, now=now)
    with _timed(timings, "report"):
        report = build_report(project=project, week=week, now=now, status=CycleStatus.CLOSED)
    # A list, not a mapping: jsonb does not keep the order of keys, and the steps have one.
    steps = [{"step": step, "seconds": seconds} for step, seconds in timings.items()]
    report["close"] = {"resolved_items": resolved, "datasets": datasets, "steps": steps}

    with transaction.atomic():
        won = ReviewCycle.objects.filter(pk=cycle.pk, status=CycleStatus.OPEN).update(
            status=CycleStatus.CLOSED, report=report, closed_at=now, closed_by=closed_by, **_NO_FAILURE
        )
        get_cycle(project=project, week=week + timedelta(days=7))
        if won:
            AuditEvent.objects.create(
                project=project, actor=closed_by, action="cycle.closed", details={"week": week_label(week), **timings}
            )
            transaction.on_commit(partial(send_digests, cycle_id=cycle.pk), robust=True)
    logger.info("closed %s %s in %s", project.slug, week_label(week), timings)
    cycle.refresh_from_db()
    return cycle


def _rebuild_datasets(project: Project) -> list[dict]:
    """Build a new version of each auto dataset; a failed build is reported, and the close goes on."""
    outcomes = []
    for dataset in Dataset.objects.filter(project=project, auto_rebuild=True).order_by("slug"):
        try:
            version = build_version(dataset_id=dataset.pk)
        except Exception as exc:  # the build marked its version failed; the meeting still gets its report
            logger.exception("dataset %s failed to build during the weekly close", dataset)
            outcomes.append({"dataset": dataset.slug, "version": None, "error": str(exc)[:500]})
            continue
        outcomes.append({"dataset": dataset.slug, "version": version.number if version else None, "error": ""})
    return outcomes


def due_weeks(now: datetime | None = None) -> list[tuple[int, date]]:
    """(project id, week) of each project whose last ended week is not closed yet (what beat closes).

    A week whose close failed is due again only from its `next_attempt_at` (exponential backoff). A project
    whose week cannot even be computed (say, a time zone that tzdata no longer has) is logged and skipped:
    it never keeps the others from closing.
    """
    now = now or timezone.now()
    grace = timedelta(hours=settings.CYCLE_CLOSE_GRACE_HOURS)
    ended = {}
    for project in Project.objects.all():
        try:
            week = current_week(project, now - grace) - timedelta(days=7)
            if project.created_at >= week_end(project, week):
                continue  # the project did not exist that week
        except Exception:
            logger.exception("cannot tell which week of %s is due; the sweep goes on", project.slug)
            continue
        ended[project.pk] = week
    # One query for every project's cycle of its ended week: closed, or a failed close still backing off.
    not_due = {
        project_id
        for project_id, week, status, kind, next_attempt_at in ReviewCycle.objects.filter(
            project_id__in=ended, week__in=set(ended.values())
        ).values_list("project_id", "week", "status", "failure_kind", "next_attempt_at")
        if ended[project_id] == week
        and (status == CycleStatus.CLOSED or kind == "close" and next_attempt_at and next_attempt_at > now)
    }
    return [(project_id, week) for project_id, week in ended.items() if project_id not in not_due]


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


def send_digests(*, cycle_id: int) -> int:
    """E-mail each expert of the project their week: last week's work and this week's queues. Sent once."""
    now = timezone.now()
    claimed = ReviewCycle.objects.filter(pk=cycle_id, digests_sent_at__isnull=True).update(digests_sent_at=now)
    if not claimed:
        return 0  # a twin sent them (at most once: a crash after the claim loses a digest, never doubles it)
    cycle = ReviewCycle.objects.select_related("project").get(pk=cycle_id)
    project = cycle.project
    experts = list(
        Membership.objects.filter(project=project, role=Role.EXPERT)
        .exclude(user__email="")
        .select_related("user")
        .order_by("user__username")
    )
    if not experts:
        return 0
    figures = {row.expert_id: row for row in ExpertWeek.objects.filter(project=project, week=cycle.week)}
    queues = list(project.queues.active().order_by("-priority", "slug"))
    open_now = dict(
        Item.objects.filter(queue__in=queues, status="open")
        .values("queue_id")
        .annotate(n=Count("pk"))
        .values_list("queue_id", "n")
    )
    base = settings.SITE_URL.rstrip("/")
    messages = []
    for membership in experts:
        user = membership.user
        row = figures.get(user.pk)
        lines = [f"Hello {user.get_full_name() or user.username},", ""]
        if row and row.labels:
            agreement = f", agreeing with the gold answer {row.gold_rate:.0%} of the time" if row.gold_rate else ""
            lines.append(f"In {cycle.label} you labeled {row.labels} item(s){agreement}. Thank you.")
        else:
            lines.append(f"You labeled no items in {cycle.label}.")
        lines += ["", f"This week in {project.name}:"]
        for queue in queues:
            quota = f", quota {queue.weekly_quota}" if queue.weekly_quota else ""
            link = base + reverse("labeling:next-item", args=[project.slug, queue.slug])
            lines.append(f"- {queue.name}: {open_now.get(queue.pk, 0)} item(s) waiting{quota} — {link}")
        lines += ["", f"The weekly report: {base}{reverse('labeling:meeting-week', args=[project.slug, cycle.label])}"]
        messages.append(
            EmailMessage(
                subject=f"[expertloop] {project.name}: your week after {cycle.label}",
                body="\n".join(lines) + "\n",
                to=[user.email],
            )
        )
    with mailers.default as connection:  # one connection for all of them
        return connection.send_messages(messages) or 0


# The report --------------------------------------------------------------------------------------------------


def build_report(*, project: Project, week: date, now: datetime | None = None, status: str | None = None) -> dict:
    """The week's report (see DESIGN: the meeting page and the API read this format) from stored rows."""
    now = now or timezone.now()
    if status is None:
        cycle = ReviewCycle.objects.filter(project=project, week=week).first()
        status = cycle.status if cycle else CycleStatus.OPEN
    questions = questions_of(project)
    verdict = verdict_question(project, questions)
    verdict_key = verdict["key"] if verdict else None
    previous = week - timedelta(days=7)
    quality = list(
        QualityMetric.objects.filter(project=project, week__gte=week - timedelta(weeks=TREND_WEEKS - 1), week__lte=week)
        .select_related("queue")
        .order_by("week", "queue__slug", "question")
    )
    agreement = {
        (row.week, row.question): row
        for row in AgreementMetric.objects.filter(project=project, week__in=[week, previous])
    }
    queue_weeks = list(
        QueueWeek.objects.filter(project=project, week__in=[week, previous])
        .select_related("queue")
        .order_by("queue__slug")
    )
    trend = _pass_rate_trend(quality, verdict_key, week)
    this_week = trend[-1] if trend and trend[-1]["week"] == week_label(week) else None
    last_week = next((point for point in trend if point["week"] == week_label(previous)), None)
    retention = _retention(project, week)
    return {
        "version": 1,
        "project": project.slug,
        "project_name": project.name,
        "week": week_label(week),
        "week_start": week.isoformat(),
        "week_end": (week + timedelta(days=6)).isoformat(),
        "status": str(status),
        "generated_at": now.isoformat(),
        "verdict_question": verdict_key,
        "headline": {
            "pass_rate": _headline_pass_rate(this_week, last_week),
            "alpha": _headline_alpha(agreement, verdict_key, week, previous),
            "labels": _headline_labels(queue_weeks, week, previous),
            "retention_week1": retention.pop("week1"),
        },
        "quality": [_quality_entry(row) for row in quality if row.week == week],
        "pass_rate_trend": trend,
        "agreement": [_agreement_entry(row) for (row_week, _), row in sorted(agreement.items()) if row_week == week],
        "throughput": {
            "queues": [_queue_entry(row) for row in queue_weeks if row.week == week],
            "experts": [
                {
                    "expert": row.expert.username,
                    "labels": row.labels,
                    "skips": row.skips,
                    "flags": row.flags,
                    "median_seconds": row.median_seconds,
                    "gold_rate": row.gold_rate,
                    "gold_compared": sum(c["compared"] for c in row.gold_agreement.values()),
                }
                for row in ExpertWeek.objects.filter(project=project, week=week)
                .select_related("expert")
                .order_by("expert__username")
            ],
        },
        "retention": retention,
        "agenda": {
            "adjudication": _adjudication_agenda(project),
            "flags": _flag_agenda(project, week),
            "movers": _movers(project, verdict_key, week),
        },
    }


def _change(value, previous):
    return None if value is None or previous is None else value - previous


def _pass_rate_trend(quality: list[QualityMetric], verdict_key: str | None, week: date) -> list[dict]:
    """The verdict question's pass rate per week, queues pooled, with its Wilson interval."""
    from labeling.metrics.quality import wilson_interval

    pooled: dict[date, list[int]] = {}
    for row in quality:
        if row.question == verdict_key and row.n:
            passes_n = pooled.setdefault(row.week, [0, 0])
            passes_n[0] += row.passes or 0
            passes_n[1] += row.n
    trend = []
    for row_week, (passes, n) in sorted(pooled.items()):
        low, high = wilson_interval(passes, n)
        trend.append(
            {
                "week": week_label(row_week),
                "week_start": row_week.isoformat(),
                "value": passes / n,
                "ci_low": low,
                "ci_high": high,
                "n": n,
                "passes": passes,
            }
        )
    return trend


def _headline_pass_rate(this_week: dict | None, last_week: dict | None) -> dict | None:
    if this_week is None:
        return None
    previous = last_week["value"] if last_week else None
    return {
        **{key: this_week[key] for key in ("value", "ci_low", "ci_high", "n", "passes")},
        "previous": previous,
        "change": _change(this_week["value"], previous),
    }


def _headline_alpha(agreement: dict, verdict_key: str | None, week: date, previous: date) -> dict | None:
    row = agreement.get((week, verdict_key))
    if row is None:
        return None
    before = agreement.get((previous, verdict_key))
    previous_alpha = before.alpha if before else None
    return {
        "question": verdict_key,
        "value": row.alpha,
        "previous": previous_alpha,
        "change": _change(row.alpha, previous_alpha),
        "units": row.units,
    }


def _headline_labels(queue_weeks: list[QueueWeek], week: date, previous: date) -> dict:
    current = [row for row in queue_weeks if row.week == week]
    done = sum(row.labels for row in current)
    previous_done = sum(row.labels for row in queue_weeks if row.week == previous)
    quotas = [row.quota for row in current]
    return {
        "done": done,
        "wanted": sum(row.labels_wanted for row in current),
        "quota": sum(quotas) if quotas and None not in quotas else None,
        "items": sum(row.items for row in current),
        "previous_done": previous_done,
        "change": done - previous_done,
    }


def _quality_entry(row: QualityMetric) -> dict:
    return {
        "queue": row.queue.slug,
        "queue_name": row.queue.name,
        "question": row.question,
        "kind": row.kind,
        "n": row.n,
        "passes": row.passes,
        "value": row.value,
        "ci_low": row.ci_low,
        "ci_high": row.ci_high,
        "shares": row.shares,
    }


def _agreement_entry(row: AgreementMetric) -> dict:
    fields = ("question", "kind", "level", "alpha", "alpha_interval", "fleiss_kappa", "cohen_kappa")
    return {
        **{name: getattr(row, name) for name in fields},
        "units": row.units,
        "labels": row.labels,
        "experts": row.experts,
    }


def _queue_entry(row: QueueWeek) -> dict:
    fields = ("quota", "items", "items_complete", "labels", "labels_wanted", "backlog", "median_seconds")
    return {"queue": row.queue.slug, "queue_name": row.queue.name, **{name: getattr(row, name) for name in fields}}


def _rate(returned: int, users: int) -> float | None:
    return returned / users if users else None


def _retention(project: Project, week: date) -> dict:
    """The cohort grid of the last cohorts, the verdict-split curves, and the week-1 headline."""
    first = week - timedelta(weeks=RETENTION_COHORTS - 1)
    cells = [
        {
            "segment": cell.segment,
            "cohort_week": cell.cohort_week,
            "offset": cell.offset,
            "cohort_users": cell.cohort_users,
            "active_on": cell.active_on,
            "active_on_or_after": cell.active_on_or_after,
            "incomplete": cell.incomplete,
        }
        for cell in RetentionCell.objects.filter(project=project, cohort_week__lte=week).order_by(
            "segment", "cohort_week", "offset"
        )
    ]
    # A cell past the report's week is in the future as far as this report is concerned.
    visible = [c for c in cells if c["cohort_week"] + timedelta(weeks=c["offset"]) <= week]
    cohorts: dict[date, dict] = {}
    for cell in visible:
        if cell["segment"] != "all" or cell["cohort_week"] < first:
            continue
        cohort = cohorts.setdefault(
            cell["cohort_week"],
            {
                "cohort_week": week_label(cell["cohort_week"]),
                "cohort_start": cell["cohort_week"].isoformat(),
                "users": cell["cohort_users"],
                "cells": [],
            },
        )
        cohort["cells"].append(
            {
                "offset": cell["offset"],
                "active_on": cell["active_on"],
                "rate": _rate(cell["active_on"], cell["cohort_users"]),
                "active_on_or_after": cell["active_on_or_after"],
                "rate_on_or_after": _rate(cell["active_on_or_after"], cell["cohort_users"]),
                "incomplete": cell["incomplete"] or cell["cohort_week"] + timedelta(weeks=cell["offset"]) == week,
            }
        )
    complete = [c for c in visible if c["cohort_week"] + timedelta(weeks=c["offset"]) < week or not c["incomplete"]]
    curves = mean_curves(complete, offsets=RETENTION_OFFSETS, last_cohort=week)

    def week1(cohort_week: date, segment: str) -> dict:
        cell = next(
            (c for c in visible if c["segment"] == segment and c["cohort_week"] == cohort_week and c["offset"] == 1),
            None,
        )
        if cell is None:
            return {"rate": None, "returned": 0, "users": 0}
        return {
            "rate": _rate(cell["active_on"], cell["cohort_users"]),
            "returned": cell["active_on"],
            "users": cell["cohort_users"],
        }

    cohort_week = week - timedelta(days=7)
    headline = {
        "cohort_week": week_label(cohort_week),
        **{segment: week1(cohort_week, segment) for segment in ("all", "pass", "fail")},
        "previous_all": week1(cohort_week - timedelta(days=7), "all"),
    }
    return {"cohorts": list(cohorts.values()), "curves": curves, "week1": headline if cells else None}


def _adjudication_agenda(project: Project) -> list[dict]:

    waiting, _ = adjudication_queue(project, limit=AGENDA_LIMIT)
    return [
        {
            "item_id": row.item.pk,
            "queue": row.item.queue.slug,
            "week": week_label(row.item.week),
            "questions": open_ties(row.resolution.automatic, row.resolution.adjudicated),
            "excerpt": row.excerpt,
        }
        for row in waiting
    ]


def _flag_agenda(project: Project, week: date) -> list[dict]:
    """Open flags on the items of the week and earlier ones, with the items' comments."""
    flags = list(
        Flag.objects.filter(item__project=project, item__week__lte=week, resolved_at__isnull=True)
        .select_related("item__queue", "item__output", "expert")
        .defer("item__output__input", "item__output__context", "item__output__metadata")
        .order_by("created_at", "pk")[:AGENDA_LIMIT]
    )
    comments: dict[int, list[dict]] = {}
    for comment in Comment.objects.filter(item_id__in={flag.item_id for flag in flags}).select_related("author"):
        comments.setdefault(comment.item_id, []).append(
            {"author": comment.author.username, "body": comment.body, "created_at": comment.created_at.isoformat()}
        )
    return [
        {
            "flag_id": flag.pk,
            "item_id": flag.item_id,
            "queue": flag.item.queue.slug,
            "expert": flag.expert.username,
            "note": flag.note,
            "created_at": flag.created_at.isoformat(),
            "excerpt": excerpt(flag.item.output.output, 200),
            "comments": comments.get(flag.item_id, []),
        }
        for flag in flags
    ]


def _movers(project: Project, verdict_key: str | None, week: date) -> list[dict]:
    """Pass rate by output tag this week against last week: the biggest changes first."""
    if verdict_key is None:
        return []
    previous = week - timedelta(days=7)
    counts: dict[tuple[str, date], list[int]] = {}
    rows = (
        Item.objects.filter(project=project, week__in=[week, previous], resolution__isnull=False)
        .values_list("week", "output__tags", "resolution__automatic", "resolution__adjudicated")
        .order_by()
    )
    for row_week, tags, automatic, adjudicated in rows:
        verdict = gold_answers(automatic, adjudicated).get(verdict_key)
        if verdict is None:
            continue
        for tag in set(tags or []):
            passes_n = counts.setdefault((tag, row_week), [0, 0])
            passes_n[0] += verdict is True
            passes_n[1] += 1
    movers = []
    for tag in {tag for tag, _ in counts}:
        now_counts, before = counts.get((tag, week)), counts.get((tag, previous))
        if not now_counts or not before or min(now_counts[1], before[1]) < MOVER_MIN_ITEMS:
            continue
        value, previous_value = now_counts[0] / now_counts[1], before[0] / before[1]
        movers.append(
            {
                "tag": tag,
                "value": value,
                "previous": previous_value,
                "change": value - previous_value,
                "n": now_counts[1],
                "previous_n": before[1],
            }
        )
    movers.sort(key=lambda mover: (-abs(mover["change"]), mover["tag"]))
    return movers[:MOVERS]


# Decisions ---------------------------------------------------------------------------------------------------


def add_decision(
    *, user, cycle: ReviewCycle, text: str, owner: str = "", due_date: date | None = None, item_id: int | None = None
) -> Decision:
    """Record what the meeting decided (leads and admins)."""
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
    if item_id is not None and not Item.objects.filter(pk=item_id, project=cycle.project).exists():
        raise NotFound("No such item.")
    return Decision.objects.create(
        cycle=cycle, text=text, owner=owner, due_date=due_date, item_id=item_id, created_by=user
    )


def delete_decision(*, user, decision: Decision) -> None:
    check_can_manage(user, decision.cycle.project)
    decision.delete()


def decisions_of(cycle: ReviewCycle) -> list[dict]:
    """The cycle's decisions as plain data (for the Markdown export and the API)."""
    return [
        {
            "id": decision.pk,
            "text": decision.text,
            "owner": decision.owner,
            "due_date": decision.due_date.isoformat() if decision.due_date else None,
            "item_id": decision.item_id,
            "created_by": decision.created_by.username if decision.created_by else None,
            "created_at": decision.created_at.isoformat(),
        }
        for decision in cycle.decisions.select_related("created_by")
    ]
