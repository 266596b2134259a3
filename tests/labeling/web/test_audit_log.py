"""The audit log page: a project's leads and admins see who did what, newest first, as sentences, in the
project's time zone; filter by action (or area), person and days; page without repeats. Experts, engineers,
outsiders and another project's lead get a 404. Details are text: a `<script>` in them shows escaped."""

import ast
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from labeling.models import AuditEvent, Decision, Membership, ReviewCycle, week_label
from labeling.rules import calendar
from labeling.selectors import audit as audit_selectors
from labeling.services.api_keys import create_api_key, revoke_api_key
from labeling.services.invitations import accept_invitation, invite_member, resend_invitation, revoke_invitation
from labeling.services.members import change_role, remove_member
from labeling.services.projects import ProjectSettings, settings_of, update_project_settings
from labeling.services.queues import QueueValues, create_queue, update_queue
from labeling.services.redaction import save_rule_set
from labeling.web import audit_sentences
from tests.conftest import _member
from tests.factories import MembershipFactory, UserFactory, created_weeks_ago
from tests.helpers.labeling import label_outputs
from tests.outbox import enqueued, run_as_worker

ROOT = Path(__file__).resolve().parents[3]
TIE = ({"correct": True, "helpful": 4}, {"correct": False, "helpful": 4})


@pytest.fixture
def other_lead(other_project):
    return _member(other_project, "olga", "lead")


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


def url(project):
    return f"/p/{project.slug}/manage/audit/"


def event(project, action, *, at=None, actor=None, **details) -> AuditEvent:
    made = AuditEvent.objects.create(project=project, action=action, actor=actor, details=details)
    if at is not None:
        AuditEvent.objects.filter(pk=made.pk).update(at=at)
    return made


def shown(response) -> list[int]:
    return [row["event"].pk for row in response.context["rows"]]


# Access -------------------------------------------------------------------------------------------------------


def test_the_page_needs_a_signed_in_user(client, project):
    response = client.get(url(project))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/")


@pytest.mark.parametrize("persona", ["expert", "engineer", "outsider", "other_lead"])
def test_it_validates_ownership(client, project, persona, request):
    """Only the project's leads and admins read its log; the page is read-only, so a POST is refused too."""
    event(project, "rubric.published", version=1)
    client.force_login(request.getfixturevalue(persona))

    assert client.get(url(project)).status_code == 404
    assert client.get(url(project), {"action": "rubric.published"}).status_code == 404
    assert client.post(url(project)).status_code in (404, 405)
    assert AuditEvent.objects.count() == 1


def test_an_admin_reads_the_log(client, project):
    admin = MembershipFactory(project=project, role="admin", user=UserFactory(username="ada")).user
    event(project, "rubric.published", version=1)
    client.force_login(admin)
    assert client.get(url(project)).status_code == 200


def test_another_projects_events_are_not_shown(lead_client, project, other_project):
    mine = event(project, "rubric.published", version=1)
    event(other_project, "rubric.published", version=7)
    response = lead_client.get(url(project))
    assert shown(response) == [mine.pk] and "version 7" not in response.content.decode()


# What a row says ----------------------------------------------------------------------------------------------


def test_keys_issued_and_revoked_read_as_sentences_with_who_did_it(lead_client, project, lead):
    issued = create_api_key(project=project, name="support-bot prod", scopes=["ingest", "read"], created_by=lead)
    revoke_api_key(api_key=issued.api_key, revoked_by=lead)
    prefix = issued.api_key.prefix

    response = lead_client.get(url(project))

    assert response.status_code == 200
    rows = response.context["rows"]
    assert [row["sentence"] for row in rows] == [
        f"Revoked the API key “support-bot prod” (el_{prefix}_…)",
        f"Created the API key “support-bot prod” (el_{prefix}_…) with the scopes ingest, read",
    ]
    html = response.content.decode()
    assert html.count('<span class="person"><bdi>lena</bdi></span>') == 2
    assert issued.secret not in html


