"""Alerts: evaluate a project's rules (hourly, and after each close), open an alert once per condition, keep it while
the condition holds, resolve it when it clears; leads acknowledge them. README "Alerts".

An alert opened is told once: an e-mail to the project's leads (on commit) and the `alert.opened` webhook event
(Slack too); a resolution sends `alert.resolved`. An alert whose reason changes while it holds (`_why_changed`) is
retold: its text replaced and the leads mailed once more, once per change. "Once" holds under concurrency: the
partial unique constraint allows one unresolved alert per (project, rule, key), so of two evaluations at once only
the one whose insert wins tells anyone; a resolution and a retelling are conditional updates whose row count says
who did it.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from labeling.exceptions import InvalidWeek
from labeling.models import (
    Alert,
    AlertRule,
    AlertState,
    AuditEvent,
    ChangeDimension,
    ChangeKind,
    CycleStatus,
    Label,
    Membership,
    Output,
    Project,
    Queue,
    QueueWeek,
    ReviewCycle,
    Slot,
    SlotState,
    WeekChange,
    work_key,
)
from labeling.rules import alerts as rules
from labeling.rules.access import check_can_manage, operates_all_projects, queue_labelers
from labeling.rules.calendar import current_week, week_from_label
from labeling.rules.text import isolated
from labeling.rules.twins import is_recent
from labeling.selectors.members import manager_emails

from . import outbox, webhook_events

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Evaluation:
    opened: list[Alert]
    kept: int
    resolved: list[Alert]


def evaluate_alerts(*, project: Project, now: datetime | None = None) -> Evaluation:
    """Open an alert for each condition newly found, refresh `last_seen_at` of those still holding (acknowledged
    ones stay acknowledged), and resolve those whose condition cleared. Reads a fixed number of queries."""
    now = now or timezone.now()
    unresolved = {}
    for alert in Alert.objects.unresolved().filter(project=project):
        alert.project = project  # the webhook events read it
        unresolved[alert.rule, alert.key] = alert
    facts = _facts(project, now, held=unresolved)
    found = {(finding.rule, finding.key): finding for finding in rules.findings(facts)}
    with transaction.atomic():
        kept = [alert.pk for key, alert in unresolved.items() if key in found]
        if kept:
            Alert.objects.unresolved().filter(pk__in=kept).update(last_seen_at=now)
        for key, alert in unresolved.items():
            if key in found and _why_changed(alert, found[key]):
                _retell(alert, found[key])
        resolved = [alert for key, alert in unresolved.items() if key not in found and _resolve(alert, now)]
        new = [finding for key, finding in found.items() if key not in unresolved]
        opened = [alert for finding in new if (alert := _open(project, finding, now)) is not None]
    return Evaluation(opened=opened, kept=len(kept), resolved=resolved)


def _why_changed(alert: Alert, finding: rules.Finding) -> bool:
    """An alert keeps the text it opened with while it holds, except when a fact that is its reason changed
    (`rules.REASON_FACTS`: no eligible expert left, a failed close's retry): then what the lead can do changed too."""
    return any(
        alert.facts.get(fact, stored_before) != finding.facts.get(fact, stored_before)
        for fact, stored_before in rules.REASON_FACTS.items()
    )


def _retell(alert: Alert, finding: rules.Finding) -> None:
    """Give the alert its finding's title, detail and facts (its state and times stay: it is the same alert), and tell
    the leads its new reason by e-mail, once: the update is conditional on the text it replaces, so of two
    evaluations at once only the one whose update wins mails, and the next evaluation finds nothing changed."""
    title, detail = finding.title[:300], finding.detail
    won = Alert.objects.filter(pk=alert.pk, title=alert.title, detail=alert.detail).update(
        title=title, detail=detail, facts=finding.facts
    )
    alert.title, alert.detail, alert.facts = title, detail, finding.facts
    if won:
        transaction.on_commit(partial(send_alert_email, alert_id=alert.pk, retold=True), robust=True)


def _open(project: Project, finding: rules.Finding, now: datetime) -> Alert | None:
    """Insert the alert in a savepoint; None when an unresolved one of the same rule and key exists already (a twin
    evaluation opened it first: it tells the leads, this one does not)."""
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                project=project,
                rule=finding.rule,
                key=finding.key[:200],
                title=finding.title[:300],
                detail=finding.detail,
                facts=finding.facts,
                opened_at=now,
                last_seen_at=now,
            )
    except IntegrityError:
        return None
    alert.project = project
    webhook_events.alert_opened(alert)
    transaction.on_commit(partial(send_alert_email, alert_id=alert.pk), robust=True)
    return alert


