"""What the support bot's lead did lately, for the screens of the newest features to show something real.

A fourth queue the lead opened this week and then paused while rewriting the escalation guidelines, with `expert1`
still holding an item there (their home and project pages say "You still hold an item in “Escalations” (paused):
finish it"); a flagged item the lead took a second look at in an earlier week's meeting and confirmed as it was
(`gold.confirmed` in the audit log), its flags then marked resolved (`flag.resolved`: off the later agendas, struck
on that week's page as "resolved since the close"); the first version of the thumbs-down regressions, withdrawn by
the lead (its gold still passed refund answers quoting the old 14-day window); the summarizer's missed-quota alert,
acknowledged by the lead; the operator token `admin` gave the platform's nightly usage export, which has used it;
and the ingest key the support bot's production app sends its outputs with (the keys page shows it as used last).
Written through the same services the pages use.
"""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth import get_user_model

from labeling.models import (
    Alert,
    AlertRule,
    ApiKey,
    AuditEvent,
    DatasetVersion,
    Decision,
    Flag,
    Item,
    OperatorToken,
    Project,
    Queue,
    Resolution,
    ResolutionStatus,
    ReviewCycle,
    SavedView,
    Slot,
    SlotState,
    WebhookEndpoint,
    WebhookKind,
)
from labeling.rules.calendar import week_end, week_start
from labeling.rules.gold import gold_answers, open_ties
from labeling.services.alerts import acknowledge_alert
from labeling.services.api_keys import authenticate_key, create_api_key
from labeling.services.assignment import next_item
from labeling.services.datasets import withdraw_version
from labeling.services.labels import resolve_flag
from labeling.services.operator_tokens import authenticate_operator_token, issue_operator_token
from labeling.services.queues import QueueValues, create_queue, update_queue
from labeling.services.resolution import adjudicate, mark_for_adjudication
from labeling.services.routing import backfill_queue

from .project import LEAD_USERNAME

PAUSED_QUEUE = QueueValues(
    slug="escalations",
    name="Escalations",
    description="Shipping conversations that may have needed a person. Paused while the lead rewrites the "
    "escalation section of the guidelines.",
    rule={"metadata": {"topic": "shipping"}},
    sample_rate=0.2,
    overlap=1,
    priority=1,
)
HOLDER = "expert1"
# A meeting opens with what it decides, at 8:30 on the Monday after its week, a minute apart.
DECIDED_AT = timedelta(hours=8, minutes=30)
# Into the Monday after the week, in its meeting: after rubric v2's decision, published and done by 9:05 that Monday
# (seed._publish_rubric_v2), whose "what changed meanwhile" link lists nothing else.
SECOND_LOOK_AT = timedelta(hours=9, minutes=15)
# Then the week's ties, one a minute (seed._settle_ties), once the second look's flags are resolved.
TIES_DECIDED_AT = timedelta(hours=9, minutes=30)
EXPORT_TOKEN_NAME = "Nightly usage export to the finance sheet"
EXPORT_RUNS_AT = time(2, 0)  # UTC, each night
APP_KEY_NAME = "Support bot (production)"
CONFIRM_NOTE = "Second look in the weekly meeting: the experts were right, nothing to change."
RESOLVED_NOTE = "Discussed in the meeting: gold confirmed as it was."
WITHDRAWN_DATASET = "thumbs-down-regressions"
WITHDRAW_REASON = (
    "Its gold still passes refund answers that quote the old 14-day window (the policy is 30 days since March). "
    "Use v2 or later: they hold the answers the experts re-judged."
)


def since_the_last_close(project: Project, now: datetime, share: float) -> datetime:
    """A moment of what the team did this week: `share` of the way from the project's last close to `now` (the seed's
    moment), so the steps of the story keep their order, after the week's close, whenever the demo is seeded."""
    last_close = max(project.cycles.filter(closed_at__isnull=False).values_list("closed_at", flat=True))
    return last_close + (now - last_close) * share


def date_this_weeks_doings(*, project: Project, now: datetime) -> None:
    """What the lead and the engineer did this week happened at moments of its own, not when the demo was seeded: the
    lead saved the two views, then withdrew v1 of the thumbs-down regressions; the engineer then added the training
    pipeline's endpoint (after that withdrawal: it was told of no version). Their rows and the audit log say when."""
    saved_at = since_the_last_close(project, now, 0.2)
    views = SavedView.objects.filter(project=project)
    views.update(created_at=saved_at)
    AuditEvent.objects.filter(project=project, action="saved_view.created").update(at=saved_at)
    withdrawn_at = since_the_last_close(project, now, 0.5)
    DatasetVersion.objects.filter(dataset__project=project, withdrawn_at__isnull=False).update(
        withdrawn_at=withdrawn_at
    )
    AuditEvent.objects.filter(project=project, action="dataset.version_withdrawn").update(at=withdrawn_at)
    added_at = since_the_last_close(project, now, 0.8)
    pipeline = WebhookEndpoint.objects.filter(project=project, kind=WebhookKind.STANDARD)
    AuditEvent.objects.filter(project=project, action="webhook.created", details__kind=WebhookKind.STANDARD).update(
        at=added_at
    )
    pipeline.update(created_at=added_at)


