"""Reads behind the operator's health view (/readyz) and the failure notices leads see on the meeting page."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from labeling.models import (
    CycleStatus,
    DeliveryStatus,
    OutboxMessage,
    Project,
    ReviewCycle,
    RoutingState,
    WebhookDelivery,
    WorkerHeartbeat,
    week_label,
)
from labeling.rules.calendar import created_week, current_week
from labeling.rules.moments import utc_moment
from labeling.rules.task_args import short_repr
from labeling.rules.weekly_close import CloseRetry, LeftOpen, RefreshRetry, failure_retry, tried_again


def failing_cycles(project: Project) -> list[ReviewCycle]:
    """The project's open cycles whose last close or refresh failed, newest week first, each with `retry`
    (`rules.weekly_close.failure_retry`: whether beat tries it again, or its retry is overdue, as the close_failed
    alert says of a close): the notice must not promise a retry that is not coming. What the notice asks of it, so
    the template restates none of the rule's values: `retry_overdue`, `refresh_ended` (beat refreshes only the
    running week) and `why_left_open` (a close beat never retries: why it leaves the week open; else None)."""
    now = timezone.now()
    created, running = created_week(project), current_week(project, now)
    cycles = list(
        ReviewCycle.objects.filter(project=project, status=CycleStatus.OPEN, failed_at__isnull=False).order_by("-week")
    )
    for cycle in cycles:
        cycle.retry = failure_retry(cycle, created=created, running=running, now=now)
        cycle.retry_overdue = cycle.retry in (CloseRetry.OVERDUE, RefreshRetry.OVERDUE)
        cycle.refresh_ended = cycle.retry == RefreshRetry.ENDED
        cycle.why_left_open = LeftOpen.BEFORE_THE_PROJECT if cycle.retry == CloseRetry.LEFT_TO_A_LEAD else None
    return cycles


def worker_state(now: datetime | None = None) -> dict:
    """Whether a worker ran beat's heartbeat task lately: "ok", "silent" (none for 3 beats) or "never"."""
    now = now or timezone.now()
    last = WorkerHeartbeat.objects.aggregate(last=Max("seen_at"))["last"]
    if last is None:
        return {"state": "never", "last_seen": None}
    silent = now - last > timedelta(seconds=3 * settings.WORKER_HEARTBEAT_SECONDS)
    return {"state": "silent" if silent else "ok", "last_seen": last}


def webhooks_state(now: datetime | None = None) -> str:
    """ "stalled" when a webhook delivery is still pending WEBHOOK_STALL_SECONDS after it was due, else "ok".

    Deliveries have a queue and a worker of their own, which beat's heartbeat (default queue) does not reach; the
    sweep picks due deliveries every few seconds, so one overdue by minutes means nothing is taking them."""
    overdue = (now or timezone.now()) - timedelta(seconds=settings.WEBHOOK_STALL_SECONDS)
    pending = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lt=overdue)
    return "stalled" if pending.exists() else "ok"  # one index probe: webhook_delivery_pending


# Work the outbox gave up on degrades /readyz for this long after: an operator sees it for a day, and a probe is not
# degraded for the OUTBOX_KEEP_DAYS the row is kept.
GIVEN_UP_DEGRADES_FOR = timedelta(hours=24)


def _given_up_lately(now: datetime):
    return OutboxMessage.objects.filter(given_up_at__gte=now - GIVEN_UP_DEGRADES_FOR)


def outbox_state(now: datetime) -> str:
    """ "given_up" while the outbox gave up on work within GIVEN_UP_DEGRADES_FOR (and no straggler finished it since:
    `mark_finished` clears it), else "ok". One index probe: outbox_given_up."""
    return "given_up" if _given_up_lately(now).exists() else "ok"


def given_up_work(now: datetime, limit: int = 20) -> list[dict]:
    """The work the outbox gave up on within GIVEN_UP_DEGRADES_FOR, newest first, its args as the logs show them (a
    routing batch carries 1,000 ids). One index probe: outbox_given_up."""
    rows = _given_up_lately(now).only("pk", "task", "args", "given_up_at", "last_error").order_by("-given_up_at")
    return [
        {
            "id": message.pk,
            "task": message.task,
            "args": short_repr(message.args),
            "given_up_at": utc_moment(message.given_up_at),
            "error": message.last_error,
        }
        for message in rows[:limit]
    ]


def worker_heartbeats() -> list[dict]:
    return [
        {"hostname": hostname, "seen_at": utc_moment(seen_at)}
        for hostname, seen_at in WorkerHeartbeat.objects.order_by("-seen_at").values_list("hostname", "seen_at")[:20]
    ]


def projects_health() -> list[dict]:
    """Per project: the last closed week, the open weeks whose close or refresh failed, the routing sweep.

    Three queries, whatever the number of projects.
    """
    # Each project's newest closed week with its own closed_at (a retried older close may have finished later).
    last_closed = {
        row["project_id"]: row
        for row in ReviewCycle.objects.filter(
            status=CycleStatus.CLOSED,
            week=Subquery(
                ReviewCycle.objects.filter(project_id=OuterRef("project_id"), status=CycleStatus.CLOSED)
                .order_by("-week")
                .values("week")[:1]
            ),
        ).values("project_id", "week", "closed_at")
    }
    failing: dict[int, list[ReviewCycle]] = {}
    for cycle in ReviewCycle.objects.filter(status=CycleStatus.OPEN, failed_at__isnull=False).order_by("-week"):
        failing.setdefault(cycle.project_id, []).append(cycle)
    routing = {state.project_id: state for state in RoutingState.objects.all()}
    now = timezone.now()
    rows = []
    # The fields the calendar reads: whether beat tries a failure again depends on the project's weeks.
    for project in Project.objects.order_by("slug").only("pk", "slug", "time_zone", "cycle_weekday", "created_at"):
        closed, state, failures = last_closed.get(project.pk), routing.get(project.pk), failing.get(project.pk, [])
        # The project's calendar, only where a failure asks it (most projects have none).
        created, running = (created_week(project), current_week(project, now)) if failures else (None, None)
        rows.append(
            {
                "project": project.slug,
                "last_close": {"week": week_label(closed["week"]), "closed_at": utc_moment(closed["closed_at"])}
                if closed
                else None,
                "failures": [
                    {
                        "week": cycle.label,
                        "kind": cycle.failure_kind,
                        "error": cycle.last_error,
                        "failed_at": utc_moment(cycle.failed_at),
                        "attempts": cycle.attempts,
                        # None when beat does not try it again: a recorded next attempt that is not coming.
                        "next_attempt_at": utc_moment(cycle.next_attempt_at)
                        if tried_again(failure_retry(cycle, created=created, running=running, now=now))
                        else None,
                    }
                    for cycle in failures
                ],
                "routing": {
                    "succeeded_at": utc_moment(state.succeeded_at) if state else None,
                    "failed_at": utc_moment(state.failed_at) if state else None,
                    "error": state.last_error if state else "",
                    "failures": state.failures if state else 0,
                },
            }
        )
    return rows