def _resolve(alert: Alert, now: datetime) -> bool:
    won = Alert.objects.unresolved().filter(pk=alert.pk).update(state=AlertState.RESOLVED, resolved_at=now)
    if not won:
        return False  # a twin evaluation resolved it
    alert.state, alert.resolved_at = AlertState.RESOLVED, now
    webhook_events.alert_resolved(alert)
    return True


def _facts(project: Project, now: datetime, *, held: dict[tuple[str, str], Alert]) -> rules.AlertFacts:
    """What the rules need, read from stored rows in ten queries whatever the project's size (eleven when a queue
    may newly be idle: tests/labeling/services/test_alerts.py pins both)."""
    held_keys: dict[str, set[str]] = defaultdict(set)
    for rule, key in held:
        held_keys[rule].add(key)
    running = current_week(project, now)
    candidates = [week for week in [rules.last_overdue_week(project, now)] if week is not None]
    for label in held_keys[AlertRule.CLOSE_OVERDUE]:
        try:
            candidates.append(week_from_label(project, label))
        except InvalidWeek:
            continue  # not a week (cannot happen for keys this module wrote): the alert resolves

    cycles = {
        row[0]: rules.CycleFact(*row)
        for row in ReviewCycle.objects.filter(project=project)
        .filter(Q(status=CycleStatus.OPEN, failure_kind="close") | Q(week__in=candidates))
        .values_list("week", "status", "failure_kind", "failed_at", "attempts", "next_attempt_at")
    }
    last_closed: date | None = (
        ReviewCycle.objects.filter(project=project, status=CycleStatus.CLOSED)
        .order_by("-week")
        .values_list("week", flat=True)
        .first()
    )
    weeks = {running} | ({last_closed} if last_closed else set())
    # The same row and counts the meeting page shows for the week (selectors/report.py), so the two cannot disagree.
    closed_week = {
        queue_id: rules.ClosedQueueWeek(*figures)
        for queue_id, *figures in QueueWeek.objects.filter(project=project, week=last_closed).values_list(
            "queue_id", "quota", "items", "items_complete", "labels", "labels_wanted"
        )
    }
    cutoff = rules.idle_cutoff(now)
    members = Membership.objects.filter(project=project).values("user_id")
    # Through the (expert, created_at) index: only the labels of the project's members since the cutoff are read.
    last_labels = dict(
        Label.objects.filter(item__project=project, created_at__gte=cutoff, expert_id__in=members)
        .values("item__queue_id")
        .annotate(last=Max("created_at"))
        .values_list("item__queue_id", "last")
    )
    # The backlog is read from the slots, not the running week's QueueWeek row: that row appears only once routing
    # samples the week, so an idle queue's alert would resolve at each week flip and open again days later. Any
    # week not closed yet counts (the week just ended stays open through the close's grace).
    open_slots = (
        Slot.objects.filter(queue=OuterRef("pk"))
        .exclude(state=SlotState.DONE)
        .exclude(item__week__in=ReviewCycle.objects.filter(project=project, status=CycleStatus.CLOSED).values("week"))
        .order_by()
        .values("queue")
        .annotate(count=Count("pk"))
        .values("count")
    )
    rows = list(
        Queue.objects.filter(project=project)
        .annotate(backlog=Coalesce(Subquery(open_slots), Value(0)))
        .values_list(
            "pk", "slug", "name", "weekly_quota", "created_at", "is_active", "backlog", "paused_at", "resumed_at"
        )
    )
    # One more query, only when a queue may newly be idle: its labels before the cutoff, so the alert says since when
    # (it reads all of the queue's labels; an alert already open keeps the text it opened with, so not every hour).
    maybe_idle = [
        pk
        for pk, slug, *_, active, backlog, _paused, _resumed in rows
        if active and backlog > 0 and pk not in last_labels and slug not in held_keys[AlertRule.QUEUE_IDLE]
    ]
    idle_since = (
        dict(
            Label.objects.filter(item__queue_id__in=maybe_idle, expert_id__in=members)
            .values("item__queue_id")
            .annotate(last=Max("created_at"))
            .values_list("item__queue_id", "last")
        )
        if maybe_idle
        else {}
    )
    # The queues nobody may label now (their named experts all gone, or, naming none, every expert and lead of the
    # project): queue_idle holds for them at once, and says why.
    labelers = queue_labelers(project.pk)
    queues = []
    for queue_id, slug, name, quota, created_at, active, backlog, paused_at, resumed_at in rows:
        queues.append(
            rules.QueueFact(
                slug=slug,
                name=name,
                quota=quota,
                created_at=created_at,
                backlog=backlog,
                last_label_at=last_labels.get(queue_id),
                idle_since=idle_since.get(queue_id),
                closed_week=closed_week.get(queue_id),
                active=active,
                paused_at=paused_at,
                resumed_at=resumed_at,
                nobody_may_label=labelers.without_expert(queue_id),
                nobody_eligible=labelers.gone(queue_id),
            )
        )
    newest = Output.objects.filter(project=project).aggregate(newest=Max("occurred_at"))["newest"]
    start, end = rules.ingest_baseline(now)
    # Counted only up to what "usually" needs: a busy project's 28 days are not all read every hour.
    baseline = (
        Output.objects.filter(project=project, occurred_at__gte=start, occurred_at__lt=end)
        .values("pk")[: rules.ingest_windows()]
        .count()
    )
    thumbs_down = [
        rules.ThumbsDownFact(*row)
        for row in WeekChange.objects.filter(
            project=project,
            kind=ChangeKind.THUMBS_DOWN_SHARE,
            dimension=ChangeDimension.OVERALL,
            effect__gt=0,
            week__in=weeks | {running - timedelta(days=7)},  # the week just ended waits for its close
        ).values_list("week", "current", "baseline", "baseline_weeks", "q_value", "effect", "partial")
    ]
    return rules.AlertFacts(
        project=project,
        now=now,
        cycles=cycles,
        overdue_candidates=candidates,
        last_closed_week=last_closed,
        queues=queues,
        newest_output_at=newest,
        baseline_outputs=baseline,
        thumbs_down=thumbs_down,
        held=dict(held_keys),
    )