def test_an_adjudication_and_a_meeting_decision_appear(lead_client, project, lead, expert, other_expert):
    """Written through the lead's own pages: the adjudication, then a decision added and deleted (in last week's
    meeting: the project is older than that week, which has a meeting to record decisions in)."""
    created_weeks_ago(project, 2)
    [item] = label_outputs(project, answers=TIE, experts=[expert, other_expert])
    assert lead_client.post(f"/p/{project.slug}/manage/adjudication/{item.pk}/", {"q-correct": "no"}).status_code == 302
    week = week_label(calendar.current_week(project) - timedelta(days=7))
    meeting = f"/p/{project.slug}/meeting/{week}/decisions"
    lead_client.post(meeting, {"text": "Add <b>the refund policy</b>", "owner": "Priya", "due_date": "2026-12-04"})
    decision = Decision.objects.get(cycle__project=project)
    lead_client.post(f"{meeting}/{decision.pk}/delete")

    rows = lead_client.get(url(project)).context["rows"]

    actions = [(row["event"].action, row["event"].actor) for row in rows]
    assert actions == [
        ("decision.deleted", lead), ("decision.added", lead), ("gold.adjudicated", lead), ("rubric.published", None),
    ]  # fmt: skip
    external_id = item.output.external_id
    assert rows[2]["sentence"] == f"Decided the gold answer of item {item.pk} ({external_id}): correct: — → no"
    assert rows[2]["event"].details["answers"] == {"correct": [None, False]}
    assert (
        rows[1]["sentence"]
        == f"Recorded a decision of {week}: “Add <b>the refund policy</b>”, owner Priya, due 2026-12-04"
    )
    assert rows[0]["sentence"].startswith(f"Deleted a decision of {week}: “Add <b>")


def test_a_week_closed_by_a_lead_names_the_lead(lead_client, project, lead, rubric):
    week = calendar.current_week(created_weeks_ago(project, 2)) - timedelta(days=7)
    lead_client.post(f"/p/{project.slug}/meeting/{week_label(week)}/close")
    [message] = enqueued()
    run_as_worker(message)
    assert ReviewCycle.objects.get(project=project, week=week).closed_by == lead

    [row] = [row for row in lead_client.get(url(project)).context["rows"] if row["event"].action == "cycle.closed"]

    assert row["event"].actor == lead and row["sentence"] == f"Closed the week {week_label(week)}"


def test_a_dataset_created_and_built_on_demand_names_who_asked(client, project, engineer, lead, rubric):
    client.force_login(engineer)
    new = {"name": "Support eval", "only_resolved": "on", "splits": "train=80, test=20", "auto_rebuild": "on"}
    assert client.post(f"/p/{project.slug}/datasets/new", new).status_code == 302
    assert client.post(f"/p/{project.slug}/datasets/support-eval/build").status_code == 302
    client.force_login(lead)

    rows = client.get(url(project)).context["rows"]

    assert [(row["event"].actor, row["sentence"]) for row in rows[:2]] == [
        (engineer, "Asked for a new version of the dataset “Support eval”"),
        (engineer, "Created the dataset “Support eval”"),
    ]


def test_what_the_members_and_settings_services_write_reads_as_sentences(lead_client, project, lead, expert):
    """The real services, not hand-built details: invite, resend, revoke, accept (new and existing member),
    change a role, remove a member, update the settings. Every event is a sentence, none the raw fallback."""
    nora = invite_member(project=project, email="nora@example.com", role="expert", invited_by=lead)
    invite_member(project=project, email="nora@example.com", role="engineer", invited_by=lead)  # renewed
    kim = invite_member(project=project, email="kim@example.com", role="expert", invited_by=lead).invitation
    resend_invitation(invitation=kim, resent_by=lead)
    revoke_invitation(invitation=kim, revoked_by=lead)
    token = resend_invitation(invitation=nora.invitation, resent_by=lead)
    accept_invitation(token=token, user=UserFactory(username="nora", email="nora@example.com"))
    sam = UserFactory(username="sam", email="sam@example.com")
    sams_invitation = invite_member(project=project, email="sam@example.com", role="lead", invited_by=lead)
    MembershipFactory(project=project, user=sam, role="expert")  # joined another way meanwhile
    accept_invitation(token=sams_invitation.token, user=sam)
    change_role(membership=Membership.objects.get(project=project, user=sam), role="engineer", changed_by=lead)
    remove_member(membership=Membership.objects.get(project=project, user=expert), removed_by=lead)
    values = ProjectSettings(
        **{**vars(settings_of(project)), "name": "Support assistant", "time_zone": "Europe/Berlin"}
    )
    update_project_settings(project=project, values=values, changed_by=lead)

    rows = lead_client.get(url(project)).context["rows"]

    assert [(row["event"].action, row["sentence"]) for row in rows] == [
        ("project.settings_changed",
         "Changed the project's settings: name: Support bot → Support assistant; time zone: UTC → Europe/Berlin"),
        ("member.removed", "Removed erin (expert) from the project"),
        ("member.role_changed", "Changed sam's role from expert to engineer"),
        ("member.invitation_accepted", "sam accepted an invitation, and stays expert (a member already)"),
        ("member.invited", "Invited sam@example.com as lead"),
        ("member.added", "Added nora as engineer (through invitation)"),
        ("member.invitation_resent", "Sent the invitation to nora@example.com (engineer) again"),
        ("member.invitation_revoked", "Revoked the invitation of kim@example.com"),
        ("member.invitation_resent", "Sent the invitation to kim@example.com (expert) again"),
        ("member.invited", "Invited kim@example.com as expert"),
        ("member.invited", "Invited nora@example.com as engineer again (a new link; the earlier one stops working)"),
        ("member.invited", "Invited nora@example.com as expert"),
    ]  # fmt: skip
    assert all(row["area"].label == "Members" for row in rows[1:])


