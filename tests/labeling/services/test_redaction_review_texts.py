"""The redaction rules and what people write about outputs and datasets: experts paste the end user's address or
number from the output into a flag's note, a comment, a skip reason or a free-text answer, and a lead into a version's
withdrawal reason, an adjudication note or a meeting's decision. Written while rules are in force, each is stored
redacted; written before, `redact_outputs` redacts it."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from labeling.models import (
    AuditEvent,
    Comment,
    DatasetVersion,
    Decision,
    Flag,
    Label,
    Output,
    Resolution,
    Skip,
    WebhookDelivery,
    week_label,
)
from labeling.rules.calendar import current_week
from labeling.services import webhooks
from labeling.services.cycles import add_decision, delete_decision, get_cycle
from labeling.services.datasets import build_version, create_dataset, withdraw_version
from labeling.services.labels import comment_on_item, flag_item, submit_label
from labeling.services.redaction import redact_stored_outputs, save_rule_set
from labeling.services.resolution import adjudicate, mark_for_adjudication
from tests.factories import UserFactory, created_weeks_ago
from tests.helpers.labeling import AGREE, label_outputs

pytestmark = pytest.mark.django_db

PHONE, EMAIL = "415-555-0100", "jane.doe@example.com"


def _rules(project):
    save_rule_set(project=project, builtins=["email", "phone"], custom=[], phone_region="US")


def _skip(project, item, reason):
    """A third expert skips the item (it has two slots, both labeled: the skip is of an item they were not given)."""
    from labeling.models import Membership
    from labeling.services.assignment import skip_item

    skipper = UserFactory(username="skipper")
    Membership.objects.create(project=project, user=skipper, role="expert")
    assert skip_item(expert=skipper, item=item, reason=reason)


def test_redacting_stored_outputs_redacts_flag_notes_comments_and_skip_reasons(project, expert):
    """They were the review's own words and stayed as written, the end user's address and number with them."""
    [item] = label_outputs(project, 1, answers=AGREE, texts=[f"Call {PHONE} or write to {EMAIL}."])
    flag_item(expert=expert, item=item, note=f"It leaks {EMAIL}")
    comment_on_item(author=expert, item=item, body=f"And {PHONE}, twice.")
    _skip(project, item, f"Not sure about {EMAIL}")
    _rules(project)

    run = redact_stored_outputs(project=project)

    assert run.outputs == 1
    assert Flag.objects.get().note == "It leaks [EMAIL]"
    assert Comment.objects.get().body == "And [PHONE], twice."
    assert Skip.objects.get().reason == "Not sure about [EMAIL]"


def test_a_flag_comment_or_skip_written_while_rules_are_in_force_is_stored_and_sent_redacted(project, expert, lead):
    """The rules were applied at ingest only: the note went into the table and out to a webhook as typed."""
    endpoint = webhooks.create_endpoint(
        project=project, created_by=lead, url="https://hooks.example.com/full", events=["output.flagged"],
        include_transcripts=True,
    ).endpoint  # fmt: skip
    _rules(project)
    [item] = label_outputs(project, 1, answers=AGREE)

    flag = flag_item(expert=expert, item=item, note=f"It leaks {EMAIL}")
    comment = comment_on_item(author=expert, item=item, body=f"Call {PHONE}")
    _skip(project, item, f"Ask {EMAIL}")

    assert (flag.note, comment.body) == ("It leaks [EMAIL]", "Call [PHONE]")
    assert Flag.objects.get().note == "It leaks [EMAIL]" and Comment.objects.get().body == "Call [PHONE]"
    assert Skip.objects.get().reason == "Ask [EMAIL]"
    body = json.loads(WebhookDelivery.objects.get(endpoint=endpoint).body)
    assert body["data"]["note"] == "It leaks [EMAIL]"
    # The same note posted again is the same flag (it is compared as stored).
    assert flag_item(expert=expert, item=item, note=f"It leaks {EMAIL}") == flag


def test_a_label_written_after_its_output_was_redacted_is_redacted(project, expert):
    """The run visits only outputs redacted under older rules: a label written later on an output already done stayed
    with the address its expert copied, through every later run."""
    [item] = label_outputs(project, 1, answers=AGREE[:1], resolve=False, texts=[f"Write to {EMAIL}"])
    _rules(project)
    redact_stored_outputs(project=project)
    label = Label.objects.get(item=item)

    submit_label(
        expert=label.expert,
        item=item,
        rubric=label.rubric,
        answers={"correct": False, "tone": "curt", "critique": f"It gave out {EMAIL}", "fix": f"Never {PHONE}"},
    )
    redact_stored_outputs(project=project)

    label.refresh_from_db()
    assert label.answers == {
        "correct": False,
        "tone": "curt",
        "critique": "It gave out [EMAIL]",
        "fix": "Never [PHONE]",
    }
    assert label.revisions.get().answers == AGREE[0]


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


def test_redact_outputs_says_how_many_withdrawal_reasons_it_redacted(project, lead):
    """The command printed the outputs and usage events it redacted, not the withdrawal reasons (which it audits)."""
    _withdrawn(project, lead, f"Withdrawn: contains {EMAIL}")
    _rules(project)

    out = StringIO()
    call_command("redact_outputs", project=project.slug, stdout=out)
    again = StringIO()
    call_command("redact_outputs", project=project.slug, stdout=again)

    assert "the reasons of 1 withdrawn dataset version," in out.getvalue()
    assert "the reasons of 0 withdrawn dataset versions" in again.getvalue()  # redacted already
    audit = AuditEvent.objects.filter(action="redaction.outputs_redacted").order_by("pk").first()
    assert audit.details["withdrawal_reasons"] == 1


def test_a_version_withdrawn_while_rules_are_in_force_keeps_its_reason_redacted(project, lead):
    _rules(project)

    version = _withdrawn(project, lead, f"Withdrawn: contains {EMAIL}")

    assert DatasetVersion.objects.get(pk=version.pk).withdrawn_note == "Withdrawn: contains [EMAIL]"
    audit = AuditEvent.objects.get(project=project, action="dataset.version_withdrawn")
    assert audit.details["reason"] == "Withdrawn: contains [EMAIL]"


def test_a_leads_correction_written_after_its_output_was_redacted_is_redacted(project, lead):
    """As a label: the gold correction a lead wrote on an output redacted already went into the gold, the audit log
    and the next dataset version with the address in it, and no later run visited it."""
    [item] = label_outputs(project, 1, answers=AGREE[:1], texts=[f"Write to {EMAIL}"])
    _rules(project)
    redact_stored_outputs(project=project)

    adjudicate(lead=lead, item=item, answers={"fix": f"Write to {EMAIL} or call {PHONE}."})
    redact_stored_outputs(project=project)

    assert Resolution.objects.get(item=item).adjudicated["fix"]["value"] == "Write to [EMAIL] or call [PHONE]."
    audit = AuditEvent.objects.get(project=project, action="gold.adjudicated")
    assert audit.details["answers"]["fix"] == [None, "Write to [EMAIL] or call [PHONE]."]


def test_redact_outputs_all_redacts_what_was_written_about_outputs_redacted_already(project, expert):
    """Labels and flags written before writes applied the rules, on outputs a run had redacted: a run visits only
    outputs under older rules, so without `--all` nothing would reach them."""
    [item] = label_outputs(project, 1, answers=AGREE[:1], texts=[f"Write to {EMAIL}"])
    flag = flag_item(expert=expert, item=item, note="Leaks an address")
    _rules(project)
    redact_stored_outputs(project=project)
    # As stored before this change: the answer and note were written as typed.
    Label.objects.filter(item=item).update(answers={**AGREE[0], "critique": f"It gave out {EMAIL}"})
    Flag.objects.filter(pk=flag.pk).update(note=f"Leaks {EMAIL}")

    out = StringIO()
    call_command("redact_outputs", project=project.slug, stdout=out)
    assert Flag.objects.get().note == f"Leaks {EMAIL}"  # not visited: the output is redacted under these rules
    call_command("redact_outputs", "--all", project=project.slug, stdout=out)

    assert Label.objects.get(item=item).answers["critique"] == "It gave out [EMAIL]"
    assert Flag.objects.get().note == "Leaks [EMAIL]"
    assert Output.objects.get().output == "Write to [EMAIL]"


# A lead's words: the adjudication note, and the weekly meeting's decisions ----------------------------------------


def test_an_adjudication_note_written_while_rules_are_in_force_is_stored_redacted(project, lead):
    """The note was stored as typed (on the adjudication list and page), the end user's address with it."""
    _rules(project)
    [item] = label_outputs(project, 1, answers=AGREE)

    mark_for_adjudication(lead=lead, item=item, note=f"Ask {EMAIL} what they meant")
    assert Resolution.objects.get(item=item).note == "Ask [EMAIL] what they meant"
    # The same mark posted again is the first one (the note is compared as stored).
    mark_for_adjudication(lead=lead, item=item, note=f"Ask {EMAIL} what they meant")
    assert AuditEvent.objects.filter(action="gold.marked_for_adjudication").count() == 1

    adjudicate(lead=lead, item=item, answers={"correct": False}, note=f"They called back from {PHONE}")
    assert Resolution.objects.get(item=item).note == "They called back from [PHONE]"


