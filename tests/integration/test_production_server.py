"""A real gunicorn with production settings behind a TLS proxy: HTTPS only, HSTS, __Host- cookies, no-store."""

import re
import secrets
from urllib.parse import urlencode

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from tests.conftest import _member
from tests.helpers.servers import database_url, gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PRODUCTION = {
    "TRUST_X_FORWARDED_PROTO": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}
HTTPS = {"X-Forwarded-Proto": "https"}  # what the proxy in front adds


def cookie(answers_cookies: list[str], name: str) -> tuple[str, set[str]]:
    """The value and the lower-cased attributes of one Set-Cookie."""
    [header] = [c for c in answers_cookies if c.startswith(f"{name}=")]
    value, *attributes = [part.strip() for part in header.split(";")]
    return value.split("=", 1)[1], {a.lower() for a in attributes}


def test_sign_in_over_https_sets_host_prefixed_secure_cookies_and_pages_are_not_stored(project):
    lead = _member(project, "lena", "lead")
    # The server's hashers are the production ones (the test settings hash with MD5).
    lead.password = PBKDF2PasswordHasher().encode("a long passphrase", secrets.token_hex(8), iterations=1000)
    lead.save()

    with gunicorn(database_url(), **PRODUCTION) as server:
        plain = server.get("/login/")
        form = server.get("/login/", **HTTPS)
        csrf, csrf_attributes = cookie(form.cookies, "__Host-csrftoken")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.body).group(1)
        signed_in = server.request(
            "POST",
            "/login/",
            urlencode({"username": "lena", "password": "a long passphrase", "csrfmiddlewaretoken": token}),
            **HTTPS,
            Cookie=f"__Host-csrftoken={csrf}",
            Origin="https://127.0.0.1",
            **{"Content-Type": "application/x-www-form-urlencoded"},
        )
        session, session_attributes = cookie(signed_in.cookies, "__Host-sessionid")
        meeting = server.get("/p/support-bot/meeting/", **HTTPS, Cookie=f"__Host-sessionid={session}")
        week = server.get(meeting.headers["Location"], **HTTPS, Cookie=f"__Host-sessionid={session}")

    assert plain.status == 301 and plain.headers["Location"] == "https://127.0.0.1/login/"
    assert form.status == 200
    assert form.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert signed_in.status == 302, signed_in.body
    # __Host-: Secure, Path=/ and no Domain, or browsers drop the cookie.
    for attributes in (csrf_attributes, session_attributes):
        assert {"secure", "path=/"} <= attributes
        assert not any(a.startswith("domain") for a in attributes)
    assert "httponly" in session_attributes
    assert week.status == 200 and "support-bot" in week.body.lower()
    assert week.headers["Cache-Control"] == "no-store"