def test_a_queue_paused_resumed_and_edited_reads_as_a_lead_says_it(lead_client, project, lead):
    """update_queue's events, as the log page shows them: pausing and resuming said as such, by the queue's name,
    and the other fields in the words of the queue editor, its creation by its name too. Before: "Changed the queue
    escalations: is_active", and "Created the queue escalations"."""
    queue = create_queue(project=project, values=QueueValues(slug="escalations", name="Escalations"), actor=lead)
    update_queue(queue=queue, values=QueueValues(slug="escalations", name="Escalations", is_active=False), actor=lead)
    update_queue(queue=queue, values=QueueValues(slug="escalations", name="Escalations"), actor=lead)
    edited = QueueValues(slug="escalations", name="Escalations", weekly_quota=40, sample_rate=0.5, is_active=False)
    update_queue(queue=queue, values=edited, actor=lead)
    update_queue(queue=queue, values=replace(edited, rule={"models": ["gpt-4o"]}), actor=lead)
    update_queue(queue=queue, values=replace(edited, rule={"models": ["gpt-4o"]}, weekly_quota=80), actor=lead)
    # One written before the values were recorded names the settings only.
    event(project, "queue.updated", actor=lead, queue=queue.pk, slug="escalations", changed=["weekly_quota"])
    # An event written before the queue's state was recorded says only that it changed.
    event(project, "queue.updated", actor=lead, queue=queue.pk, slug="escalations", changed=["is_active"])
    # One written before a created queue's name was recorded names it by its slug.
    event(project, "queue.created", actor=lead, queue=queue.pk, slug="escalations")

    rows = lead_client.get(url(project)).context["rows"]

    said = [row["sentence"].replace("\u2068", "").replace("\u2069", "") for row in rows]
    assert said == [
        "Created the queue escalations",
        "Paused or resumed the queue escalations",
        "Changed the weekly quota of the queue escalations",
        "Changed the queue “Escalations”: its weekly quota from 40 to 80",
        "Changed the routing rule of the queue “Escalations”",
        "Paused the queue “Escalations” and changed its sample rate from 1.0 to 0.5 and weekly quota from none to 40",
        "Resumed the queue “Escalations”",
        "Paused the queue “Escalations”",
        "Created the queue “Escalations”",
    ]


def test_a_changed_week_start_reads_as_the_days_name(lead_client, project, lead):
    event(project, "project.settings_changed", actor=lead, changes={"cycle_weekday": {"before": 0, "after": 6}})

    html = unescape(lead_client.get(url(project)).content.decode())

    assert "Changed the project's settings: week start: Monday → Sunday" in html


def test_every_action_the_code_audits_has_a_sentence():
    """Each `action=` given to an AuditEvent anywhere in labeling/ (either branch of a conditional too) is in the
    table: a new action without words would fall back to raw details on the page."""
    written = set()
    for path in (ROOT / "labeling").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "create", "AuditEvent"
            ):  # fmt: skip
                for keyword in node.keywords:
                    if keyword.arg == "action":
                        written |= {
                            leaf.value
                            for leaf in ast.walk(keyword.value)
                            if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str)
                        }
    assert len(written) > 25 and "member.invitation_accepted" in written
    assert sorted(written - set(audit_sentences.ACTIONS)) == []
    assert all(audit_sentences.area_of(action).key != "other" for action in written)


