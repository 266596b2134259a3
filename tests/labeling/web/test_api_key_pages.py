"""The API keys page: engineers, leads and admins issue keys (the secret shown once, with curl lines that
work), see which key is in use and which are stale, and revoke a key after a confirm step. Experts, outsiders
and another project's leads get a 404 and change nothing; forms need the CSRF token; issuing is throttled."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labeling.models import ApiKey, AuditEvent, Membership
from labeling.services import api_keys as key_services
from labeling.services.api_keys import create_api_key, revoke_api_key
from tests.conftest import Api, _member, output_record


@pytest.fixture
def other_lead(other_project):
    return _member(other_project, "olga", "lead")


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


def list_url(project):
    return f"/p/{project.slug}/keys/"


def revoke_url(project, key):
    return f"/p/{project.slug}/keys/{key.pk}/revoke"


def issue(client, project, name="support-bot prod", scopes=("ingest", "read")):
    return client.post(list_url(project), {"name": name, "scopes": list(scopes)})


def secret_in(html: str) -> str:
    [secret] = set(re.findall(r"el_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", html))
    return secret


def key_state():
    return sorted(ApiKey.objects.values_list("prefix", "name", "revoked_at"))


# Access -------------------------------------------------------------------------------------------------------


def test_pages_need_a_signed_in_user(client, project, ingest_key):
    for url in (list_url(project), revoke_url(project, ingest_key.api_key)):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login/")
    assert client.post(list_url(project), {"name": "x", "scopes": ["ingest"]}).status_code == 302
    assert ApiKey.objects.count() == 1


@pytest.mark.parametrize("persona", ["expert", "outsider", "other_lead"])
def test_it_validates_ownership(client, project, persona, request, ingest_key):
    """Experts, outsiders and another project's lead get 404 on every page and action, and nothing changes."""
    client.force_login(request.getfixturevalue(persona))
    before, events = key_state(), AuditEvent.objects.count()

    assert client.get(list_url(project)).status_code == 404
    assert client.get(revoke_url(project, ingest_key.api_key)).status_code == 404
    assert issue(client, project).status_code == 404
    assert client.post(revoke_url(project, ingest_key.api_key)).status_code == 404

    assert key_state() == before and AuditEvent.objects.count() == events
    assert Api(Client(), ingest_key.secret).post("/api/v1/outputs", {"outputs": [output_record()]}).status_code == 200


def test_it_validates_ownership_of_a_key_id(lead_client, project, other_project_key):
    """A lead naming another project's key through this project's URLs gets a 404; the key keeps working."""
    foreign = other_project_key.api_key

    assert lead_client.get(revoke_url(project, foreign)).status_code == 404
    assert lead_client.post(revoke_url(project, foreign)).status_code == 404
    assert lead_client.post(revoke_url(other_project_key.api_key.project, foreign)).status_code == 404

    foreign.refresh_from_db()
    assert foreign.revoked_at is None
    assert not AuditEvent.objects.filter(action="api_key.revoked").exists()


def test_forms_are_protected_against_csrf(project, lead, ingest_key):
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    before = key_state()

    assert issue(client, project).status_code == 403
    assert client.post(revoke_url(project, ingest_key.api_key)).status_code == 403
    assert key_state() == before


def test_the_forms_carry_the_csrf_token(lead_client, project, ingest_key):
    for url in (list_url(project), revoke_url(project, ingest_key.api_key)):
        assert 'name="csrfmiddlewaretoken"' in lead_client.get(url).content.decode()


# Issuing a key -------------------------------------------------------------------------------------------------


