"""Personal data is redacted at ingest, before anything is stored, by the project's versioned rules.

What is redacted: string values in an output's input, output, context and metadata, the end user's feedback
comment (sent with the output or later), and usage events' property values. What is never touched: ids
(external_id, end_user_id, session_id, model, tags), metadata keys, event names, numbers and booleans.
"""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from labeling.models import AuditEvent, Output, RedactionRuleSet, UsageEvent
from labeling.services.redaction import redact_stored_outputs, save_rule_set
from labeling.web.audit_sentences import sentence
from tests.conftest import output_record

ALL = ["email", "phone", "card", "iban"]
EMAIL, PHONE, CARD, IBAN = "jane.doe@example.com", "415-555-0100", "4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00"


def rules(project, *, builtins=ALL, custom=(), region="US"):
    return save_rule_set(project=project, builtins=list(builtins), custom=list(custom), phone_region=region)


def pii_record(index=1, **overrides):
    fields = {
        "input": [{"role": "user", "content": f"I'm {EMAIL}, call {PHONE}; card {CARD} was charged twice"}],
        "output": f"Sorry! I'll refund to {IBAN} and write to {EMAIL}.",
        "context": {"crm": {"email": EMAIL, "phone": PHONE, "orders": 3, "vip": True}},
        "metadata": {"customer_email": EMAIL, EMAIL: "key stays", "topic": "billing", "callback": PHONE},
        "feedback": {"score": -1, "comment": f"call me on {PHONE}"},
    }
    return output_record(index, **{**fields, **overrides})


def test_free_text_is_stored_redacted_with_counts_and_version(api, project):
    rule_set = rules(project)

    response = api.post("/api/v1/outputs", {"outputs": [pii_record()]})

    assert response.status_code == 200
    stored = Output.objects.get(project=project)
    assert stored.input == [{"role": "user", "content": "I'm [EMAIL], call [PHONE]; card [CARD] was charged twice"}]
    assert stored.output == "Sorry! I'll refund to [IBAN] and write to [EMAIL]."
    assert stored.context == {"crm": {"email": "[EMAIL]", "phone": "[PHONE]", "orders": 3, "vip": True}}
    assert stored.feedback_comment == "call me on [PHONE]"
    assert stored.metadata == {
        "customer_email": "[EMAIL]",
        EMAIL: "key stays",
        "topic": "billing",
        "callback": "[PHONE]",
        "redactions": {"card": 1, "email": 4, "iban": 1, "phone": 4},
    }
    assert stored.redaction_version == rule_set.version == 1


def test_nothing_is_redacted_inside_ids(api, project):
    """Ids look like personal data here on purpose: they are the sender's keys and are kept exactly."""
    rules(project)
    record = pii_record(
        external_id=f"chat/{EMAIL}/4111111111111111",
        end_user_id=EMAIL,
        session_id=f"sess-{PHONE}",
        model="model-+1-415-555-0100",
        tags=[EMAIL, "GB82WEST12345698765432"],
    )

    api.post("/api/v1/outputs", {"outputs": [record]})

    stored = Output.objects.get(project=project)
    assert stored.external_id == f"chat/{EMAIL}/4111111111111111"
    assert (stored.end_user_id, stored.session_id, stored.model) == (EMAIL, f"sess-{PHONE}", "model-+1-415-555-0100")
    assert stored.tags == [EMAIL, "GB82WEST12345698765432"]
    assert EMAIL in stored.metadata  # the metadata key
    response = api.get(f"/api/v1/outputs/chat/{EMAIL}/4111111111111111")
    assert response.status_code == 200 and response.json()["redaction_version"] == 1


@pytest.mark.postgres
def test_the_raw_text_never_reaches_the_database(api, project):
    """Grep every row of every table (as text) for the personal data sent: none of it is stored."""
    rules(project, custom=[{"name": "account", "pattern": r"\bACCT-\d{6}\b"}])
    # Ids and metadata keys are kept as sent (see above), so here they hold no personal data.
    record = pii_record(output=f"Account ACCT-482913 for {EMAIL}", metadata={"contact": EMAIL, "tel": PHONE})
    sent = [
        api.post("/api/v1/outputs", {"outputs": [record]}),
        api.post("/api/v1/feedback", {"feedback": [{"external_id": record["external_id"], "score": -1,
                                                    "comment": "+44 20 7946 0958"}]}),
        api.post("/api/v1/events", {"events": [{"end_user_id": "u-1", "name": "msg", "properties": {"text": CARD}}]}),
    ]  # fmt: skip
    assert [response.status_code for response in sent] == [200, 200, 200], [r.content for r in sent]
    # Each record was stored (redacted), so finding none of the secrets below means redaction, not refusal.
    assert Output.objects.get(project=project, external_id=record["external_id"]).feedback_comment
    assert UsageEvent.objects.filter(project=project, end_user_id="u-1").exists()
    secrets = [EMAIL, PHONE, CARD, CARD.replace(" ", ""), IBAN, IBAN.replace(" ", ""), "ACCT-482913", "7946 0958"]

    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [name for (name,) in cursor.fetchall()]
        found = []
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" t')  # noqa: S608 — names from pg_tables
            found += [(table, secret) for (row,) in cursor.fetchall() for secret in secrets if secret in row]

    assert "labeling_output" in tables and Output.objects.filter(project=project).exists()
    assert found == []