def test_details_are_shown_as_text_never_as_html(lead_client, project, lead):
    """A sentence and the fallback of an unknown action both escape what the details hold."""
    event(project, "saved_view.created", actor=lead, view=1, name="<script>alert(1)</script>", query="q=x")
    event(project, "plugin.did_something", actor=lead, note="<script>alert(2)</script>", count=3)
    event(project, "api_key.created", actor=lead, name="no prefix or scopes")  # details lack what the sentence needs

    response = lead_client.get(url(project))

    html = response.content.decode()
    assert "<script>alert" not in html
    assert "Saved the explore view “&lt;script&gt;alert(1)&lt;/script&gt;”" in html
    assert (
        "<code>plugin.did_something</code>" in html
        and "<code>note=&lt;script&gt;alert(2)&lt;/script&gt;</code>" in html
    )
    assert "<code>count=3</code>" in html
    unknown, incomplete = response.context["rows"][1], response.context["rows"][0]
    assert unknown["sentence"] is None and unknown["area"].label == "Other"
    assert incomplete["sentence"] is None and incomplete["pairs"] == [("name", "no prefix or scopes")]


def test_a_name_with_a_right_to_left_override_is_isolated_so_the_rest_of_the_sentence_keeps_its_order(
    lead_client, project, lead
):
    """A queue named "abc\u202edef" (U+202E, right-to-left override) is wrapped in U+2068…U+2069 (a first-strong
    isolate): without it, the words after the name showed reversed. A U+2069 of the name's own that closes nothing
    is dropped, else it would end the isolate early; a name without such characters stays as it is."""
    event(project, "queue.outputs_added", actor=lead, queue="abc\u202edef", added=5, already_in=0)
    event(project, "saved_view.created", actor=lead, name="\u2069\u202eescaped")
    event(project, "dataset.created", actor=lead, name="Support eval")

    rows = lead_client.get(url(project)).context["rows"]

    assert [row["sentence"] for row in rows] == [
        "Created the dataset “Support eval”",
        "Saved the explore view “\u2068\u202eescaped\u2069”",
        "Added 5 outputs to the queue \u2068abc\u202edef\u2069 from the explore page (0 were in it already)",
    ]


def test_times_are_in_the_projects_time_zone_and_automatic_events_say_so(lead_client, project):
    project.time_zone = "Asia/Tokyo"
    project.save()
    event(project, "retention.outputs_deleted", at=datetime(2026, 11, 20, 23, 30, tzinfo=UTC), days=90, deleted=4)
    event(project, "privacy.end_user_erased", at=datetime(2026, 11, 20, 23, 0, tzinfo=UTC), api_key="abc123",
          outputs=2, labels=1, usage_events=5)  # fmt: skip

    html = lead_client.get(url(project)).content.decode()

    assert ">2026-11-21 08:30:00</time>" in html and "Asia/Tokyo" in html
    assert "expertloop (automatic)" in html and "API key <code>el_abc123_…</code>" in html
    assert "Deleted 4 outputs older than 90 days" in html
    assert "Erased an end user&#x27;s data: 2 outputs, 1 labels, 5 usage events" in html


