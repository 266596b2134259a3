"""Redacting stored outputs again (`redact_outputs`) and the dataset versions built from their earlier text: a
version never changes, so the run names the ready versions that still hold that text, for a lead to build anew."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from labeling.models import AuditEvent, Label, LabelRevision, Resolution
from labeling.selectors.datasets import rows_of_version
from labeling.services.datasets import build_version, create_dataset
from labeling.services.labels import submit_label
from labeling.services.redaction import save_rule_set
from labeling.services.resolution import adjudicate, resolve_item
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

    assert "Redacted 3 stored outputs" in out.getvalue()
    assert "still hold the earlier text of outputs redacted now: clean/v1, eval/v1, eval/v2." in out.getvalue()
    audit = AuditEvent.objects.get(project=project, action="redaction.outputs_redacted")
    assert audit.details["versions_with_earlier_text"] == ["clean/v1", "eval/v1", "eval/v2"]
    third = build_version(dataset_id=eval_set.pk)  # a new version holds the redacted text
    assert third.number == 3 and {first.number, second.number} == {1, 2}

    again = StringIO()
    call_command("redact_outputs", project=project.slug, stdout=again)  # nothing left under older rules
    assert "Redacted 0 stored outputs" in again.getvalue() and "earlier text" not in again.getvalue()


PHONE, EMAIL = "415-555-0100", "jane.doe@example.com"


def test_redacting_stored_outputs_redacts_what_experts_and_leads_wrote_about_them(project, lead):
    """Experts' critiques and corrections, the answers an edit replaced and a lead's gold correction quote the output:
    `redact_outputs` left them, and the next dataset version still carried the number in its `annotations`, `label`
    and `expected_output`. Answers that are not free text (choices, ratings) are the rubric's words and stay."""
    phone_texts = (
        {"correct": False, "tone": "curt", "critique": f"It gave out {PHONE}", "fix": f"Never share {PHONE}."},
        {
            "correct": False,
            "tone": "curt",
            "helpful": 2,
            "critique": "Leaks a number",
            "fix": f"Write to {EMAIL} instead.",
        },
    )
    [item] = label_outputs(project, 1, answers=phone_texts, texts=[f"Sure, call {PHONE} or {EMAIL}."])
    first = Label.objects.filter(item=item).order_by("pk").first()
    edited = {**phone_texts[0], "critique": f"It gave out {PHONE}, twice"}  # the earlier answers become a revision
    submit_label(expert=first.expert, item=item, rubric=first.rubric, answers=edited)
    resolve_item(item_id=item.pk)
    adjudicate(lead=lead, item=item, answers={"fix": f"Don't call {PHONE}; write to {EMAIL}."})
    dataset = create_dataset(project=project, spec={"name": "Eval"})
    save_rule_set(project=project, builtins=["email", "phone"], custom=[], phone_region="US")

    call_command("redact_outputs", project=project.slug, stdout=StringIO())

    labels = list(Label.objects.filter(item=item).order_by("pk").values_list("answers", flat=True))
    assert labels == [
        {"correct": False, "tone": "curt", "critique": "It gave out [PHONE], twice", "fix": "Never share [PHONE]."},
        {
            "correct": False,
            "tone": "curt",
            "helpful": 2,
            "critique": "Leaks a number",
            "fix": "Write to [EMAIL] instead.",
        },
    ]
    [revision] = LabelRevision.objects.filter(label=first).values_list("answers", flat=True)
    assert revision["critique"] == "It gave out [PHONE]" and revision["tone"] == "curt"
    gold = Resolution.objects.get(item=item)
    assert gold.adjudicated["fix"] == {
        "value": "Don't call [PHONE]; write to [EMAIL].",
        "method": "adjudicated",
        "rubric_version": 1,
    }
    assert gold.automatic["critique"]["value"] == ["It gave out [PHONE], twice", "Leaks a number"]
    assert gold.automatic["tone"]["value"] == "curt"
    row = json.loads(rows_of_version(build_version(dataset_id=dataset.pk)).get().line.text)
    assert row["expected_output"] == "Don't call [PHONE]; write to [EMAIL]."
    assert PHONE not in json.dumps(row) and EMAIL not in json.dumps(row)


def test_redacting_stored_outputs_redacts_the_gold_answers_the_audit_log_quotes(project, lead):
    """A lead's adjudication is audited with each decided question's gold before and after: after the run the gold
    held placeholders, but the audit log page still showed the number the expert quoted and the address the lead
    wrote. Who decided what, and when, stays."""
    answers = ({"correct": False, "tone": "curt", "fix": f"Call {PHONE}"}, {"correct": True, "tone": "curt"})
    [item] = label_outputs(project, 1, answers=answers, texts=[f"Call {PHONE}"])
    adjudicate(lead=lead, item=item, answers={"correct": False, "fix": f"Write to {EMAIL}.", "tone": "rude"})
    save_rule_set(project=project, builtins=["email", "phone"], custom=[], phone_region="US")

    call_command("redact_outputs", project=project.slug, stdout=StringIO())

    audit = AuditEvent.objects.get(project=project, action="gold.adjudicated")
    assert audit.actor == lead and audit.details["external_id"] == item.output.external_id
    assert audit.details["answers"] == {
        "correct": [None, False],
        "fix": [["Call [PHONE]"], "Write to [EMAIL]."],
        "tone": ["curt", "rude"],
    }
