"""A flood of wrong passwords against a real gunicorn (as the Dockerfile runs it) with the real PBKDF2 hasher:
signed-in people keep working, and the flood is mostly refused before any hashing.

The full figures (with and without the protection) come from `bench/signin_flood.py`."""

import os
import statistics

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from signin_flood import flood, sign_in, summary

from tests.factories import OutputFactory
from tests.helpers.servers import Gunicorn, database_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.alone]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def server(tmp_path):
    """gunicorn on the test database with the production settings module: the real default hasher."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SIGNIN_")},
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "expertloop.settings",
        "DEBUG": "false",
        "SECURE_COOKIES": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        # Lockouts out of the way: the cap on concurrent sign-ins alone has to hold the flood.
        "SIGNIN_MAX_CONCURRENT_CHECKS": "1",
        "SIGNIN_ACCOUNT_FAILURE_LIMIT": "1000000",
        "SIGNIN_ADDRESS_FAILURE_LIMIT": "1000000",
    }
    with Gunicorn(env=env, threads=4, timeout=60, log_path=tmp_path / "gunicorn.log", ready_path="/login/") as server:
        yield server.url


def test_a_flood_of_50_wrong_sign_ins_leaves_signed_in_pages_fast(server, expert, project):
    hasher = PBKDF2PasswordHasher()
    expert.password = hasher.encode(PASSWORD, hasher.salt())
    expert.save(update_fields=["password"])
    OutputFactory.create_batch(20, project=project)
    session = sign_in(server, "erin", PASSWORD).cookies
    assert "sessionid" in session

    result = flood(server, session, clients=50, seconds=5, target="erin")

    figures = f"page {result.page_summary()}; flood {dict(result.flood_answers)}"
    assert set(result.page_statuses) == {200}, figures
    assert statistics.median(result.page_seconds) < 0.5, figures
    checked = result.flood_seconds.get("200 wrong password", [])
    busy = result.flood_seconds.get("429 busy", [])
    # Most of the flood is refused before hashing, and faster than a password check.
    assert checked, figures  # some tries were really hashed: the flood reached the password check
    assert len(busy) > 10 * len(checked), figures
    assert statistics.median(busy) < statistics.median(checked), f"{figures}; busy {summary(busy)}"
    print(figures)
    # The account still signs in once the flood is over.
    assert "sessionid" in sign_in(server, "erin", PASSWORD).cookies
