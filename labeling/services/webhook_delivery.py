"""Sending webhook deliveries: one attempt per task, signed per Standard Webhooks, retried on a schedule.

A delivery's task claims it (a conditional update of its lease, `claimed_until`), counts the attempt, sends
with no transaction open, then records the answer. A failure sets `next_attempt_at` from
WEBHOOK_RETRY_SCHEDULE (5 s, 30 s, 2 min, 10 min, 1 h, 3 h, 6 h, 6 h, 8 h: ~24 h); after the last the
delivery is failed. The task asks for itself again for the short waits; beat's sweep
(`request_due_deliveries`) sends what is due and was not (a long wait, a lost message, a worker killed
mid-attempt once its lease is over). An endpoint whose every attempt failed for WEBHOOK_DISABLE_AFTER_SECONDS
is disabled and the project's leads (and the engineer who added it) are told by e-mail and on the webhooks page.
"""

import logging
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from labeling.exceptions import DomainError, InvalidInput, NotFound
from labeling.models import (
    AUTO_DISABLED,
    AuditEvent,
    DeliveryStatus,
    Output,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookKind,
)
from labeling.rules.access import check_can_manage_webhooks
from labeling.rules.twins import audited_twin, twin_of
from labeling.selectors.webhooks import told_when_disabled

from . import webhook_transport
from .redaction import redact_free_text, redactor_for
from .routing import kept_from_deletion
from .webhook_events import with_texts_made_again, with_withdrawal_note
from .webhooks import audit_details, enqueue_delivery, signing_secret

logger = logging.getLogger(__name__)

SWEEP_GRACE_SECONDS = 15  # the sweep leaves a due delivery this long to its own task first
SWEEP_AGAIN_SECONDS = 60  # and asks for one delivery at most this often
ATTEMPTS_KEPT = 30  # entries of the attempt log (the schedule has 10 attempts; redeliveries are new rows)
USER_AGENT = "expertloop-webhooks/1"


def attempt_delivery(*, delivery_id: int, now: datetime | None = None) -> float | None:
    """Try the delivery once if it is due and nobody else is trying it. Returns in how many seconds to try
    again (after a failure, or when another worker holds it), or None when there is nothing more to do."""
    now = now or timezone.now()
    # A claim outlives the longest attempt (its deadline covers the lookup too) by WEBHOOK_LEASE_MARGIN_SECONDS.
    lease = timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + settings.WEBHOOK_LEASE_MARGIN_SECONDS)
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + lease, attempts=F("attempts") + 1)
    )
    if not claimed:
        held_until = (
            WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING, claimed_until__gte=now)
            .values_list("claimed_until", flat=True)
            .first()
        )
        # Another copy of the task holds it (or held it, in a worker that died): look again once its lease ends.
        return (held_until - now).total_seconds() + 1 if held_until else None
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        _give_up(delivery, "Not sent: the endpoint is disabled.")
        return None
    try:
        headers = _headers(delivery, endpoint)
    except DomainError as exc:
        answer = webhook_transport.Answer(None, exc.message, 0)
    else:
        answer = webhook_transport.post(
            endpoint.url,
            body=delivery.body.encode(),
            headers=headers,
            allow_private=settings.WEBHOOKS_ALLOW_PRIVATE,
            connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS,
            total_timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        )
    return _record(delivery_id, answer, started=now)