def test_redacting_stored_outputs_redacts_adjudication_notes(project, lead):
    """The run redacted the gold a lead decided, not the note they wrote with it: "a lead's adjudication note stays"."""
    [item] = label_outputs(project, 1, answers=AGREE, texts=[f"Write to {EMAIL}"])
    adjudicate(lead=lead, item=item, answers={"correct": False}, note=f"It gave out {EMAIL} and {PHONE}")
    _rules(project)

    redact_stored_outputs(project=project)

    assert Resolution.objects.get(item=item).note == "It gave out [EMAIL] and [PHONE]"


def _last_week(project):
    created_weeks_ago(project, 4)
    week = current_week(project) - timedelta(days=7)
    return week, get_cycle(project=project, week=week)


def _markdown(client, project, lead, week) -> str:
    client.force_login(lead)
    response = client.get(f"/p/{project.slug}/meeting/{week_label(week)}/report.md")
    assert response.status_code == 200
    return response.content.decode()


def test_a_decision_written_while_rules_are_in_force_is_stored_redacted(client, project, lead):
    """The meeting's decision kept the address the lead quoted: on the page, in the Markdown export, in the log."""
    week, cycle = _last_week(project)
    [item] = label_outputs(project, 1, answers=AGREE)
    _rules(project)

    about_item = add_decision(user=lead, cycle=cycle, text=f"Reply to {EMAIL} by Friday", item_id=item.pk)
    general = add_decision(user=lead, cycle=cycle, text=f"Stop quoting {PHONE} in prompts")

    assert about_item.text == "Reply to [EMAIL] by Friday" and general.text == "Stop quoting [PHONE] in prompts"
    assert set(Decision.objects.values_list("text", flat=True)) == {about_item.text, general.text}
    logged = AuditEvent.objects.filter(action="decision.added").values_list("details__text", flat=True)
    assert set(logged) == {about_item.text, general.text}
    markdown = _markdown(client, project, lead, week)
    assert r"- Reply to \[EMAIL\] by Friday" in markdown and EMAIL not in markdown and PHONE not in markdown
    # The same decision posted again is the first one (its text is compared as stored).
    assert add_decision(user=lead, cycle=cycle, text=f"Reply to {EMAIL} by Friday", item_id=item.pk) == about_item