def test_a_project_without_rules_stores_what_was_sent(api, project, other_project):
    rules(other_project)  # another project's rules do not apply here

    api.post("/api/v1/outputs", {"outputs": [pii_record()]})

    stored = Output.objects.get(project=project)
    assert EMAIL in stored.output and "redactions" not in stored.metadata
    assert stored.redaction_version is None


def test_rules_with_everything_switched_off_redact_nothing(api, project):
    rules(project)
    rules(project, builtins=[])

    api.post("/api/v1/outputs", {"outputs": [pii_record()]})

    assert Output.objects.get(project=project).redaction_version is None


def test_editing_rules_makes_a_new_version_and_leaves_older_outputs_alone(api, project, lead):
    rules(project, builtins=["email"])
    api.post("/api/v1/outputs", {"outputs": [pii_record(1)]})

    second = save_rule_set(project=project, builtins=["email", "phone"], custom=[], phone_region="US", actor=lead)
    api.post("/api/v1/outputs", {"outputs": [pii_record(2)]})

    old, new = Output.objects.filter(project=project).order_by("external_id")
    assert (old.redaction_version, new.redaction_version) == (1, 2)
    assert PHONE in old.output + json.dumps(old.input) and PHONE not in json.dumps(new.input)
    assert second.version == 2
    assert AuditEvent.objects.filter(project=project, action="redaction.rules_saved").count() == 2
    # Saving the same rules again is not a new version.
    assert rules(project, builtins=["phone", "email"]).version == 2
    assert RedactionRuleSet.objects.filter(project=project).count() == 2


def test_a_resent_record_stays_a_duplicate_after_the_rules_change(api, project):
    rules(project, builtins=["email"])
    api.post("/api/v1/outputs", {"outputs": [pii_record()]})
    rules(project)

    response = api.post("/api/v1/outputs", {"outputs": [pii_record()]})

    assert response.json()["duplicates"] == 1


def test_late_feedback_comments_are_redacted_and_counted(api, project):
    rules(project)
    api.post("/api/v1/outputs", {"outputs": [output_record(1, feedback=None)]})

    api.post("/api/v1/feedback", {"feedback": [{"external_id": "conv-1", "score": -1, "comment": f"mail {EMAIL}"}]})

    stored = Output.objects.get(project=project)
    assert stored.feedback_comment == "mail [EMAIL]"
    assert stored.metadata["redactions"] == {"email": 1}
    assert stored.metadata["topic"] == "shipping"


def test_event_property_values_are_redacted_and_names_kept(api, project):
    rules(project)
    event = {"end_user_id": EMAIL, "name": "message_sent", "properties": {"text": f"my card {CARD}", "n": 2}}

    api.post("/api/v1/events", {"events": [event]})

    stored = UsageEvent.objects.get(project=project)
    assert stored.properties == {"text": "my card [CARD]", "n": 2}
    assert (stored.end_user_id, stored.name) == (EMAIL, "message_sent")


def test_the_rules_are_readable_over_the_api(api, project, client, ingest_key):
    assert api.get("/api/v1/redaction-rules").json()["version"] is None
    rules(project, custom=[{"name": "account", "pattern": r"\bACCT-\d{6}\b"}], region="GB")

    body = api.get("/api/v1/redaction-rules").json()

    assert body["version"] == 1 and body["builtins"] == ALL and body["phone_region"] == "GB"
    assert body["custom"] == [{"name": "account", "pattern": r"\bACCT-\d{6}\b"}]
    refused = api.get("/api/v1/redaction-rules", key=ingest_key.secret)
    assert refused.status_code == 403


def test_older_outputs_are_redacted_again_only_when_asked(api, project):
    api.post("/api/v1/outputs", {"outputs": [pii_record(1)]})  # no rules yet
    rules(project, builtins=["email"])
    api.post("/api/v1/outputs", {"outputs": [pii_record(2)]})
    rules(project)
    api.post("/api/v1/outputs", {"outputs": [pii_record(3)]})
    current = Output.objects.get(project=project, external_id="conv-3")

    out = StringIO()
    call_command("redact_outputs", project=project.slug, stdout=out)

    assert "Redacted 2 stored outputs" in out.getvalue()
    first, second, third = Output.objects.filter(project=project).order_by("external_id")
    assert [o.redaction_version for o in (first, second, third)] == [2, 2, 2]
    for output in (first, second):
        assert output.output == "Sorry! I'll refund to [IBAN] and write to [EMAIL]."
        assert output.feedback_comment == "call me on [PHONE]"
    assert second.metadata["redactions"] == {"card": 1, "email": 4, "iban": 1, "phone": 4}  # 4 e-mails counted once
    assert (third.output, third.metadata) == (current.output, current.metadata)  # already under v2: untouched
    assert AuditEvent.objects.filter(project=project, action="redaction.outputs_redacted").count() == 1