def test_what_a_command_did_names_the_command_in_the_log_the_filter_and_the_server_log(
    lead_client, project, lead, rubric, tmp_path, caplog
):
    """Commands act as nobody, but an operator ran them: not "expertloop (automatic)", as beat's close is."""
    week = calendar.current_week(created_weeks_ago(project, 2)) - timedelta(days=7)
    call_command("create_api_key", project=project.slug, name="cli key", stdout=io.StringIO(), stderr=io.StringIO())
    save_rule_set(project=project, builtins=["email"], custom=[], phone_region="US", actor=lead)
    call_command("redact_outputs", project=project.slug, stdout=io.StringIO())
    call_command("close_week", project=project.slug, week=week_label(week), stdout=io.StringIO())
    with caplog.at_level("WARNING", logger="labeling.services.signin"):
        call_command("unlock_sign_in", lead.username, stdout=io.StringIO())
    event(project, "retention.outputs_deleted", days=90, deleted=4)  # a night's purge: automatic
    spec = tmp_path / "p.yaml"
    spec.write_text(f"slug: cli-made\nname: CLI made\nmembers:\n  - {{username: {lead.username}, role: lead}}\n")
    call_command("create_project", spec, stdout=io.StringIO())

    response = lead_client.get(url(project))

    who = {row["event"].action: row["who"] for row in response.context["rows"]}
    assert who == {
        "retention.outputs_deleted": "expertloop (automatic)",
        "sign_in.unlocked": "a command (manage.py unlock_sign_in)",
        "cycle.closed": "a command (manage.py close_week)",
        "redaction.outputs_redacted": "a command (manage.py redact_outputs)",
        "redaction.rules_saved": lead.username,
        "api_key.created": "a command (manage.py create_api_key)",
        "rubric.published": "expertloop (automatic)",  # the fixture's, written by no one
    }
    html = response.content.decode()
    assert "a command (manage.py unlock_sign_in)" in html and "expertloop (automatic)" in html
    assert "Sign-in unlocked by a command (manage.py unlock_sign_in)" in caplog.text
    assert "by user None" not in caplog.text
    made = lead_client.get("/p/cli-made/manage/audit/")
    assert [row["who"] for row in made.context["rows"]] == ["a command (manage.py create_project)"] * len(
        made.context["rows"]
    )
    commands = lead_client.get(url(project), {"actor": "command"})
    assert {row["event"].action for row in commands.context["rows"]} == {
        "sign_in.unlocked", "cycle.closed", "redaction.outputs_redacted", "api_key.created",
    }  # fmt: skip
    automatic = lead_client.get(url(project), {"actor": "automatic"})
    assert {row["event"].action for row in automatic.context["rows"]} == {
        "retention.outputs_deleted",
        "rubric.published",
    }
    keys = lead_client.get(f"/p/{project.slug}/keys/").content.decode()
    assert "a command (manage.py create_api_key)" in keys


def test_a_retention_run_says_how_many_events_it_emptied(lead_client, project):
    """A night that deleted no output but emptied events' properties does not read as if it did nothing."""
    event(project, "retention.outputs_deleted", at=datetime(2026, 11, 20, 3, 30, tzinfo=UTC), days=30, deleted=0,
          kept=2, event_properties_emptied=1200)  # fmt: skip
    event(project, "retention.outputs_deleted", at=datetime(2026, 11, 19, 3, 30, tzinfo=UTC), days=30, deleted=4)

    response = lead_client.get(url(project))

    assert [row["sentence"] for row in response.context["rows"]] == [
        "Deleted 0 outputs older than 30 days (the raw-retention period) and emptied the properties of 1200 usage "
        "events",
        "Deleted 4 outputs older than 30 days (the raw-retention period)",  # a run audited before events were emptied
    ]
    assert "emptied the properties of 1200 usage events" in response.content.decode()


# Filters and pages --------------------------------------------------------------------------------------------


@pytest.fixture
def history(project, lead, engineer):
    """Keys, a rubric and a close over three days in the project's (UTC) calendar."""
    day = datetime(2026, 11, 18, 9, tzinfo=UTC)
    return {
        "created": event(
            project, "api_key.created", at=day, actor=engineer, prefix="a1", name="app", scopes=["ingest"]
        ),
        "revoked": event(project, "api_key.revoked", at=day + timedelta(days=1), actor=lead, prefix="a1"),
        "rubric": event(project, "rubric.published", at=day + timedelta(days=1, hours=2), actor=lead, version=2),
        "closed": event(project, "cycle.closed", at=day + timedelta(days=2), week="2026-W47"),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["closed", "rubric", "revoked", "created"]),
        ({"action": "api_key.revoked"}, ["revoked"]),
        ({"action": "area:keys"}, ["revoked", "created"]),
        ({"actor": "automatic"}, ["closed"]),
        ({"first_day": "2026-11-19"}, ["closed", "rubric", "revoked"]),
        ({"first_day": "2026-11-19", "last_day": "2026-11-19"}, ["rubric", "revoked"]),
        ({"action": "area:keys", "last_day": "2026-11-18"}, ["created"]),
        ({"action": "rubric.published", "actor": "automatic"}, []),
        ({"since": "2026-11-19T09:00:00Z", "until": "2026-11-19T11:00:00Z"}, ["rubric", "revoked"]),
        ({"since": "2026-11-19T09:00:01Z"}, ["closed", "rubric"]),
        ({"until": "2026-11-19T10:00:00+01:00"}, ["revoked", "created"]),
        ({"first_day": "2026-11-19", "until": "2026-11-19T10:59:59Z"}, ["revoked"]),
    ],
)
def test_the_log_filters(lead_client, history, project, query, expected):
    response = lead_client.get(url(project), query)
    assert response.status_code == 200
    assert shown(response) == [history[name].pk for name in expected]
    if not expected:
        assert "No event matches this filter." in response.content.decode()