def test_a_lead_issues_a_key_whose_secret_is_shown_once_and_works(lead_client, project, lead):
    response = issue(lead_client, project, name="support-bot prod", scopes=["ingest", "read"])

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.content.decode()
    secret = secret_in(html)
    key = ApiKey.objects.get()
    assert (key.name, key.scopes, key.created_by) == ("support-bot prod", ["ingest", "read"], lead)
    assert secret.startswith(f"el_{key.prefix}_")
    # Ready curl lines for both scopes, with the real header and the project's endpoint.
    assert f"curl -sS http://testserver/api/v1/outputs \\\n  -H &quot;Authorization: Bearer {secret}&quot;" in html
    read_line = f"outputs?page_size=10&quot; \\\n  -H &quot;Authorization: Bearer {secret}&quot;"
    assert read_line in html
    assert "Erase one end user" not in html  # no privacy scope, no erasure line

    # The secret works against the API…
    app = Api(Client(), secret)
    assert app.post("/api/v1/outputs", {"outputs": [output_record(1)]}).json()["created"] == 1
    assert [row["external_id"] for row in app.get("/api/v1/outputs").json()["results"]] == ["conv-1"]
    # …and is never shown again: not on the list, not through the session's messages.
    again = lead_client.get(list_url(project)).content.decode()
    assert secret not in again and key.prefix in again and "support-bot prod" in again
    event = AuditEvent.objects.get(action="api_key.created")
    assert (event.actor, event.details["prefix"], event.details["scopes"]) == (lead, key.prefix, ["ingest", "read"])
    assert secret not in str(event.details)


def test_a_key_of_a_name_just_used_is_issued_and_names_the_first_only_for_the_same_form(
    lead_client, project, lead, engineer
):
    """The same name and scopes by the same user within a minute while the first key is live is the form posted twice:
    the second key is issued and the page names the first (tests/labeling/web/test_posted_twice.py). Another user's key
    of that name, or one after a revoke or a minute, is issued as before, naming no other key."""
    issue(lead_client, project, name="support-bot prod")
    key = ApiKey.objects.get()

    twin = issue(lead_client, project, name="support-bot prod")

    assert twin.status_code == 200 and f"el_{key.prefix}_…" in twin.content.decode()
    assert AuditEvent.objects.filter(action="api_key.created").count() == 2
    engineer_client = Client()
    engineer_client.force_login(engineer)
    answers = [issue(engineer_client, project, name="support-bot prod", scopes=["ingest"])]
    ApiKey.objects.update(created_at=timezone.now() - timedelta(minutes=2))
    answers.append(issue(lead_client, project, name="support-bot prod"))
    revoke_api_key(api_key=ApiKey.objects.filter(created_by=lead).latest("pk"), revoked_by=lead)
    answers.append(issue(lead_client, project, name="support-bot prod"))
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert not any(answer.context["issued"].earlier for answer in answers)
    assert ApiKey.objects.filter(name="support-bot prod").count() == 5


def test_an_engineer_reaches_the_page_from_the_project_page_and_issues_a_key(client, project, engineer):
    client.force_login(engineer)
    overview = client.get(f"/p/{project.slug}/").content.decode()
    assert f'href="{list_url(project)}" id="api-keys-link"' in overview

    page = client.get(list_url(project)).content.decode()
    assert "Engineering" in page and "Queues</a>" not in page  # the engineers' frame, no manage tabs
    response = issue(client, project, name="nightly eval pull", scopes=["read"])
    assert response.status_code == 200
    assert ApiKey.objects.get().created_by == engineer
    html = response.content.decode()
    assert "Read the newest outputs" in html and "Send an output" not in html


def test_leads_find_the_page_and_the_audit_log_in_their_navigation(lead_client, project):
    html = lead_client.get(f"/p/{project.slug}/manage/queues/").content.decode()
    assert f'<a href="{list_url(project)}">API keys</a>' in html
    assert f'<a href="/p/{project.slug}/manage/audit/">Audit log</a>' in html
    page = lead_client.get(list_url(project)).content.decode()
    assert 'class="active" aria-current="page">API keys</a>' in page


