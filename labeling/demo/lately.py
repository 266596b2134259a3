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
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model

from labeling.models import (
    Alert,
    AlertRule,
    AuditEvent,
    DatasetVersion,
    Decision,
    Flag,
    Item,
    Project,
    Queue,
    Resolution,
    ResolutionStatus,
    ReviewCycle,
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
APP_KEY_NAME = "Support bot (production)"
CONFIRM_NOTE = "Second look in the weekly meeting: the experts were right, nothing to change."
RESOLVED_NOTE = "Discussed in the meeting: gold confirmed as it was."
WITHDRAWN_DATASET = "thumbs-down-regressions"
WITHDRAW_REASON = (
    "Its gold still passes refund answers that quote the old 14-day window (the policy is 30 days since March). "
    "Use v2 or later: they hold the answers the experts re-judged."
)


def pause_a_queue_with_an_item_held(*, project: Project, this_week: date) -> Queue:
    """Open the escalations queue on this week's outputs, let `expert1` take an item, then pause the queue."""
    lead = get_user_model().objects.get(username=LEAD_USERNAME)
    queue = create_queue(project=project, values=PAUSED_QUEUE, actor=lead)
    backfill_queue(queue=queue, since=week_start(project, this_week))
    next_item(expert=get_user_model().objects.get(username=HOLDER), queue=queue)
    return update_queue(queue=queue, values=replace(PAUSED_QUEUE, is_active=False), actor=lead)


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


def acknowledge_the_missed_quota(*, project: Project) -> None:
    """The lead has seen the summarizer's missed quota (its idle queue's alert stays open)."""
    lead = get_user_model().objects.get(username=LEAD_USERNAME)
    for alert in Alert.objects.unresolved().filter(project=project, rule=AlertRule.QUOTA_MISSED).order_by("pk"):
        acknowledge_alert(alert=alert, user=lead)


def issue_the_usage_export_token(*, operator) -> None:
    """The operator's token a nightly script pulls the platform usage with; it has run once (the tokens page shows
    when). The secret is dropped: that script's copy is the only one."""
    authenticate_operator_token(issue_operator_token(user=operator, name=EXPORT_TOKEN_NAME).secret)


def issue_the_apps_ingest_key(*, project: Project) -> None:
    """The key the support bot's production app sends outputs and events with, and has just used. The secret is
    dropped: the app's deployment holds the only copy (the demo's own key, printed by the command, is another)."""
    authenticate_key(create_api_key(project=project, name=APP_KEY_NAME, scopes=["ingest"], command="seed_demo").secret)
