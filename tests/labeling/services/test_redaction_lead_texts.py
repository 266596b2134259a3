"""The redaction rules and what a lead types outside an item's review: a meeting decision's owner ("ana@example.com")
and a saved explore view's name ("complaints from bob@example.com"). Written while rules are in force, each is stored
redacted; written before, `redact_outputs` redacts it (a decision's owner with its text; view names, which are about
no output, with `--all`). A run says, and audits, how many lead's texts of each kind it redacted."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from labeling.models import AuditEvent, Comment, Decision, Flag, ReviewCycle, SavedView, Skip, week_label
from labeling.rules.calendar import current_week, week_end
from labeling.services.cycles import add_decision, close_week, delete_decision, get_cycle
from labeling.services.redaction import redact_stored_outputs, save_rule_set
from labeling.services.resolution import adjudicate
from labeling.services.saved_views import save_view
from tests.conftest import _member
from tests.factories import created_weeks_ago
from tests.helpers.labeling import AGREE, label_outputs

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

PHONE, EMAIL, OTHER_EMAIL = "415-555-0100", "ana@example.com", "bob@example.com"


@pytest.fixture
def other_lead_of_project(project):
    return _member(project, "leo", "lead")


def _rules(project):
    save_rule_set(project=project, builtins=["email", "phone"], custom=[], phone_region="US")


def _last_week(project):
    created_weeks_ago(project, 4)
    week = current_week(project) - timedelta(days=7)
    return week, get_cycle(project=project, week=week)


def _url(name, project, *args) -> str:
    return reverse(f"labeling:{name}", args=[project.slug, *args])


def _redact_outputs(project, *args) -> str:
    out = StringIO()
    call_command("redact_outputs", *args, project=project.slug, stdout=out)
    return out.getvalue()


# A meeting decision's owner ----------------------------------------------------------------------------------------


def test_a_decisions_owner_written_while_rules_are_in_force_is_stored_redacted(client, project, lead):
    """The decision's text was redacted, its owner (free text: the lead typed an address) was stored and shown as
    typed: on the meeting page, in its Markdown export and in the audit log."""
    week, _ = _last_week(project)
    _rules(project)
    client.force_login(lead)

    response = client.post(
        _url("decision-add", project, week_label(week)), {"text": "Reply by Friday", "owner": EMAIL}, follow=True
    )

    assert response.status_code == 200
    assert Decision.objects.get().owner == "[EMAIL]"
    assert AuditEvent.objects.get(action="decision.added").details["owner"] == "[EMAIL]"
    page = response.content.decode()
    assert "<td><bdi>[EMAIL]</bdi></td>" in page and EMAIL not in page
    markdown = client.get(_url("meeting-markdown", project, week_label(week))).content.decode()
    assert EMAIL not in markdown and r"\[EMAIL\]" in markdown
    audit_page = client.get(_url("audit", project)).content.decode()
    assert "owner [EMAIL]" in audit_page and EMAIL not in audit_page


def test_redact_outputs_redacts_the_owners_of_decisions_and_all_of_them_with_all(project, lead):
    """The run redacted a decision's text and left its owner; a decision about no item is reached by `--all`."""
    week, cycle = _last_week(project)
    [item] = label_outputs(project, 1, answers=AGREE, texts=["Hello"])
    about_item = add_decision(user=lead, cycle=cycle, text="Reply by Friday", owner=EMAIL, item_id=item.pk)
    deleted = add_decision(user=lead, cycle=cycle, text="Call back", owner=PHONE, item_id=item.pk)
    delete_decision(user=lead, project=project, week=week, decision_id=deleted.pk)
    general = add_decision(user=lead, cycle=cycle, text="Fix the prompt", owner=f"{OTHER_EMAIL} (Bob)")
    _rules(project)

    _redact_outputs(project)

    assert Decision.objects.get(pk=about_item.pk).owner == "[EMAIL]"
    assert Decision.objects.get(pk=general.pk).owner == f"{OTHER_EMAIL} (Bob)"  # about no output: --all reaches it

    _redact_outputs(project, "--all")

    assert Decision.objects.get(pk=general.pk).owner == "[EMAIL] (Bob)"
    owners = AuditEvent.objects.filter(action__startswith="decision.").values_list("details__owner", flat=True)
    assert sorted(owners) == ["[EMAIL]", "[EMAIL] (Bob)", "[PHONE]", "[PHONE]"]


def test_redact_outputs_redacts_the_decisions_a_closed_weeks_report_carries(project, lead):
    """A closed week's report keeps the earlier weeks' open decisions as they stood at its close: the run redacts those
    copies as it redacts the decisions, and leaves the rest of the report as frozen."""
    week, cycle = _last_week(project)
    decision = add_decision(user=lead, cycle=cycle, text=f"Call {PHONE} about it", owner=EMAIL)
    close_week(project_id=project.pk, week=week + timedelta(days=7), now=week_end(project, week) + timedelta(days=8))
    closed = ReviewCycle.objects.get(project=project, week=week + timedelta(days=7))
    _rules(project)

    _redact_outputs(project, "--all")

    closed.refresh_from_db()
    [carried] = closed.report["carried_decisions"]
    assert (carried["id"], carried["text"], carried["owner"]) == (decision.pk, "Call [PHONE] about it", "[EMAIL]")


# A saved view's name -------------------------------------------------------------------------------------------