def _headers(delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if endpoint.kind != WebhookKind.STANDARD:
        return headers
    # Each attempt is signed with its own time; the id and the body stay those of the message.
    sent_at = timezone.now()
    signature = Webhook(signing_secret(endpoint)).sign(delivery.message_id, sent_at, delivery.body.encode())
    return {
        **headers,
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }


@transaction.atomic
def _record(delivery_id: int, answer: webhook_transport.Answer, *, started: datetime) -> float | None:
    # The endpoint's row before the delivery's, as a redaction batch takes them (redaction._redact_pending_deliveries):
    # a failure that disables the endpoint fails its other pending deliveries, which the batch may hold meanwhile.
    endpoint_id = WebhookDelivery.objects.filter(pk=delivery_id).values_list("endpoint_id", flat=True).first()
    if endpoint_id is None:
        return None  # deleted with its endpoint meanwhile
    list(
        WebhookEndpoint.objects.filter(pk=endpoint_id)
        .select_for_update(no_key=True, of=("self",))
        .values_list("pk", flat=True)
    )
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None  # deleted with its endpoint meanwhile, or failed because the endpoint was disabled
    now = timezone.now()
    entry = {"at": started.isoformat(), "ms": answer.duration_ms, "code": answer.status_code, "error": answer.error}
    delivery.attempt_log = [*delivery.attempt_log, entry][-ATTEMPTS_KEPT:]
    delivery.response_code, delivery.last_error, delivery.claimed_until = answer.status_code, answer.error, None
    endpoint = WebhookEndpoint.objects.filter(pk=delivery.endpoint_id)
    if answer.ok:
        delivery.status, delivery.finished_at, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, now, None
        delivery.save()
        endpoint.update(consecutive_failures=0, failing_since=None, last_success_at=now)
        return None
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    again_in = schedule[delivery.attempts - 1] if delivery.attempts <= len(schedule) else None
    if again_in is None:
        delivery.status, delivery.finished_at, delivery.next_attempt_at = DeliveryStatus.FAILED, now, None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=again_in)
    delivery.save()
    endpoint.update(consecutive_failures=F("consecutive_failures") + 1, failing_since=Coalesce("failing_since", now))
    _disable_if_failing(delivery.endpoint_id, now=now, last_error=answer.error)
    return again_in


def _give_up(delivery: WebhookDelivery, error: str) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, last_error=error, finished_at=timezone.now(), claimed_until=None
    )