def test_redacting_stored_outputs_redacts_the_decisions_about_them_and_all_decisions_with_all(client, project, lead):
    """A decision about an item quotes its output: the run redacts it with the output (and the log's copies of it, a
    deleted decision's too). A decision about no item is reached by `--all`, which reads all the project's."""
    week, cycle = _last_week(project)
    [item] = label_outputs(project, 1, answers=AGREE, texts=[f"Write to {EMAIL}"])
    about_item = add_decision(user=lead, cycle=cycle, text=f"Reply to {EMAIL} by Friday", item_id=item.pk)
    deleted = add_decision(user=lead, cycle=cycle, text=f"Call {PHONE}", item_id=item.pk)
    delete_decision(user=lead, project=project, week=week, decision_id=deleted.pk)
    general = add_decision(user=lead, cycle=cycle, text=f"Stop quoting {PHONE} in prompts")
    _rules(project)

    call_command("redact_outputs", project=project.slug, stdout=StringIO())

    assert Decision.objects.get(pk=about_item.pk).text == "Reply to [EMAIL] by Friday"
    assert Decision.objects.get(pk=general.pk).text == f"Stop quoting {PHONE} in prompts"  # about no output
    texts = AuditEvent.objects.filter(action__startswith="decision.").values_list("details__text", flat=True)
    assert sorted(texts) == ["Call [PHONE]", "Call [PHONE]", "Reply to [EMAIL] by Friday", general.text]

    call_command("redact_outputs", "--all", project=project.slug, stdout=StringIO())

    assert Decision.objects.get(pk=general.pk).text == "Stop quoting [PHONE] in prompts"
    texts = AuditEvent.objects.filter(action__startswith="decision.").values_list("details__text", flat=True)
    assert sorted(texts) == [
        "Call [PHONE]",
        "Call [PHONE]",
        "Reply to [EMAIL] by Friday",
        "Stop quoting [PHONE] in prompts",
    ]
    markdown = _markdown(client, project, lead, week)
    assert EMAIL not in markdown and PHONE not in markdown and r"- Stop quoting \[PHONE\] in prompts" in markdown
