"""Operator tokens script the usage API: issued on /platform/tokens/ (the secret shown once, only its hash kept),
acting as their operator while the operator keeps the permission, refused once revoked."""

import hashlib

import pytest
from django.contrib.auth.models import Permission

from labeling.models import OperatorToken
from labeling.services.operator_tokens import issue_operator_token
from tests.factories import UserFactory
from tests.helpers.platform import TREND, plant_projects

pytestmark = pytest.mark.django_db
URL = "/api/v1/platform/usage"


def _bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_an_operator_issues_a_token_on_the_page_and_sees_its_secret_once(client, operator):
    client.force_login(operator)

    response = client.post("/platform/tokens/", {"name": "chargeback script"})

    assert response.status_code == 200
    token = OperatorToken.objects.get(user=operator)
    secret = response.context["issued"].secret
    assert secret.startswith(f"elop_{token.prefix}_") and secret.encode() in response.content
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(OperatorToken.objects.filter(pk=token.pk).values().get())
    listing = client.get("/platform/tokens/")
    assert secret.encode() not in listing.content and f"elop_{token.prefix}_…".encode() in listing.content


def test_a_script_reads_the_usage_api_with_a_token_and_no_session(client, operator):
    plant_projects(2)
    issued = issue_operator_token(user=operator, name="script")

    response = client.get(URL, **_bearer(issued.secret))

    assert response.status_code == 200 and len(response.json()) == 2 * TREND
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None


def test_a_revoked_token_is_refused(client, operator):
    issued = issue_operator_token(user=operator, name="script")
    client.force_login(operator)

    client.post(f"/platform/tokens/{issued.token.pk}/revoke")

    client.logout()
    response = client.get(URL, **_bearer(issued.secret))
    assert response.status_code == 401
    assert "revoked" in response.json()["errors"][0]["message"]


def test_a_token_stops_when_its_user_stops_being_an_operator(client, operator):
    issued = issue_operator_token(user=operator, name="script")
    operator.user_permissions.clear()

    assert client.get(URL, **_bearer(issued.secret)).status_code == 403
    operator.is_active = False
    operator.save(update_fields=["is_active"])
    assert client.get(URL, **_bearer(issued.secret)).status_code == 401


@pytest.mark.parametrize(
    ("secret", "message"),
    [("elop_000000000000_wrong", "Invalid operator token"), ("elop_nope", "Malformed"), ("el_abc_def", "project")],
)
def test_a_wrong_token_or_a_project_key_is_a_401_saying_why(client, secret, message):
    response = client.get(URL, **_bearer(secret))

    assert response.status_code == 401
    assert message in response.json()["errors"][0]["message"]


SEND_A_TOKEN = (
    "send an operator token as `Authorization: Bearer elop_…` (an operator issues one on /platform/tokens/), "
    "or sign in as an operator"
)


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({}, "No credentials were sent"),
        ({"HTTP_AUTHORIZATION": "Bearer"}, "No token follows `Bearer`"),
        ({"HTTP_AUTHORIZATION": "Bearer a b"}, "`Authorization: Bearer` takes one token"),
        ({"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}, "Credentials were sent as `Authorization: Basic …`"),
        ({"HTTP_AUTHORIZATION": "Token elop_x"}, "Credentials were sent as `Authorization: Token …`"),
        ({"HTTP_X_API_KEY": "elop_x"}, "Credentials were sent as an `X-API-Key` header"),
        ({"HTTP_AUTHORIZATION": "Bearer elop_000000000000_wrong"}, "Invalid operator token"),
        ({"HTTP_AUTHORIZATION": "Bearer elop_nope"}, "Malformed operator token"),
    ],
    ids=["no header", "no token", "two tokens", "basic auth", "token scheme", "x-api-key", "unknown", "malformed"],
)
def test_a_request_without_a_usable_token_is_a_401_saying_what_to_send(client, headers, problem):
    """ "Authentication credentials were not provided." (or "Invalid operator token.") left the script's author to
    find out in the README what the platform API takes; the project API says how to send its key."""
    response = client.get(URL, **headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="expertloop-platform"'
    message = response.json()["errors"][0]["message"]
    assert message.startswith(problem) and message.endswith(f"{SEND_A_TOKEN}.")


def test_a_signed_in_operator_behind_a_basic_auth_proxy_still_reads_by_session(client, operator):
    """A proxy's Basic credentials ride along with every browser request: they must not hide the session."""
    client.force_login(operator)

    assert client.get(URL, HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz").status_code == 200


def test_a_real_project_key_is_refused_too(client, full_key):
    response = client.get(URL, **_bearer(full_key.secret))
    assert response.status_code == 401


@pytest.mark.parametrize("persona", ["lead", "expert"])
def test_only_operators_issue_tokens(client, request, persona):
    client.force_login(request.getfixturevalue(persona))

    assert client.get("/platform/tokens/").status_code == 404
    assert client.post("/platform/tokens/", {"name": "mine"}).status_code == 404
    assert not OperatorToken.objects.exists()


def test_an_operator_revokes_only_their_own_tokens(client, operator):
    other = UserFactory(username="otto")
    other.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    theirs = issue_operator_token(user=other, name="theirs")
    client.force_login(operator)

    assert client.post(f"/platform/tokens/{theirs.token.pk}/revoke").status_code == 404
    theirs.token.refresh_from_db()
    assert theirs.token.is_active


@pytest.mark.parametrize(
    ("name", "problem"), [("", "required"), ("x" * 101, "at most 100"), ("a\x00b", "Null characters")]
)
def test_a_bad_token_name_is_a_400(client, operator, name, problem):
    client.force_login(operator)

    response = client.post("/platform/tokens/", {"name": name})

    assert response.status_code == 400
    assert problem in response.content.decode()
    assert not OperatorToken.objects.exists()


def test_tokens_are_issued_at_most_ten_an_hour(client, operator):
    client.force_login(operator)
    for n in range(10):
        issue_operator_token(user=operator, name=f"t{n}")

    response = client.post("/platform/tokens/", {"name": "one more"})

    assert response.status_code == 429
    assert OperatorToken.objects.count() == 10


@pytest.mark.parametrize("path", ["/api/v1/outputs", "/api/v1/rubric"])
def test_an_operator_token_sent_to_the_project_api_says_what_it_is_for(client, operator, path):
    """It is not malformed: it is an operator token, which reads only the usage API."""
    issued = issue_operator_token(user=operator, name="script")

    response = client.get(path, **_bearer(issued.secret))

    assert response.status_code == 401
    message = response.json()["errors"][0]["message"]
    assert message == (
        "This is an operator token (elop_…): it reads only /api/v1/platform/usage. "
        "The project API needs a project's API key (el_…)."
    )
