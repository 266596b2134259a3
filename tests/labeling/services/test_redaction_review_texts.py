"""The redaction rules and what people write about outputs and datasets: experts paste the end user's address or
number from the output into a flag's note, a comment, a skip reason or a free-text answer, and a lead into a version's
withdrawal reason. Written while rules are in force, each is stored redacted; written before, `redact_outputs`
redacts it."""

import pytest

from labeling.models import AuditEvent, DatasetVersion
from labeling.services.datasets import build_version, create_dataset, withdraw_version
from labeling.services.redaction import redact_stored_outputs, save_rule_set
from tests.helpers.labeling import label_outputs

pytestmark = pytest.mark.django_db

PHONE, EMAIL = "415-555-0100", "jane.doe@example.com"


def _rules(project):
    save_rule_set(project=project, builtins=["email", "phone"], custom=[], phone_region="US")


def _withdrawn(project, lead, reason):
    label_outputs(project, 1)
    dataset = create_dataset(project=project, spec={"name": "Eval"})
    version = build_version(dataset_id=dataset.pk)
    withdraw_version(dataset=dataset, number=version.number, reason=reason, actor=lead)
    return version


def test_redacting_stored_outputs_redacts_the_reasons_versions_were_withdrawn_for(project, lead):
    """The reason (shown on the dataset page, in every 410, in the audit log) kept the address the lead quoted."""
    version = _withdrawn(project, lead, f"Withdrawn: contains {EMAIL}")
    _rules(project)

    redact_stored_outputs(project=project)

    version.refresh_from_db()
    assert version.withdrawn_note == "Withdrawn: contains [EMAIL]"
    audit = AuditEvent.objects.get(project=project, action="dataset.version_withdrawn")
    assert audit.details["reason"] == "Withdrawn: contains [EMAIL]" and audit.details["version"] == version.number


def test_a_version_withdrawn_while_rules_are_in_force_keeps_its_reason_redacted(project, lead):
    _rules(project)

    version = _withdrawn(project, lead, f"Withdrawn: contains {EMAIL}")

    assert DatasetVersion.objects.get(pk=version.pk).withdrawn_note == "Withdrawn: contains [EMAIL]"
    audit = AuditEvent.objects.get(project=project, action="dataset.version_withdrawn")
    assert audit.details["reason"] == "Withdrawn: contains [EMAIL]"
