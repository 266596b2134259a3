"""Webhook deliveries under the privacy rules: erasing an end user and the retention purge take the deliveries
about their outputs with them (bodies with the texts, and plain ones naming the output); finished deliveries
are kept WEBHOOK_DELIVERY_KEEP_DAYS; a transcript sent to a receiver is capped in size."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from labeling.models import DeliveryStatus, Output, WebhookDelivery
from labeling.services import webhooks
from labeling.services.datasets import build_version, create_dataset, withdraw_version
from labeling.services.labels import flag_item
from labeling.services.privacy import erase_end_user, purge_expired_outputs
from labeling.services.redaction import redact_stored_outputs, save_rule_set
from labeling.services.webhook_delivery import attempt_delivery, prune_deliveries, redeliver
from labeling.services.webhook_events import TRANSCRIPT_MAX_CHARS
from tests.helpers.labeling import AGREE, label_outputs
from tests.helpers.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoints(project, lead):
    """A plain endpoint and one with the texts, both hearing flags."""
    return [
        webhooks.create_endpoint(
            project=project, created_by=lead, url=f"https://hooks.example.com/{name}", events=["output.flagged"],
            include_transcripts=name == "full",
        ).endpoint
        for name in ("plain", "full")
    ]  # fmt: skip


def _flag_two(project, expert):
    """Two flagged items: one of end user `erased`, one of `kept`; each flag made a delivery per endpoint."""
    [erased] = label_outputs(project, answers=AGREE[:1], end_user_id="erased")
    [kept] = label_outputs(project, answers=AGREE[:1], end_user_id="kept")
    flag_item(expert=expert, item=erased, note="Quotes my address back to me.")
    flag_item(expert=expert, item=kept, note="Too long.")
    return erased, kept


def _bodies() -> str:
    return "\n".join(WebhookDelivery.objects.values_list("body", flat=True))


def test_erasing_an_end_user_deletes_the_deliveries_about_their_outputs(project, expert, endpoints):
    erased, kept = _flag_two(project, expert)
    erased_id = erased.output.external_id
    assert WebhookDelivery.objects.count() == 4 and erased_id in _bodies()

    erase_end_user(project=project, end_user_id="erased")

    assert WebhookDelivery.objects.count() == 2  # the other end user's deliveries stay
    bodies = _bodies()
    assert erased_id not in bodies and "Quotes my address" not in bodies
    assert kept.output.external_id in bodies and "Too long." in bodies


def test_a_redelivery_is_erased_with_the_delivery_it_repeats(project, expert, lead, endpoints):
    erased, _ = _flag_two(project, expert)
    erased_id = erased.output.external_id
    first = WebhookDelivery.objects.filter(body__contains=erased_id).first()
    WebhookDelivery.objects.filter(pk=first.pk).update(status=DeliveryStatus.FAILED)
    first.refresh_from_db()
    redeliver(delivery=first, actor=lead)

    erase_end_user(project=project, end_user_id="erased")

    assert erased_id not in _bodies()


def test_the_retention_purge_deletes_the_deliveries_about_the_outputs_it_deletes(project, expert, endpoints):
    erased, kept = _flag_two(project, expert)
    erased_id, kept_id = erased.output.external_id, kept.output.external_id
    project.raw_retention_days = 30
    project.save()
    # The first output is old and raw (its item has one label and no gold answer: AGREE[:1] resolves alone,
    # so make it old and drop its gold answer the way a tie would leave it).
    Output.objects.filter(pk=erased.output_id).update(occurred_at=timezone.now() - timedelta(days=40))
    erased.resolution.delete()

    assert purge_expired_outputs(project=project) == 1

    assert WebhookDelivery.objects.count() == 2
    assert erased_id not in _bodies() and kept_id in _bodies()


def test_finished_deliveries_are_deleted_after_the_keep_days(project, expert, endpoints, settings):
    settings.WEBHOOK_DELIVERY_KEEP_DAYS = 7
    _flag_two(project, expert)
    old, recent, pending, other = WebhookDelivery.objects.order_by("pk")
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=old.pk).update(status=DeliveryStatus.SUCCEEDED, finished_at=now - timedelta(8))
    WebhookDelivery.objects.filter(pk=recent.pk).update(status=DeliveryStatus.FAILED, finished_at=now - timedelta(6))
    WebhookDelivery.objects.filter(pk=pending.pk).update(created_at=now - timedelta(days=9))

    assert prune_deliveries() == 1

    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk, other.pk}


def test_a_transcript_sent_to_a_receiver_is_capped(project, expert, endpoints):
    long_text = "word " * (TRANSCRIPT_MAX_CHARS // 2)
    [item] = label_outputs(project, answers=AGREE[:1], texts=[long_text], input=long_text)

    flag_item(expert=expert, item=item, note="Far too long.")

    full = WebhookDelivery.objects.get(endpoint=endpoints[1])
    transcript = json.loads(full.body)["data"]["transcript"]
    assert len(transcript["input"]) == len(transcript["output"]) == TRANSCRIPT_MAX_CHARS
    assert transcript["truncated"] is True and long_text.startswith(transcript["output"])
    assert len(full.body) < 3 * TRANSCRIPT_MAX_CHARS


def test_the_redacted_version_an_erasure_makes_is_announced(project, lead):
    from labeling.services.datasets import build_version, create_dataset

    webhooks.create_endpoint(
        project=project, created_by=lead, url="https://hooks.example.com/d", events=["dataset.version_ready"]
    )
    label_outputs(project, answers=AGREE[:1], end_user_id="erased")
    label_outputs(project, answers=AGREE[:1], end_user_id="kept")
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    build_version(dataset_id=dataset.pk)

    erase_end_user(project=project, end_user_id="erased")

    announced = [json.loads(body)["data"]["version"] for body in WebhookDelivery.objects.values_list("body", flat=True)]
    successor = dataset.versions.ready().get()
    assert sorted(version["number"] for version in announced) == [1, 2]
    [second] = [version for version in announced if version["number"] == 2]
    assert successor.number == 2 and second["rows"] == successor.row_count == 1
    assert second["sha256"] == successor.sha256


ADDRESS = "ana.lopez@example.com"


def test_redacting_stored_outputs_redacts_what_a_retried_delivery_sends_and_keeps_what_was_sent(
    project, lead, expert, settings
):
    """A delivery still retrying when the rules are applied to the stored outputs sends their redacted texts (and the
    flag's note redacted), signed, under the same webhook-id; a delivery sent before keeps its body: the log shows
    what was sent."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    with Receiver() as receiver:
        receiver.script("/in", 500, 200)
        made = webhooks.create_endpoint(
            project=project, created_by=lead, url=receiver.url("/in"), events=["output.flagged"],
            include_transcripts=True,
        )  # fmt: skip
        sent, retrying = label_outputs(
            project, 2, answers=AGREE[:1], texts=[f"Write to {ADDRESS}."] * 2, input=f"I am {ADDRESS}"
        )
        flag_item(expert=expert, item=sent, note=f"Quotes {ADDRESS}")
        WebhookDelivery.objects.update(status=DeliveryStatus.SUCCEEDED, finished_at=timezone.now())
        flag_item(expert=expert, item=retrying, note=f"Quotes {ADDRESS}")
        pending = WebhookDelivery.objects.get(status=DeliveryStatus.PENDING)
        assert attempt_delivery(delivery_id=pending.pk) == 5  # the receiver failed: tried again in 5 s
        save_rule_set(project=project, builtins=["email"], custom=[], phone_region="GB")

        redact_stored_outputs(project=project)
        assert attempt_delivery(delivery_id=pending.pk, now=timezone.now() + timedelta(seconds=6)) is None

        first, again = receiver.at("/in")
    assert ADDRESS in first.body.decode() and ADDRESS not in again.body.decode()
    payload = Webhook(made.secret).verify(again.body, again.headers)
    assert payload["data"]["transcript"] == {"input": "I am [EMAIL]", "output": "Write to [EMAIL]."}
    assert payload["data"]["note"] == "Quotes [EMAIL]"
    assert again.headers["webhook-id"] == first.headers["webhook-id"]  # the same message: a receiver drops a twin
    assert ADDRESS in WebhookDelivery.objects.get(status=DeliveryStatus.SUCCEEDED, output=sent.output).body


def test_a_redelivery_after_redacting_stored_outputs_sends_the_redacted_texts(project, lead, expert, endpoints):
    """Redeliver repeats the message (same webhook-id), but with its texts as stored now: a delivery sent before the
    rules were applied to its output would otherwise send the removed address again."""
    [item] = label_outputs(project, answers=AGREE[:1], texts=[f"Write to {ADDRESS}."], input=f"I am {ADDRESS}")
    flag_item(expert=expert, item=item, note=f"Quotes {ADDRESS}")
    WebhookDelivery.objects.update(status=DeliveryStatus.SUCCEEDED, finished_at=timezone.now())
    save_rule_set(project=project, builtins=["email"], custom=[], phone_region="GB")
    redact_stored_outputs(project=project)
    plain, full = (WebhookDelivery.objects.get(endpoint=endpoint) for endpoint in endpoints)

    again = redeliver(delivery=full, actor=lead)
    plain_again = redeliver(delivery=plain, actor=lead)

    data = json.loads(again.body)["data"]
    assert data["transcript"] == {"input": "I am [EMAIL]", "output": "Write to [EMAIL]."}
    assert data["note"] == "Quotes [EMAIL]" and again.message_id == full.message_id
    assert ADDRESS in WebhookDelivery.objects.get(pk=full.pk).body  # the log keeps what was sent
    assert plain_again.body == plain.body  # no texts: the same message, byte for byte


def test_redacting_stored_outputs_redacts_the_reason_a_retried_withdrawal_delivery_sends(project, lead, settings):
    """A version withdrawn for a reason quoting an address before the rules existed: the run redacts the reason on the
    version and in the audit log, and in the `dataset.version_withdrawn` delivery still retrying against a failing
    endpoint (one without the texts: the reason goes to every endpoint), which then sends it redacted, signed, under
    the same webhook-id."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    with Receiver() as receiver:
        receiver.script("/in", 500, 200)
        made, version = _a_version_withdrawn_quoting_an_address(project, lead, receiver)
        pending = WebhookDelivery.objects.get(status=DeliveryStatus.PENDING)
        assert attempt_delivery(delivery_id=pending.pk) == 5  # the receiver failed: tried again in 5 s
        save_rule_set(project=project, builtins=["email"], custom=[], phone_region="GB")

        redact_stored_outputs(project=project)
        assert ADDRESS not in WebhookDelivery.objects.get(pk=pending.pk).body
        assert attempt_delivery(delivery_id=pending.pk, now=timezone.now() + timedelta(seconds=6)) is None

        first, again = receiver.at("/in")
    assert ADDRESS in first.body.decode() and ADDRESS not in again.body.decode()
    payload = Webhook(made.secret).verify(again.body, again.headers)
    assert payload["data"]["version"]["note"] == "Contains [EMAIL]"
    assert payload["data"]["version"]["number"] == version.number
    assert again.headers["webhook-id"] == first.headers["webhook-id"]


def test_a_withdrawal_redelivered_after_redacting_stored_outputs_sends_the_reason_redacted(project, lead, settings):
    """A `dataset.version_withdrawn` message sent before the rules existed, then redelivered by a lead after the run:
    the redelivery repeated the body byte for byte, the address in the reason included. It sends the reason as the
    rules in force have it, under the same webhook-id."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    with Receiver() as receiver:
        receiver.script("/in", 200, 200)
        made, version = _a_version_withdrawn_quoting_an_address(project, lead, receiver)
        sent = WebhookDelivery.objects.get()
        assert attempt_delivery(delivery_id=sent.pk) is None
        save_rule_set(project=project, builtins=["email"], custom=[], phone_region="GB")
        redact_stored_outputs(project=project)

        again = redeliver(delivery=WebhookDelivery.objects.get(pk=sent.pk), actor=lead)
        assert attempt_delivery(delivery_id=again.pk) is None
        first, second = receiver.at("/in")
    assert ADDRESS in first.body.decode() and ADDRESS not in second.body.decode()
    payload = Webhook(made.secret).verify(second.body, second.headers)
    assert payload["data"]["version"]["note"] == "Contains [EMAIL]"
    assert second.headers["webhook-id"] == first.headers["webhook-id"]


def _a_version_withdrawn_quoting_an_address(project, lead, receiver):
    """An endpoint hearing of withdrawals (without the texts: the reason goes to every endpoint) at the receiver's
    `/in`, and a version withdrawn for a reason quoting ADDRESS, before any redaction rule: (the endpoint as made, the
    version)."""
    made = webhooks.create_endpoint(
        project=project, created_by=lead, url=receiver.url("/in"), events=["dataset.version_withdrawn"]
    )
    label_outputs(project, 1)
    dataset = create_dataset(project=project, spec={"name": "Eval"})
    version = build_version(dataset_id=dataset.pk)
    withdraw_version(dataset=dataset, number=version.number, reason=f"Contains {ADDRESS}", actor=lead)
    return made, version
