"""Redacting stored outputs again (`redact_outputs`) while a lead adjudicates one of them: the audit event of the
adjudication quotes the gold before and after, and must come out of the run redacted like the gold itself."""

import json
from functools import partial

import pytest

from labeling.models import AuditEvent, Resolution
from labeling.services.redaction import redact_stored_outputs, save_rule_set
from labeling.services.resolution import adjudicate
from tests.helpers.concurrency import held_halfway, waiting_on_a_lock
from tests.helpers.labeling import label_outputs

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
