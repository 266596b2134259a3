"""Redacting stored outputs again (`redact_outputs`) and the dataset versions built from their earlier text: a
version never changes, so the run names the ready versions that still hold that text, for a lead to build anew."""

from io import StringIO

import pytest
from django.core.management import call_command

from labeling.models import AuditEvent
from labeling.services.datasets import build_version, create_dataset
from labeling.services.redaction import save_rule_set
from tests.helpers.labeling import label_outputs

pytestmark = pytest.mark.django_db


def test_redacting_stored_outputs_names_the_dataset_versions_still_holding_their_earlier_text(project):
    label_outputs(project, 2, texts=["Mail jane@example.com", "No address here"])
    eval_set = create_dataset(project=project, spec={"name": "Eval"})
    first = build_version(dataset_id=eval_set.pk)
    label_outputs(project, 1, texts=["Call us"])
    second = build_version(dataset_id=eval_set.pk)
    clean = create_dataset(project=project, spec={"name": "Clean", "only_resolved": True})
    build_version(dataset_id=clean.pk)  # holds jane's row too
    save_rule_set(project=project, builtins=["email"], custom=[], phone_region="US")

    out = StringIO()
    call_command("redact_outputs", project=project.slug, stdout=out)

    assert "Redacted 3 stored output(s)" in out.getvalue()
    assert "still hold the earlier text of outputs redacted now: clean/v1, eval/v1, eval/v2." in out.getvalue()
    audit = AuditEvent.objects.get(project=project, action="redaction.outputs_redacted")
    assert audit.details["versions_with_earlier_text"] == ["clean/v1", "eval/v1", "eval/v2"]
    third = build_version(dataset_id=eval_set.pk)  # a new version holds the redacted text
    assert third.number == 3 and {first.number, second.number} == {1, 2}

    again = StringIO()
    call_command("redact_outputs", project=project.slug, stdout=again)  # nothing left under older rules
    assert "Redacted 0 stored output(s)" in again.getvalue() and "earlier text" not in again.getvalue()