def test_older_usage_events_are_redacted_by_the_same_command(api, project):
    """`redact_outputs` rewrote outputs only: events stored before a rule was added kept the phone it removes."""

    def event(n):
        return {"external_id": f"ev-{n}", "end_user_id": "u-1", "name": "message_sent",
                "properties": {"text": f"write to {EMAIL} or call {PHONE}", "n": n, "page": "/help"}}  # fmt: skip

    api.post("/api/v1/events", {"events": [event(1)]})  # no rules yet
    rules(project, builtins=["email"])
    api.post("/api/v1/events", {"events": [event(2), event(3)]})  # the e-mail redacted at ingest, the phone kept
    rules(project)
    api.post("/api/v1/events", {"events": [event(4)]})  # under the rules in force

    out = StringIO()
    call_command("redact_outputs", project=project.slug, stdout=out)

    assert "Redacted 0 stored outputs and 3 usage events" in out.getvalue()
    stored = UsageEvent.objects.filter(project=project).order_by("external_id")
    assert [event.properties for event in stored] == [
        {"text": "write to [EMAIL] or call [PHONE]", "n": n, "page": "/help"} for n in (1, 2, 3, 4)
    ]
    audit = AuditEvent.objects.get(project=project, action="redaction.outputs_redacted")
    assert audit.details["usage_events"] == 3
    assert (
        sentence(audit.action, audit.details)
        == "Redacted 0 stored outputs and 3 usage events with version 2 of the rules"
    )

    again = StringIO()
    call_command("redact_outputs", project=project.slug, stdout=again)
    assert "Redacted 0 stored outputs and 0 usage events" in again.getvalue()


@pytest.mark.parametrize("builtins", [None, []])
def test_redacting_stored_outputs_without_rules_says_there_are_none(api, project, builtins):
    """Without rules in force (none saved, or all switched off) it said "Redacted 0 stored output(s) … with the rules
    in force", as if it had looked and found nothing to remove."""
    api.post("/api/v1/outputs", {"outputs": [pii_record(1)]})
    if builtins is not None:
        rules(project, builtins=builtins)

    out = StringIO()
    call_command("redact_outputs", project=project.slug, stdout=out)

    assert out.getvalue() == (
        f"{project.slug} has no redaction rules in force: nothing was redacted. Save some on Manage → Redaction.\n"
    )
    assert EMAIL in Output.objects.get(project=project).output


def test_stored_usage_events_are_redacted_in_batches_that_each_go_on_from_the_last(api, project):
    """Batches walk the events by time: many at one moment, more than a batch holds, are all done, each once."""
    moments = ["2026-11-20T09:00:00Z"] * 5 + ["2026-11-19T09:00:00Z", "2026-11-21T09:00:00Z"]
    events = [
        {"end_user_id": "u-1", "name": "search", "occurred_at": at, "properties": {"q": f"{EMAIL} {n}"}}
        for n, at in enumerate(moments)
    ]
    api.post("/api/v1/events", {"events": events})
    rules(project, builtins=["email"])

    run = redact_stored_outputs(project=project, batch_size=2)

    assert run.usage_events == 7
    stored = UsageEvent.objects.filter(project=project)
    assert sorted(event.properties["q"] for event in stored) == [f"[EMAIL] {n}" for n in range(7)]
    assert redact_stored_outputs(project=project, batch_size=2).usage_events == 0


@pytest.mark.parametrize(("persona", "status"), [("lead", 200), ("engineer", 403), ("expert", 403), ("outsider", 404)])
def test_a_signed_in_lead_reads_the_rules_as_on_their_page(client, project, persona, status, request):
    """The rules' page is the leads' (and admins'): signed in, they read the rules over the API with `?project=`;
    the project's other members are told so (403), anyone else that there is no such project. Without `?project=` it
    is a 400 saying to name it."""
    rules(project, region="GB")
    client.force_login(request.getfixturevalue(persona))

    response = client.get("/api/v1/redaction-rules", {"project": "support-bot"})

    assert response.status_code == status
    if status == 200:
        assert response.json()["phone_region"] == "GB"
        unnamed = client.get("/api/v1/redaction-rules")
        assert unnamed.status_code == 400
        assert unnamed.json()["errors"][0]["message"].startswith("Name the project")
