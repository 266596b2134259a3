"""Redacting stored outputs again (`redact_outputs`) while a lead adjudicates one of them: the audit event of the
adjudication quotes the gold before and after, and must come out of the run redacted like the gold itself. And while
a webhook worker disables the failing endpoint whose pending deliveries quote them: neither may be aborted."""

import json
from functools import partial

import pytest

from labeling.models import (
    AuditEvent,
    DeliveryStatus,
    Output,
    Queue,
    Resolution,
    Skip,
    WebhookDelivery,
    WebhookEndpoint,
)
from labeling.services import webhooks
from labeling.services.assignment import next_item, skip_item
from labeling.services.labels import flag_item
from labeling.services.redaction import redact_stored_outputs, save_rule_set
from labeling.services.resolution import adjudicate
from labeling.services.webhook_delivery import attempt_delivery
from tests.helpers.concurrency import held_halfway, waiting_on_a_lock, waits_for_uncommitted
from tests.helpers.labeling import AGREE, label_outputs, make_items
from tests.helpers.webhook_receiver import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PHONE, EMAIL = "415-555-0100", "jane.doe@example.com"


def test_an_adjudication_during_a_redaction_run_has_the_gold_its_audit_event_quotes_redacted(project, lead):
    """The lead's decision is in, its audit event on its way (not committed), when the run starts: the run read the
    adjudication events once, at its start, and left this one quoting the number and the address it redacted in the
    gold. Each batch now reads them after locking its items, which the adjudication holds until it commits."""
    answers = ({"correct": False, "fix": f"Call {PHONE}"}, {"correct": True, "tone": "curt"})
    [item] = label_outputs(project, 1, answers=answers, texts=[f"Call {PHONE}"])
    save_rule_set(project=project, builtins=["email", "phone"], custom=[], phone_region="US")
    deciding = partial(adjudicate, lead=lead, item=item, answers={"correct": False, "fix": f"Write to {EMAIL}."})

    with held_halfway(deciding, "labeling_auditevent"):  # the gold decided, its audit event waiting
        redacting, errors = waiting_on_a_lock(partial(redact_stored_outputs, project=project))
    redacting.join(30)

    assert not errors
    audit = AuditEvent.objects.get(action="gold.adjudicated")
    assert audit.details["answers"]["fix"] == [["Call [PHONE]"], "Write to [EMAIL]."]
    assert Resolution.objects.get(item=item).adjudicated["fix"]["value"] == "Write to [EMAIL]."
    assert PHONE not in json.dumps(audit.details) and EMAIL not in json.dumps(audit.details)


def test_a_redaction_run_while_a_worker_disables_the_failing_endpoint_ends_without_a_deadlock(
    project, lead, expert, settings
):
    """The worker recording the last failed attempt holds that delivery and then fails the endpoint's other pending
    deliveries; the run locks the pending deliveries about its outputs in id order, to give them redacted bodies. They
    used to deadlock (the worker holding the later delivery, the run the earlier one), and PostgreSQL aborted one: a
    failed run or a failed task. Both now take the endpoint's row first: the run waits for the worker, then finds the
    deliveries failed."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOK_DISABLE_AFTER_SECONDS, settings.WEBHOOK_DISABLE_MIN_FAILURES = 0, 1
    items = label_outputs(project, 2, answers=AGREE[:1], texts=[f"Write to {EMAIL}.", f"Or to {EMAIL}."])
    with Receiver() as receiver:
        receiver.script("/down", 503)
        webhooks.create_endpoint(
            project=project, created_by=lead, url=receiver.url("/down"), events=["output.flagged"],
            include_transcripts=True,
        )  # fmt: skip
        for item in items:
            flag_item(expert=expert, item=item, note="Quotes an address")
        save_rule_set(project=project, builtins=["email"], custom=[], phone_region="US")
        earlier, later = WebhookDelivery.objects.order_by("pk")

        with held_halfway(partial(attempt_delivery, delivery_id=later.pk), "labeling_webhookendpoint"):
            redacting, errors = waiting_on_a_lock(partial(redact_stored_outputs, project=project))
        redacting.join(30)

    assert not errors
    assert not WebhookEndpoint.objects.get().enabled
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.FAILED}
    assert all(EMAIL not in output.output for output in Output.objects.all())


def test_a_skip_written_during_a_redaction_run_has_its_reason_redacted(project, expert):
    """New rules are saved and a run's batch holds the item (not committed) when the expert skips it, pasting the end
    user's address: the skip read the rules before they were in force and stored the address after the batch, which
    redacted the item's skips without it. It now reads the rules under the item's lock, as a flag or comment does."""
    queue = Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2)
    make_items(project, 1)
    held = next_item(expert=expert, queue=queue)

    def new_rules_and_a_run():
        save_rule_set(project=project, builtins=["email"], custom=[], phone_region="US")
        redact_stored_outputs(project=project)

    skipping = partial(skip_item, expert=expert, item=held, reason=f"Write to {EMAIL}")
    assert waits_for_uncommitted(new_rules_and_a_run, skipping) == []

    assert Skip.objects.get(item=held, expert=expert).reason == "Write to [EMAIL]"