def _disable_if_failing(endpoint_id: int, *, now: datetime, last_error: str) -> None:
    """Disable the endpoint if every attempt failed for WEBHOOK_DISABLE_AFTER_SECONDS (and at least
    WEBHOOK_DISABLE_MIN_FAILURES times); its pending deliveries fail, and its project's leads (and whoever added it)
    are told."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).select_related("project").first()
    if endpoint is None or endpoint.failing_since is None:
        return
    reason = (
        f"{AUTO_DISABLED} all {endpoint.consecutive_failures} attempts since "
        f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC failed. The last: {last_error}"
    )[:500]
    # A conditional update: of two workers failing at once, one disables and tells who manages it.
    won = WebhookEndpoint.objects.filter(
        pk=endpoint_id,
        enabled=True,
        failing_since__lte=now - timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS),
        consecutive_failures__gte=settings.WEBHOOK_DISABLE_MIN_FAILURES,
    ).update(enabled=False, disabled_at=now, disabled_reason=reason)
    if not won:
        return
    WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED,
        last_error="Not sent: the endpoint was disabled after repeated failures.",
        finished_at=now,
        next_attempt_at=None,
    )
    AuditEvent.objects.create(
        project_id=endpoint.project_id,
        actor=None,
        action="webhook.auto_disabled",
        details={"endpoint": endpoint.pk, "kind": endpoint.kind, "failures": endpoint.consecutive_failures},
    )
    logger.warning("webhook endpoint %s of %s disabled: %s", endpoint.pk, endpoint.project.slug, reason)
    transaction.on_commit(partial(_tell_who_manages_it, endpoint_id=endpoint.pk, reason=reason), robust=True)


def _tell_who_manages_it(*, endpoint_id: int, reason: str) -> int:
    endpoint = WebhookEndpoint.objects.select_related("project").filter(pk=endpoint_id).first()
    if endpoint is None:
        return 0
    project = endpoint.project
    emails = told_when_disabled(endpoint)
    if not emails:
        return 0
    page = settings.SITE_URL.rstrip("/") + reverse("labeling:webhooks", args=[project.slug])
    body = (
        f"The webhook endpoint {endpoint.shown_url} of "
        f"{project.name} was disabled: nothing is sent to it until one of the project's engineers, leads or admins "
        f"enables it again.\n\n{reason}\n\n"
        f"Its delivery log, and the button to enable it: {page}\n"
    )
    return send_mail(f"[expertloop] {project.name}: a webhook endpoint was disabled", body, None, emails)


@transaction.atomic
def redeliver(*, delivery: WebhookDelivery, actor) -> WebhookDelivery:
    """Send a delivery's message again, as a new delivery with the same `webhook-id` (receivers that saw it already
    can drop it) and body, its texts (an endpoint that opted in) as stored now: the transcript made again from the
    output, the flag's note and a withdrawal's reason under the redaction rules in force. A message sent before its
    output was redacted again does not send the removed text a second time. The same person's redelivery of the
    message moments ago (the button posted twice) is returned, and nothing more sent (rules.twins)."""
    endpoint = delivery.endpoint
    check_can_manage_webhooks(actor, endpoint.project)
    if not endpoint.enabled:
        raise InvalidInput("The endpoint is disabled: enable it first, then redeliver.")
    # The endpoint's row first, as a worker recording an attempt and the endpoint's deletion take it: a deletion in
    # flight is waited for (then the delivery is gone), and none starts before the new delivery is committed.
    locked = WebhookEndpoint.objects.select_for_update(no_key=True, of=("self",)).filter(pk=endpoint.pk)
    if not list(locked.values_list("pk", flat=True)):
        raise NotFound("No such delivery: its endpoint was deleted.")
    # The output held as a placement holds it: an erasure or the purge (outputs locked first) waits for this
    # redelivery and deletes it with the delivery it repeats, or has deleted both already.
    if delivery.output_id is not None and not kept_from_deletion([delivery.output_id]):
        raise NotFound("No such delivery: it was deleted with the output it was about.")
    # The delivery's row lock makes a twin posted at the same instant wait for the first redelivery, and find it.
    WebhookDelivery.objects.select_for_update(no_key=True).values_list("pk", flat=True).get(pk=delivery.pk)
    same_message = {"endpoint": endpoint.pk, "message_id": delivery.message_id}
    if audited_twin(project_id=endpoint.project_id, actor=actor, action="webhook.redelivered", **same_message):
        twin = twin_of(WebhookDelivery.objects.filter(endpoint=endpoint, message_id=delivery.message_id))
        if twin is not None:
            return twin
    body = delivery.body
    words = partial(redact_free_text, redactor_for(endpoint.project))
    output = Output.objects.filter(pk=delivery.output_id).only("pk", "input", "output").first()
    if output is not None and endpoint.include_transcripts and endpoint.kind == WebhookKind.STANDARD:
        body = with_texts_made_again(body, output, note=words)
    if delivery.event == WebhookEvent.DATASET_VERSION_WITHDRAWN and endpoint.kind == WebhookKind.STANDARD:
        body = with_withdrawal_note(body, note=words)  # a lead's reason may quote an address
    again = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=delivery.event,
        message_id=delivery.message_id,
        body=body,
        next_attempt_at=timezone.now(),
        redelivery_of=delivery,
        output_id=delivery.output_id,
    )
    AuditEvent.objects.create(
        project_id=endpoint.project_id,
        actor=actor,
        action="webhook.redelivered",
        details=audit_details(endpoint, event=delivery.event, message_id=delivery.message_id),
    )
    enqueue_delivery(again.pk)
    return again


def prune_deliveries(*, limit: int = 10_000) -> int:
    """Delete deliveries finished more than WEBHOOK_DELIVERY_KEEP_DAYS ago (at most `limit` a call); return how
    many. Their bodies may carry texts: the log keeps them no longer than it is useful."""
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_DELIVERY_KEEP_DAYS)
    old = list(
        WebhookDelivery.objects.filter(finished_at__lt=cutoff)
        .order_by("finished_at")
        .values_list("pk", flat=True)[:limit]
    )
    deleted, _ = WebhookDelivery.objects.filter(pk__in=old).delete()
    return deleted


def request_due_deliveries(*, now: datetime | None = None, limit: int = 500) -> int:
    """Beat's sweep: ask for each pending delivery that is due and was not tried by its own task (a retry
    hours away, a message lost with the broker, a worker killed mid-attempt); return how many."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.filter(
                status=DeliveryStatus.PENDING, next_attempt_at__lte=now - timedelta(seconds=SWEEP_GRACE_SECONDS)
            )
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .filter(Q(swept_at__isnull=True) | Q(swept_at__lt=now - timedelta(seconds=SWEEP_AGAIN_SECONDS)))
            .select_for_update(skip_locked=True)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=due).update(swept_at=now)
        for delivery_id in due:
            enqueue_delivery(delivery_id)
    return len(due)