def test_an_ingest_only_key_may_not_read(lead_client, project):
    secret = secret_in(issue(lead_client, project, name="app", scopes=["ingest"]).content.decode())
    app = Api(Client(), secret)

    assert app.post("/api/v1/outputs", {"outputs": [output_record()]}).status_code == 200
    refused = app.get("/api/v1/outputs")
    assert refused.status_code == 403 and "lacks the `read` scope" in refused.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "scopes": ["ingest"]}, "This field is required."),
        ({"name": "   ", "scopes": ["ingest"]}, "This field is required."),
        ({"name": "app"}, "Tick at least one scope."),
        ({"name": "app", "scopes": ["admin"]}, "Select a valid choice. admin is not one of the available choices."),
        ({"name": "x" * 101, "scopes": ["ingest"]}, "Ensure this value has at most 100 characters (it has 101)."),
        ({"name": "app\x00", "scopes": ["ingest"]}, "Null characters are not allowed."),
    ],
)
def test_bad_input_is_refused_on_the_form_and_issues_nothing(lead_client, project, data, message):
    response = lead_client.post(list_url(project), data)

    assert response.status_code == 400
    html = response.content.decode()
    assert "No key was issued." in html and message.replace("'", "&#x27;") in html
    assert not ApiKey.objects.exists() and not AuditEvent.objects.exists()
    assert not re.search(r"el_[0-9a-f]{12}_", html)


def test_issuing_is_throttled_per_project(lead_client, project, other_project, monkeypatch):
    """Past the limit a project gets a 429 with a message and no key; keys issued before the hour do not count,
    nor do another project's keys."""
    monkeypatch.setattr(key_services, "KEYS_PER_WINDOW", 3)
    old = create_api_key(project=project, name="old", scopes=["ingest"]).api_key
    ApiKey.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=61))
    create_api_key(project=other_project, name="theirs", scopes=["ingest"])
    assert [issue(lead_client, project, name=f"k{n}").status_code for n in range(3)] == [200, 200, 200]

    refused = issue(lead_client, project, name="one too many")

    assert refused.status_code == 429
    assert 3500 < int(refused["Retry-After"]) <= 3601
    html = refused.content.decode()
    assert "had 3 keys issued in the last hour, the most allowed. Try again in 60 minutes." in html
    assert not ApiKey.objects.filter(name="one too many").exists()
    assert AuditEvent.objects.filter(project=project, action="api_key.created").count() == 4


# The list ------------------------------------------------------------------------------------------------------


def test_the_list_shows_the_key_used_last_stale_and_revoked_keys(lead_client, project, lead, django_assert_num_queries):
    now = timezone.now()
    fresh = create_api_key(project=project, name="prod app", scopes=["ingest"], created_by=lead)
    quiet = create_api_key(project=project, name="forgotten", scopes=["read"]).api_key
    gone = create_api_key(project=project, name="leaked", scopes=["ingest"]).api_key
    ApiKey.objects.filter(pk=quiet.pk).update(
        created_at=now - timedelta(days=90), last_used_at=now - timedelta(days=40)
    )
    ApiKey.objects.filter(pk=gone.pk).update(last_used_at=now)
    revoke_api_key(api_key=gone)
    # Before the app sends anything, the key used last is a stale one (a revoked key does not count).
    assert lead_client.get(list_url(project)).context["keys"].last_used == quiet
    Api(Client(), fresh.secret).post("/api/v1/outputs", {"outputs": [output_record()]})

    # session, user, membership with project, keys with their creators
    with django_assert_num_queries(4):
        response = lead_client.get(list_url(project))

    keys = response.context["keys"]
    assert [row.api_key.name for row in keys.rows] == ["prod app", "forgotten", "leaked"]
    assert [(row.used_last, row.stale) for row in keys.rows] == [(True, False), (False, True), (False, False)]
    assert keys.last_used.name == "prod app" and keys.active == 2
    html = response.content.decode()
    assert re.search(r'id="key-used-last">Used last: <strong><bdi>prod app</bdi></strong> <code>el_\w+_…</code>', html)
    assert html.count(">stale</span>") == 1 and html.count(">revoked</span>") == 1
    assert html.count("Revoke…</a>") == 2  # active keys only
    assert "lena" in html and "a command" in html  # who created each