def test_a_saved_view_named_while_rules_are_in_force_is_stored_redacted(client, project, lead):
    """The name was stored as typed, and listed to every member on the explore and project pages."""
    _rules(project)
    client.force_login(lead)

    page = client.post(
        _url("explore-view-save", project), {"name": f"Complaints from {EMAIL}", "query": "q=refund"}, follow=True
    ).content.decode()

    assert SavedView.objects.get().name == "Complaints from [EMAIL]"
    assert "Saved the view “Complaints from [EMAIL]”" in page and EMAIL not in page
    assert AuditEvent.objects.get(action="saved_view.created").details["name"] == "Complaints from [EMAIL]"
    assert EMAIL not in client.get(_url("project", project)).content.decode()


def test_two_names_that_redact_alike_are_one_name_taken(client, project, lead, other_lead_of_project):
    """The second name is refused as taken, with the message a name taken gets, not a 500; the same save posted again
    by the same lead is the first one."""
    _rules(project)
    first = save_view(project=project, name=f"Complaints from {EMAIL}", query="q=refund", actor=lead)
    assert save_view(project=project, name=f"Complaints from {EMAIL}", query="q=refund", actor=lead) == first
    client.force_login(other_lead_of_project)

    response = client.post(
        _url("explore-view-save", project), {"name": f"Complaints from {OTHER_EMAIL}", "query": "q=refund"}, follow=True
    )

    assert response.status_code == 200
    assert "This project has a saved view named &#x27;Complaints from [EMAIL]&#x27; already." in (
        response.content.decode()
    )
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Complaints from [EMAIL]"]


def test_redact_outputs_all_redacts_saved_view_names_keeping_them_unique(client, project, lead):
    """Names are about no output: `--all` reads them all. Two that redact alike, or like a name the project has, are
    told apart by a number, never an IntegrityError midway through the run."""
    for name in (f"Complaints from {EMAIL}", "Complaints from [EMAIL]", f"Complaints from {OTHER_EMAIL}", "Refunds"):
        save_view(project=project, name=name, query="", actor=lead)
    _rules(project)

    _redact_outputs(project)
    assert SavedView.objects.filter(name=f"Complaints from {EMAIL}").exists()  # without --all: not visited

    out = _redact_outputs(project, "--all")

    assert sorted(SavedView.objects.values_list("name", flat=True)) == [
        "Complaints from [EMAIL]",
        "Complaints from [EMAIL] (2)",
        "Complaints from [EMAIL] (3)",
        "Refunds",
    ]
    assert "the names of 2 saved views" in out
    # Each view's event names it as it is stored now, its number included.
    named = dict(AuditEvent.objects.filter(action="saved_view.created").values_list("details__view", "details__name"))
    assert named == dict(SavedView.objects.values_list("pk", "name"))
    client.force_login(lead)
    page = client.get(_url("explore", project)).content.decode()
    assert "Complaints from [EMAIL] (3)" in page and EMAIL not in page and OTHER_EMAIL not in page
    assert "the names of 0 saved views" in _redact_outputs(project, "--all")  # redacted already


# What a run says it did ----------------------------------------------------------------------------------------


def test_a_run_says_and_audits_how_many_notes_decisions_owners_and_view_names_it_redacted(client, project, lead):
    """The command printed, and the audit log told, the outputs, usage events and withdrawal reasons it redacted, not
    the flag notes, comments and skip reasons, nor the lead's adjudication notes, decisions, owners and view names it
    changed too."""
    _, cycle = _last_week(project)
    [item] = label_outputs(project, 1, answers=AGREE, texts=[f"Write to {EMAIL}"])
    # Written before the rules, as an expert would have: a flag, two comments (one quoting nothing), a skip.
    Flag.objects.create(item=item, expert=lead, note=f"It told {EMAIL} to wait")
    Comment.objects.create(item=item, author=lead, body=f"Call {PHONE}")
    Comment.objects.create(item=item, author=lead, body="Nothing personal here")
    Skip.objects.create(item=item, expert=lead, reason=f"Not sure about {PHONE}")
    adjudicate(lead=lead, item=item, answers={"correct": False}, note=f"It gave out {EMAIL}")
    add_decision(user=lead, cycle=cycle, text=f"Reply to {EMAIL}", owner=EMAIL, item_id=item.pk)
    add_decision(user=lead, cycle=cycle, text=f"Never quote {PHONE}")
    save_view(project=project, name=f"From {EMAIL}", query="", actor=lead)
    _rules(project)

    out = _redact_outputs(project, "--all")

    assert (
        "the notes of 1 flag, 1 comment, the reasons of 1 skip, 1 adjudication note, the texts of 2 "
        "meeting decisions and the owners of 1, and the names of 1 saved view"
    ) in out
    details = AuditEvent.objects.get(action="redaction.outputs_redacted").details
    counted = (
        "flag_notes", "comments", "skip_reasons", "adjudication_notes", "decisions", "decision_owners",
        "saved_view_names",
    )  # fmt: skip
    assert [details[key] for key in counted] == [1, 1, 1, 1, 2, 1, 1]
    client.force_login(lead)
    audit_page = client.get(_url("audit", project)).content.decode()
    assert (
        "Redacted 1 stored outputs and 0 usage events with version 1 of the rules; also the notes of 1 flag, 1 "
        "comment, the reasons of 1 skip, 1 adjudication note, the texts of 2 meeting decisions, the owners of 1 "
        "decision and the names of 1 saved view"
    ) in audit_page
    run = redact_stored_outputs(project=project, every_output=True)  # redacted already
    again = (run.flag_notes, run.comments, run.skip_reasons, run.adjudication_notes, run.decisions, run.decision_owners)
    assert again + (run.saved_view_names,) == (0, 0, 0, 0, 0, 0, 0)
