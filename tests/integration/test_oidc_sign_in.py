"""Single sign-on against a real OpenID Connect provider process (tests/oidc_provider/, django-oauth-toolkit),
with our app under gunicorn and production settings: a person signs in at the provider and comes back
signed in, or refused with nothing created. Driven with `requests` as a browser would, redirect by redirect."""

import json
import os
import re
import subprocess
import sys
import time

import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model

from labeling.models import Invitation, Membership
from labeling.services.invitations import invite_member
from tests.helpers.processes import ROOT, stop
from tests.helpers.servers import Gunicorn, database_url, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CLIENT_ID = "expertloop-test"
CLIENT_SECRET = "s3cret-of-the-test-client"
IDP_PASSWORD = "provider password"
IDP_USERS = [
    {"username": "nina", "email": "Nina@Example.com"},  # invited; the provider keeps the case she typed
    {"username": "erin.idp", "email": "erin@example.com"},  # the expert fixture's email: an existing account
    {"username": "uma", "email": "uma@example.com"},  # neither an account nor an invitation
    {"username": "vic", "email": "vic@example.com", "email_verified": False},  # invited, but not verified
]


def _wait_for_http(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the provider exited with {process.returncode}:\n{process.stdout.read()}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"the provider did not answer at {url} within {timeout} s")


@pytest.fixture(scope="module")
def app_port():
    return free_port()


@pytest.fixture(scope="module")
def provider(tmp_path_factory, app_port):
    """The provider on a free port, with a fresh RSA signing key and SQLite file, starting (app waits for it)."""
    folder = tmp_path_factory.mktemp("oidc-provider")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    seed = {
        "client": {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": f"http://127.0.0.1:{app_port}/accounts/oidc/sso/login/callback/",
        },
        "users": [{"password": IDP_PASSWORD, **user} for user in IDP_USERS],
    }
    (folder / "seed.json").write_text(json.dumps(seed))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "OIDC_PROVIDER_DB": str(folder / "provider.sqlite3"),
        "OIDC_PROVIDER_RSA_KEY": pem.decode(),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.oidc_provider.serve", str(port), str(folder / "seed.json")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}/o", process
    finally:
        stop(process)


@pytest.fixture(scope="module")
def app(django_db_setup, django_db_blocker, provider, app_port, tmp_path_factory):
    """Our app under gunicorn on the test database, production settings, single sign-on to the provider."""
    issuer, provider_process = provider
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "REDIS_URL", "DEBUG"}},
        "DJANGO_SETTINGS_MODULE": "expertloop.settings",
        "SECRET_KEY": "oidc-integration-test-secret-key-long-enough-for-django-checks",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_COOKIES": "false",
        "LOG_LEVEL": "WARNING",
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_NAME": "Acme sign-in",
    }
    with django_db_blocker.unblock():
        env["DATABASE_URL"] = database_url()
    log = tmp_path_factory.mktemp("gunicorn") / "app.log"
    with Gunicorn(env=env, port=app_port, threads=4, log_path=log, ready_path="/login/") as server:
        _wait_for_http(f"{issuer}/.well-known/openid-configuration", provider_process)  # both started at once
        yield server.url


def sign_in_through_provider(app: str, username: str) -> requests.Response:
    """Press the login page's SSO button, sign in at the provider, and follow every redirect back."""
    browser = requests.Session()
    browser.headers["Connection"] = "close"  # no idle keep-alive connection holds gunicorn's shutdown
    login_page = browser.get(f"{app}/login/", timeout=10)
    button = re.search(r'<form method="post" action="([^"]+)" class="sso">', login_page.text)
    assert button and "Acme sign-in" in login_page.text, login_page.text
    at_provider = browser.post(
        app + button.group(1),
        data={"csrfmiddlewaretoken": browser.cookies["csrftoken"], "process": "login", "next": "/"},
        timeout=10,
    )
    assert "Test identity provider" in at_provider.text, at_provider.text  # redirected to the provider's login
    assert "/o/authorize/" in at_provider.url and "code_challenge" in at_provider.url  # PKCE
    answer = browser.post(
        at_provider.url,
        data={
            "csrfmiddlewaretoken": browser.cookies["idp_csrftoken"],
            "username": username,
            "password": IDP_PASSWORD,
            "next": re.search(r'name="next" value="([^"]*)"', at_provider.text).group(1).replace("&amp;", "&"),
        },
        timeout=20,
    )
    answer.session = browser
    return answer


def test_an_invited_person_signs_in_with_the_provider_and_gets_an_account_and_the_project(app, project):
    invite_member(project=project, email="nina@example.com", role="expert", invited_by=None)

    answer = sign_in_through_provider(app, "nina")

    # Signed in, and (their one project) on its page, where the home page sends them.
    assert answer.status_code == 200 and answer.url == f"{app}/p/support-bot/", answer.text
    assert "nina" in answer.text and "Support bot" in answer.text
    user = get_user_model().objects.get(email="nina@example.com")
    assert user.username == "nina" and not user.has_usable_password()
    assert Membership.objects.get(user=user).role == "expert"
    assert Invitation.objects.get(email="nina@example.com").accepted_by == user
    assert SocialAccount.objects.get(user=user).provider == "sso"


def test_an_existing_account_with_the_verified_email_signs_in_then_again_by_its_link(app, expert):
    first = sign_in_through_provider(app, "erin.idp")
    again = sign_in_through_provider(app, "erin.idp")

    for answer in (first, again):
        assert answer.status_code == 200 and answer.url == f"{app}/p/support-bot/", answer.text  # her one project
        assert '<a class="who" href="/me/"' in answer.text and "><bdi>erin</bdi></a>" in answer.text
    assert get_user_model().objects.count() == 1  # no second account
    assert SocialAccount.objects.get().user == expert
    assert get_user_model().objects.get(pk=expert.pk).has_usable_password()  # her password still works


def test_an_uninvited_email_is_refused_and_nothing_is_created(app, project):
    answer = sign_in_through_provider(app, "uma")

    assert answer.status_code == 403
    assert "Ask a lead of your project to invite uma@example.com." in answer.text
    assert not get_user_model().objects.exists() and not SocialAccount.objects.exists()
    assert answer.session.get(f"{app}/", allow_redirects=False, timeout=10).status_code == 302  # to the login


def test_an_unverified_email_is_refused_even_when_invited(app, project):
    invite_member(project=project, email="vic@example.com", role="expert", invited_by=None)

    answer = sign_in_through_provider(app, "vic")

    assert answer.status_code == 403
    assert "Acme sign-in did not confirm that the email address vic@example.com is yours" in answer.text
    assert not get_user_model().objects.exists() and not SocialAccount.objects.exists()
    assert Invitation.objects.get(email="vic@example.com").accepted_at is None