def test_keys_whose_issuer_lost_access_are_flagged_and_keep_working_until_a_lead_revokes_them(
    lead_client, project, lead, engineer, django_assert_num_queries
):
    """A key belongs to the project (the product app's ingest must not stop when an engineer leaves), so it keeps
    working; but the page says which keys were issued by someone who could not issue them today, for a lead."""
    left = create_api_key(project=project, name="enzo's pull", scopes=["read"], created_by=engineer)
    deactivated_user = _member(project, "ed", "engineer")
    deactivated = create_api_key(project=project, name="ed's pull", scopes=["read"], created_by=deactivated_user)
    demoted_user = _member(project, "lia", "lead")
    demoted = create_api_key(project=project, name="erasure", scopes=["privacy"], created_by=demoted_user)
    kept = create_api_key(project=project, name="prod app", scopes=["ingest"], created_by=lead)
    create_api_key(project=project, name="from a shell", scopes=["ingest"])  # no issuer: nothing to flag
    Membership.objects.filter(user=engineer, project=project).delete()
    type(deactivated_user).objects.filter(pk=deactivated_user.pk).update(is_active=False)
    Membership.objects.filter(user=demoted_user, project=project).update(role="engineer")  # no privacy keys now

    with django_assert_num_queries(4):
        response = lead_client.get(list_url(project))

    flagged = {row.api_key.name for row in response.context["keys"].rows if row.issuer_lost_access}
    assert flagged == {"enzo's pull", "ed's pull", "erasure"}
    html = response.content.decode()
    assert html.count(">issuer lost access</span>") == 3
    for issued in (left, deactivated, demoted):
        assert revoke_url(project, issued.api_key) in html
        assert Api(Client(), issued.secret).get("/api/v1/key").status_code == 200  # still working
    assert lead_client.post(revoke_url(project, left.api_key)).status_code == 302
    assert Api(Client(), left.secret).get("/api/v1/key").status_code == 401
    assert Api(Client(), kept.secret).get("/api/v1/key").status_code == 200