def pause_a_queue_with_an_item_held(*, project: Project, this_week: date, now: datetime) -> Queue:
    """Open the escalations queue on this week's outputs, let `expert1` take an item, then pause the queue: this week,
    after the last week's close, not when the demo was seeded (the queue and the audit log say when). A paused queue
    takes no output, so it holds only those that came before the pause, and the lease was taken before it too."""
    lead = get_user_model().objects.get(username=LEAD_USERNAME)
    opened_at, leased_at, paused_at = (since_the_last_close(project, now, share) for share in (0.4, 0.55, 0.7))
    queue = create_queue(project=project, values=PAUSED_QUEUE, actor=lead)
    backfill_queue(queue=queue, since=week_start(project, this_week), until=paused_at)
    held = next_item(expert=get_user_model().objects.get(username=HOLDER), queue=queue)
    queue = update_queue(queue=queue, values=replace(PAUSED_QUEUE, is_active=False), actor=lead)
    Queue.objects.filter(pk=queue.pk).update(created_at=opened_at, paused_at=paused_at)
    if held is not None:
        # Taken once the item was in the queue (routed as it came, or by the backfill), before the pause; the expert
        # kept the page open since, so the lease has not run out.
        taken_at = min(max(leased_at, held.output.occurred_at, opened_at), paused_at)
        Slot.objects.filter(item=held, state=SlotState.LEASED).update(leased_at=taken_at)
    events = AuditEvent.objects.filter(project=project, details__queue=queue.pk)
    events.filter(action__in=["queue.created", "queue.backfilled"]).update(at=opened_at)
    events.filter(action="queue.updated").update(at=paused_at)
    return queue


def confirm_a_flagged_item(*, project: Project, week: date) -> Item | None:
    """In the week's meeting the lead sends a flagged, settled item for a second look, confirms its gold as is and marks
    its flags resolved."""
    lead = get_user_model().objects.get(username=LEAD_USERNAME)
    settled = Resolution.objects.filter(
        item__project=project, item__week=week, status=ResolutionStatus.RESOLVED, item__flags__isnull=False
    )
    for resolution in settled.select_related("item__output").order_by("item_id"):
        gold = gold_answers(resolution.automatic, resolution.adjudicated)
        if open_ties(resolution.automatic, resolution.adjudicated) or "correct" not in gold:
            continue
        item = resolution.item
        mark_for_adjudication(lead=lead, item=item, note="Flagged: is the verdict right?")
        adjudicate(lead=lead, item=item, answers={"correct": gold["correct"]}, note=CONFIRM_NOTE, shown=gold)
        flag_ids = list(item.flags.order_by("pk").values_list("pk", flat=True))
        for flag_id in flag_ids:
            resolve_flag(lead=lead, project=project, flag_id=flag_id, note=RESOLVED_NOTE)
        _date_in_the_meeting(project, item, week, flag_ids)
        return item
    return None


def _date_in_the_meeting(project: Project, item: Item, week: date, flag_ids: list[int]) -> None:
    """The second look happened in the week's meeting, on the Monday morning after it (as rubric v2's decision in
    seed._publish_rubric_v2), not when the demo was seeded: the audit log and the meeting pages tell it in its place."""
    marked_at = in_the_meeting(project, item, week, at=SECOND_LOOK_AT)
    confirmed_at, resolved_at = marked_at + timedelta(minutes=5), marked_at + timedelta(minutes=10)
    Resolution.objects.filter(item=item).update(adjudicated_at=confirmed_at)
    Flag.objects.filter(pk__in=flag_ids).update(resolved_at=resolved_at)
    events = AuditEvent.objects.filter(project=project, details__item=item.pk)
    events.filter(action="gold.marked_for_adjudication").update(at=marked_at)
    events.filter(action="gold.confirmed").update(at=confirmed_at)
    events.filter(action="flag.resolved").update(at=resolved_at)