def test_the_log_filters_by_person_and_offers_the_actions_and_people_that_occur(lead_client, history, project, lead):
    response = lead_client.get(url(project), {"actor": str(lead.pk)})

    assert shown(response) == [history["rubric"].pk, history["revoked"].pk]
    form = response.context["form"]
    assert form.fields["action"].choices == [
        ("", "Every action"),
        ("API keys", [("area:keys", "Everything in API keys"), ("api_key.created", "Key created"),
                      ("api_key.revoked", "Key revoked")]),
        ("Rubric", [("rubric.published", "Rubric published")]),
        ("Weeks and meetings", [("cycle.closed", "Week closed")]),
    ]  # fmt: skip
    assert [label for _, label in form.fields["actor"].choices] == [
        "Anyone", "expertloop (automatic)", "a command (manage.py …)", "enzo", "lena",
    ]  # fmt: skip
    assert '<optgroup label="API keys">' in response.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"first_day": "2026-13-40"}, "Enter a valid date."),
        ({"first_day": "2026-11-20", "last_day": "2026-11-19"}, "The range ends before it starts"),
        ({"first_day": "1066-10-14"}, "Pick a day from 2000 to 2999."),
        ({"action": "member.invited"}, "Select a valid choice."),
        ({"actor": "999999"}, "Select a valid choice."),
        ({"older": "abc"}, "Enter a whole number."),
        ({"older": "99999999999999999999"}, "Ensure this value is less than or equal to"),
        ({"older": "999999"}, "That page of the audit log does not exist"),
        ({"older": "1", "newer": "2"}, "Ask for older or for newer events, not both."),
        ({"since": "yesterday"}, "“yesterday” is not a moment"),
        ({"since": "2026-11-19T09:00:00"}, "has no offset"),
        ({"until": "1066-10-14T09:00:00Z"}, "Pick a moment from 2000 to 2999."),
        ({"since": "2026-11-19T10:00:00Z", "until": "2026-11-19T09:00:00Z"}, "The moments run backwards"),
    ],
)
def test_a_bad_filter_is_a_400_with_a_message(lead_client, history, project, query, message):
    response = lead_client.get(url(project), query)
    assert response.status_code == 400
    assert message in response.content.decode() and response.context["rows"] == []


def test_pages_follow_each_other_without_repeats_through_the_links(lead_client, project, monkeypatch):
    """Seven events at the same moment and two apart, three a page: the links walk them all once, keeping the
    filter."""
    monkeypatch.setattr(audit_selectors, "PAGE_SIZE", 3)
    now = timezone.now()
    expected = [event(project, "rubric.published", at=now, version=n).pk for n in range(7)][::-1]
    event(project, "cycle.closed", at=now, week="2026-W47")  # filtered out
    expected.append(event(project, "rubric.published", at=now - timedelta(days=1), version=99).pk)

    seen, path, pages = [], url(project) + "?action=rubric.published", 0
    while path:
        response = lead_client.get(path)
        assert response.status_code == 200
        seen += shown(response)
        pages += 1
        older = response.context["page"].older
        path = f"{url(project)}?action=rubric.published&older={older}" if older else None
        html = response.content.decode()
        if older:
            assert f'href="?action=rubric.published&amp;older={older}"' in html
        if pages > 1:
            assert "← Newer</a>" in html and ">Newest</a>" in html

    assert seen == expected and pages == 3


def test_the_log_runs_a_fixed_number_of_queries(lead_client, project, lead, django_assert_num_queries):
    for n in range(3):
        event(project, "rubric.published", actor=lead, version=n)
    # session, user, membership with project, actions, actors, the page with its actors
    with django_assert_num_queries(6):
        lead_client.get(url(project))
    for n in range(20):
        event(project, "api_key.created", actor=UserFactory(), prefix=f"p{n}", name="k", scopes=["ingest"])
    with django_assert_num_queries(6):
        response = lead_client.get(url(project))
    assert len(response.context["rows"]) == 23
