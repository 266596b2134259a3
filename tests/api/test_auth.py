"""API keys: 401 without a valid key, 403 without the scope, and a key never crosses projects."""

import pytest
from django.utils import timezone

from api import throttles
from labeling.models import ApiKey, Output
from labeling.services.api_keys import revoke_api_key
from tests.conftest import Api, output_record

URL = "/api/v1/outputs"
BODY = {"outputs": [output_record(1)]}


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer el_nothing_here", "Bearer not-a-key", "Basic dXNlcjpwYXNz", "Bearer a b"],
    ids=["no header", "no token", "unknown key", "malformed key", "basic auth", "two tokens"],
)
def test_it_refuses_requests_without_a_valid_key(client, project, full_key, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = client.post(URL, BODY, content_type="application/json", **extra)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["message"]
    assert not Output.objects.exists()


@pytest.mark.parametrize(
    "headers, sent",
    [
        ({"HTTP_AUTHORIZATION": "Token {key}"}, "`Authorization: Token …`"),
        ({"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}, "`Authorization: Basic …`"),
        ({"HTTP_X_API_KEY": "{key}"}, "an `X-API-Key` header"),
    ],
    ids=["token scheme", "basic auth", "x-api-key header"],
)
def test_a_key_sent_another_way_is_told_how_to_send_it(client, full_key, headers, sent):
    """Credentials were sent, so "Authentication credentials were not provided." sent the engineer looking elsewhere."""
    extra = {name: value.format(key=full_key.secret) for name, value in headers.items()}

    response = client.post(URL, BODY, content_type="application/json", **extra)
    traces = client.post("/api/v1/otel/v1/traces", {}, content_type="application/json", **extra)

    assert response.status_code == traces.status_code == 401
    assert response.headers["WWW-Authenticate"] == traces.headers["WWW-Authenticate"] == 'Bearer realm="expertloop"'
    message = (
        f"Credentials were sent as {sent}, which this API does not read: send the key as `Authorization: Bearer <key>`."
    )
    assert response.json()["errors"][0]["message"] == message
    assert traces.json()["message"] == message
    assert not Output.objects.exists()


@pytest.mark.parametrize(
    "header, says",
    [
        ("Bearer", "No key follows `Bearer` (an empty shell variable?)"),
        ("Bearer   ", "No key follows `Bearer` (an empty shell variable?)"),
        ("Bearer el_abc el_def", "`Authorization: Bearer` takes one key, and this header has several"),
        ("Bearer not-a-key", "Malformed API key: a project API key is `el_<prefix>_<secret>`"),
        ('Bearer "el_abc_def"', "Malformed API key: a project API key is `el_<prefix>_<secret>`"),
    ],
    ids=["nothing after Bearer", "spaces after Bearer", "two keys", "not a key's shape", "a key in quotes"],
)
def test_a_key_sent_wrong_is_told_what_is_wrong_with_it(client, project, header, says):
    """`curl -H "Authorization: Bearer $KEY"` with `KEY` unset was told "Send the key as `Authorization: Bearer
    <key>`", the very form it had used, and a key pasted in quotes only "Malformed API key."."""
    response = client.post(URL, BODY, content_type="application/json", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response.json()["errors"][0]["message"].startswith(says), response.json()


NO_CREDENTIALS = (
    "No credentials were sent: send a project API key as `Authorization: Bearer <key>` (a lead, engineer or admin "
    "issues one on the project's API keys page, /p/<project>/keys/)."
)


@pytest.mark.parametrize(
    "method, url",
    [
        ("post", URL),
        ("get", "/api/v1/outputs"),
        ("get", "/api/v1/projects/support-bot/datasets"),
        ("get", "/api/v1/metrics/quality?project=support-bot"),
        ("post", "/api/v1/otel/v1/traces"),
    ],
    ids=["ingest", "outputs", "datasets (a key or a session)", "metrics (a key or a session)", "otlp"],
)
def test_a_request_without_credentials_is_told_what_to_send(client, project, method, url):
    """ "Authentication credentials were not provided." said nothing of what the project API takes, nor where a key
    comes from (the platform API's 401 says what it takes)."""
    response = getattr(client, method)(url, {} if method == "post" else None, content_type="application/json")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="expertloop"'
    body = response.json()
    assert (body["message"] if "otel" in url else body["errors"][0]["message"]) == NO_CREDENTIALS


def test_a_signed_in_engineer_behind_a_basic_auth_proxy_still_reads_by_session(client, engineer, project):
    """A proxy's Basic credentials ride along with every browser request: they must not hide the session."""
    client.force_login(engineer)

    response = client.get("/api/v1/projects/support-bot/datasets", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")

    assert response.status_code == 200, response.content


def test_a_key_with_a_wrong_secret_is_refused(client, full_key):
    prefix_only = full_key.secret.rsplit("_", 1)[0] + "_" + "A" * 43

    response = Api(client, prefix_only).post(URL, BODY)

    assert response.status_code == 401
    assert not Output.objects.exists()


def test_a_revoked_key_is_refused(client, full_key):
    revoke_api_key(api_key=full_key.api_key)

    response = Api(client, full_key.secret).post(URL, BODY)

    assert response.status_code == 401
    assert "revoked" in response.json()["errors"][0]["message"]
    assert not Output.objects.exists()


def test_a_read_key_cannot_ingest(client, read_key):
    response = Api(client, read_key.secret).post(URL, BODY)

    assert response.status_code == 403
    assert "ingest" in response.json()["errors"][0]["message"]
    assert not Output.objects.exists()


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/feedback"])
def test_a_read_key_cannot_send_events_or_feedback(client, read_key, path):
    assert Api(client, read_key.secret).post(path, {"events": []}).status_code == 403


def test_an_ingest_key_cannot_read(client, ingest_key):
    Api(client, ingest_key.secret).post(URL, BODY)

    assert Api(client, ingest_key.secret).get(f"{URL}/conv-1").status_code == 403


def test_it_validates_ownership(client, full_key, other_project_key):
    """Project B's key asking for project A's output gets a 404, as if it did not exist."""
    Api(client, full_key.secret).post(URL, BODY)

    response = Api(client, other_project_key.secret).get(f"{URL}/conv-1")

    assert response.status_code == 404
    assert "Your order" not in response.content.decode()


def test_a_signed_in_user_without_a_key_cannot_ingest(client, expert, project):
    client.force_login(expert)

    response = client.post(URL, BODY, content_type="application/json")

    assert response.status_code in (401, 403)
    assert not Output.objects.exists()


def test_the_secret_is_stored_only_as_a_hash(full_key):
    stored = ApiKey.objects.get(pk=full_key.api_key.pk)
    values = [str(getattr(stored, field.attname)) for field in ApiKey._meta.fields]
    # el_<prefix>_<secret part>; the secret part is URL-safe base64 and may itself hold "_" (splitting on the last
    # one made this test fail when the key ended in "_0" and a stored value held a 0).
    secret_part = full_key.secret.split("_", 2)[2]
    assert len(secret_part) >= 40
    assert not any(full_key.secret in value or secret_part in value for value in values)
    assert len(stored.secret_hash) == 64


def test_using_a_key_records_when_it_was_last_used(client, full_key):
    before = timezone.now()

    Api(client, full_key.secret).post(URL, BODY)

    full_key.api_key.refresh_from_db()
    assert full_key.api_key.last_used_at >= before


def test_a_read_key_gets_its_projects_output(client, full_key, read_key):
    Api(client, full_key.secret).post(URL, BODY)

    response = Api(client, read_key.secret).get(f"{URL}/conv-1")

    assert response.status_code == 200
    body = response.json()
    assert body["external_id"] == "conv-1"
    assert body["feedback"]["score"] == 1
    assert Api(client, read_key.secret).get(f"{URL}/nope").status_code == 404


def test_a_key_over_its_rate_is_throttled_with_retry_after(client, full_key, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "2/min"}}
    caller = Api(client, full_key.secret)

    statuses = [caller.get(f"{URL}/none").status_code for _ in range(3)]

    assert statuses == [404, 404, 429]
    response = caller.get(f"{URL}/none")
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert "throttled" in response.json()["errors"][0]["message"].lower()


class _ClockAtAWindowsEnd:
    """time.time() for the throttle alone: starts 15 ms before a minute's end, and each reading is 10 ms later, so
    the second request is counted in the old window and its wait computed in the new one."""

    def __init__(self):
        self.now = 60 * 29_000_000 - 0.015  # the end of a minute (in 2025): no other test's window

    def time(self) -> float:
        self.now += 0.01
        return self.now - 0.01


@pytest.mark.parametrize(
    "method, path", [("get", f"{URL}/none"), ("post", "/api/v1/otel/v1/traces")], ids=["json", "otlp"]
)
def test_a_request_throttled_as_its_window_ends_still_says_when_to_retry(
    client, full_key, settings, monkeypatch, method, path
):
    """The wait was computed after the check: a window that ended in between gave 0, and DRF sends no Retry-After
    for 0 ("Expected available in 0 seconds."), leaving a client that honours it nothing to wait for."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "1/min"}}
    monkeypatch.setattr(throttles, "time", _ClockAtAWindowsEnd())
    headers = {"HTTP_AUTHORIZATION": f"Bearer {full_key.secret}"}

    def send():
        if method == "post":
            return client.post(path, b"{}", content_type="application/json", **headers)
        return client.get(path, **headers)

    assert send().status_code != 429
    response = send()

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1


def test_revoking_in_the_admin_goes_through_the_service(client, full_key, project):
    from django.contrib.auth import get_user_model

    from labeling.models import AuditEvent

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)

    client.post("/admin/labeling/apikey/", {"action": "revoke", "_selected_action": [full_key.api_key.pk]})

    full_key.api_key.refresh_from_db()
    assert full_key.api_key.revoked_at is not None
    assert AuditEvent.objects.filter(project=project, action="api_key.revoked").count() == 1
    client.logout()
    assert Api(client, full_key.secret).get(f"{URL}/x").status_code == 401


def test_staff_who_may_not_revoke_one_of_the_selected_keys_revoke_none_and_are_told_why(
    client, full_key, read_key, other_project_key
):
    """Staff with the admin's key permissions but no say over one key's project: a message, no key revoked (not a
    404 page after half the keys)."""
    from django.contrib.auth.models import Permission

    from labeling.models import ApiKey, Membership
    from tests.factories import UserFactory

    staff = UserFactory(username="ops", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_apikey", "change_apikey"]))
    Membership.objects.create(user=staff, project=full_key.api_key.project, role="lead")
    client.force_login(staff)
    selected = [full_key.api_key.pk, read_key.api_key.pk, other_project_key.api_key.pk]

    response = client.post("/admin/labeling/apikey/", {"action": "revoke", "_selected_action": selected}, follow=True)

    assert "Nothing revoked" in response.content.decode()
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()