def send_alert_email(*, alert_id: int, retold: bool = False) -> int:
    """E-mail the project's leads (and admins) that the alert opened, or (`retold`) that its reason changed: its
    title, detail and the project's page. A resolved alert is not mailed as retold."""
    alert = Alert.objects.select_related("project").filter(pk=alert_id).first()
    if alert is None or (retold and alert.state == AlertState.RESOLVED):
        return 0
    project = alert.project
    emails = manager_emails(project)
    if not emails:
        return 0
    page = settings.SITE_URL.rstrip("/") + reverse("labeling:project", args=[project.slug]) + "#alerts"
    changed = "The reason of this alert changed since you were told of it:\n\n" if retold else ""
    body = (
        f"{changed}{alert.title}.\n\n{alert.detail}\n\n"
        f"The project's alerts, and the button to acknowledge this one: {page}\n\n"
        "You get this e-mail once per alert, and once more each time its reason changes; it is resolved by itself "
        "when the condition clears.\n"
    )
    return send_mail(f"[expertloop] {isolated(project.name)}: {alert.title}", body, None, emails)


@transaction.atomic
def acknowledge_alert(*, alert: Alert, user) -> bool:
    """Mark an open alert seen (the project's leads and admins, and operators); False if it was not open, unless this
    user acknowledged it moments ago (the same post again, rules.twins). An acknowledged alert stays until its
    condition clears, and is never opened again meanwhile."""
    if not operates_all_projects(user):
        check_can_manage(user, alert.project)
    now = timezone.now()
    changed = Alert.objects.filter(pk=alert.pk, state=AlertState.OPEN).update(
        state=AlertState.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=user
    )
    if changed:
        AuditEvent.objects.create(
            project_id=alert.project_id,
            actor=user,
            action="alert.acknowledged",
            details={"alert": alert.pk, "rule": alert.rule, "key": alert.key, "title": alert.title},
        )
    alert.refresh_from_db()
    if changed:
        return True
    mine = alert.state == AlertState.ACKNOWLEDGED and alert.acknowledged_by_id == user.pk
    return mine and is_recent(alert.acknowledged_at)


def request_evaluation(*, project_id: int) -> None:
    """Ask for the project's evaluation once this transaction commits (through the outbox); asking again while
    one is queued adds nothing."""
    outbox.enqueue(
        task="labeling.evaluate_project_alerts",
        args=[project_id],
        dedupe_key=work_key("evaluate_alerts", project_id),
    )


def evaluate_all_projects(*, now: datetime | None = None) -> int:
    """Evaluate every project's alerts (beat's hourly round); return how many were evaluated. A project whose
    evaluation fails is logged and skipped: it never keeps the others from theirs."""
    now = now or timezone.now()
    evaluated = 0
    for project in Project.objects.order_by("pk"):
        try:
            evaluate_alerts(project=project, now=now)
        except Exception:
            logger.exception("alert evaluation of %s failed; the round goes on", project.slug)
            continue
        evaluated += 1
    return evaluated