@pytest.mark.postgres
def test_the_command_that_issued_each_key_is_found_by_an_index_in_the_one_query_whatever_the_number_of_keys(
    lead_client, project, django_assert_max_num_queries
):
    """A key no person issued names the command its api_key.created event names. Every key's event is found in the
    page's one query of keys, by the partial index audit_command_key_created (with sequential scans off, the plan uses
    it), not by scanning the project's audit log once per key."""
    for n in range(14):
        create_api_key(project=project, name=f"from a shell {n}", scopes=["ingest"], command="create_project")
        AuditEvent.objects.create(project=project, action="rubric.published", details={"prefix": "not a key"})
        if n in (1, 13):
            # session, user, membership with project, keys with their creators: as many with 2 keys as with 14
            with django_assert_max_num_queries(4), CaptureQueriesContext(connection) as queries:
                html = lead_client.get(list_url(project)).content.decode()
            assert html.count("a command (manage.py create_project)") == n + 1

    (keys_query,) = [query["sql"] for query in queries if 'FROM "labeling_apikey"' in query["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + keys_query)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "audit_command_key_created" in plan, plan


# Revoking ------------------------------------------------------------------------------------------------------


def test_a_revoked_key_is_refused_at_once(lead_client, project, lead):
    secret = secret_in(issue(lead_client, project, name="app", scopes=["ingest", "read"]).content.decode())
    key = ApiKey.objects.get()
    app = Api(Client(), secret)
    assert app.get("/api/v1/outputs").status_code == 200

    confirm = lead_client.get(revoke_url(project, key))
    assert confirm.status_code == 200 and "Revoke the key “<bdi>app</bdi>”?" in confirm.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None  # asking is not revoking

    response = lead_client.post(revoke_url(project, key))

    assert response.status_code == 302 and response.headers["Location"] == list_url(project)
    refused = app.get("/api/v1/outputs")
    assert refused.status_code == 401 and refused.json()["errors"][0]["message"] == "This API key has been revoked."
    assert app.post("/api/v1/outputs", {"outputs": [output_record()]}).status_code == 401
    event = AuditEvent.objects.get(action="api_key.revoked")
    assert (event.actor, event.details) == (lead, {"prefix": key.prefix, "name": "app"})
    # Revoking again says so and records nothing more.
    again = lead_client.post(revoke_url(project, key), follow=True)
    assert "was revoked already" in again.content.decode()
    assert AuditEvent.objects.filter(action="api_key.revoked").count() == 1


# What an engineer may not do -----------------------------------------------------------------------------------


@pytest.fixture
def engineer_client(client, engineer):
    client.force_login(engineer)
    return client


def test_an_engineer_is_not_offered_the_privacy_scope_and_posting_it_issues_nothing(engineer_client, project):
    page = engineer_client.get(list_url(project)).content.decode()
    assert 'value="ingest"' in page and 'value="read"' in page and 'value="privacy"' not in page
    assert "The privacy scope (erasing end users&#x27; data) is for the project&#x27;s leads and admins." in page

    response = issue(engineer_client, project, name="eraser", scopes=["ingest", "privacy"])

    assert response.status_code == 403
    html = response.content.decode()
    assert "No key was issued." in html
    assert "Only the project&#x27;s leads and admins may issue a key with the privacy scope" in html
    assert not ApiKey.objects.exists() and not AuditEvent.objects.exists()
    assert not re.search(r"el_[0-9a-f]{12}_", html)


def test_a_lead_is_offered_the_privacy_scope_and_gets_the_erasure_line(lead_client, project):
    assert 'value="privacy"' in lead_client.get(list_url(project)).content.decode()
    response = issue(lead_client, project, name="eraser", scopes=["privacy"])
    assert response.status_code == 200 and "Erase one end user" in response.content.decode()


def test_an_engineer_sees_revoke_only_on_their_own_keys_and_cannot_revoke_anothers(
    engineer_client, project, engineer, lead
):
    own = create_api_key(project=project, name="mine", scopes=["read"], created_by=engineer).api_key
    leads = create_api_key(project=project, name="app", scopes=["ingest"], created_by=lead).api_key

    html = engineer_client.get(list_url(project)).content.decode()
    assert html.count("Revoke…</a>") == 1
    assert revoke_url(project, own) in html and revoke_url(project, leads) not in html
    before = key_state()
    for response in (engineer_client.get(revoke_url(project, leads)), engineer_client.post(revoke_url(project, leads))):
        assert response.status_code == 404  # the page of a role's refusal, with the reason
        assert "Engineers revoke only the keys they issued" in response.content.decode()
    assert key_state() == before and not AuditEvent.objects.filter(action="api_key.revoked").exists()

    assert engineer_client.post(revoke_url(project, own)).status_code == 302
    own.refresh_from_db()
    assert own.revoked_at is not None


def test_a_lead_sees_revoke_on_every_active_key(lead_client, project, engineer):
    engineers = create_api_key(project=project, name="pull", scopes=["read"], created_by=engineer).api_key
    assert revoke_url(project, engineers) in lead_client.get(list_url(project)).content.decode()
    assert lead_client.post(revoke_url(project, engineers)).status_code == 302


def test_a_key_no_person_issued_names_the_command_that_did(lead_client, project, lead):
    """As the audit log does: the command its api_key.created event names (rules.commands)."""
    create_api_key(project=project, name="from the cli", scopes=["ingest"], command="create_api_key")
    create_api_key(project=project, name="the demo's", scopes=["ingest"], command="seed_demo")
    create_api_key(project=project, name="older", scopes=["ingest"])  # issued before commands were named
    create_api_key(project=project, name="lena's", scopes=["ingest"], created_by=lead)

    response = lead_client.get(list_url(project))

    issuers = {row.api_key.name: row.issuer for row in response.context["keys"].rows}
    assert issuers == {
        "from the cli": "a command (manage.py create_api_key)",
        "the demo's": "a command (manage.py seed_demo)",
        "older": "a command",
        "lena's": "lena",
    }
    assert '<div class="muted small"><bdi>a command (manage.py seed_demo)</bdi></div>' in response.content.decode()


def test_the_new_keys_curl_line_sends_neutral_example_text(lead_client, project):
    html = issue(lead_client, project, name="summarizer", scopes=["ingest"]).content.decode()

    assert "Where is my order" not in html and "It ships tomorrow" not in html
    assert "What your app sent to the model" in html