def decided_in_the_meeting(decisions: list[Decision], *, closed: ReviewCycle, now: datetime) -> list[datetime]:
    """Date the decisions the meeting of `closed`'s week took (their rows and their `decision.added` entries) in that
    meeting, `DECIDED_AT` into the Monday after the week, a minute apart in the order given, not when the demo was
    seeded; returns their moments. A demo seeded earlier that Monday has them between the week's close and `now`, in
    the same order."""
    meeting, count = week_end(closed.project, closed.week) + DECIDED_AT, len(decisions)
    apart = min(timedelta(minutes=1), (now - closed.closed_at) / (count + 1))  # closer when seeded that early
    moments = [min(meeting + turn * apart, now - (count - turn) * apart) for turn in range(count)]
    for decision, at in zip(decisions, moments, strict=True):
        Decision.objects.filter(pk=decision.pk).update(created_at=at)
        AuditEvent.objects.filter(
            project_id=closed.project_id, action="decision.added", details__decision=decision.pk
        ).update(at=at)
    return moments


def in_the_meeting(project: Project, item: Item, week: date, *, at: timedelta) -> datetime:
    """When the lead took up the item in the week's meeting: `at` into the Monday after the week, never before the
    item's own labels and flags (given up to a day after their output)."""
    given = [
        *item.labels.values_list("created_at", flat=True),
        *item.flags.values_list("created_at", flat=True),
    ]
    return max([week_end(project, week) + at, *(moment + timedelta(minutes=1) for moment in given)])


def withdraw_a_version_with_outdated_gold(*, project: Project) -> DatasetVersion | None:
    """The lead withdraws v1 of the thumbs-down regressions: its gold judged refund answers by the old policy."""
    lead = get_user_model().objects.get(username=LEAD_USERNAME)
    dataset = project.datasets.filter(slug=WITHDRAWN_DATASET).first()
    if dataset is None or not dataset.versions.ready().filter(number=1).exists():
        return None
    return withdraw_version(dataset=dataset, number=1, reason=WITHDRAW_REASON, actor=lead).version


def date_alerts_found_after_the_last_close(*, projects: list[Project], now: datetime) -> None:
    """The evaluation that runs after each close (or each failed one) found the projects' alerts, not the demo's seed:
    each alert opened at the project's last closing moment, where a close (or the sweep that recorded its failure)
    asked for it. The hourly evaluation has seen them since, at `now`."""
    for project in projects:
        closings = project.cycles.values_list("closed_at", "failed_at")
        moments = [moment for pair in closings for moment in pair if moment is not None and moment < now]
        if moments:
            Alert.objects.filter(project=project).update(opened_at=max(moments))


def acknowledge_the_missed_quota(*, project: Project, now: datetime) -> None:
    """The lead has seen the summarizer's missed quota (its idle queue's alert stays open): halfway from its opening to
    `now`, not when the demo was seeded, as the alert and the audit log say."""
    lead = get_user_model().objects.get(username=LEAD_USERNAME)
    for alert in Alert.objects.unresolved().filter(project=project, rule=AlertRule.QUOTA_MISSED).order_by("pk"):
        acknowledge_alert(alert=alert, user=lead)
        seen_at = alert.opened_at + (now - alert.opened_at) / 2
        Alert.objects.filter(pk=alert.pk).update(acknowledged_at=seen_at)
        AuditEvent.objects.filter(project=project, action="alert.acknowledged", details__alert=alert.pk).update(
            at=seen_at
        )


def issue_the_usage_export_token(*, operator, now: datetime) -> None:
    """The operator's token a nightly script pulls the platform usage with, issued the afternoon before the script's
    last night run, its first (the tokens page shows when), not when the demo was seeded. The secret is dropped: that
    script's copy is the only one."""
    issued = issue_operator_token(user=operator, name=EXPORT_TOKEN_NAME)
    authenticate_operator_token(issued.secret)
    ran_at = datetime.combine(now.date(), EXPORT_RUNS_AT, tzinfo=UTC)
    if ran_at > now - timedelta(minutes=1):
        ran_at -= timedelta(days=1)
    OperatorToken.objects.filter(pk=issued.token.pk).update(created_at=ran_at - timedelta(hours=9), last_used_at=ran_at)


def issue_the_apps_ingest_key(*, project: Project) -> None:
    """The key the support bot's production app sends outputs and events with: issued when the team adopted
    expertloop, as its audit entry says, and last used by the app's newest output, not when the demo was seeded. The
    secret is dropped: the app's deployment holds the only copy (the demo's own key, printed by the command, is
    another)."""
    issued = create_api_key(project=project, name=APP_KEY_NAME, scopes=["ingest"], command="seed_demo")
    authenticate_key(issued.secret)
    newest = project.outputs.order_by("-occurred_at").values_list("occurred_at", flat=True).first()
    adopted = Project.objects.values_list("created_at", flat=True).get(pk=project.pk)  # dated back in the database
    ApiKey.objects.filter(pk=issued.api_key.pk).update(created_at=adopted, last_used_at=newest)
    AuditEvent.objects.filter(project=project, action="api_key.created", details__prefix=issued.api_key.prefix).update(
        at=adopted
    )
