"""A mail server that accepts connections and never answers (a frozen host, a firewall that drops packets): a
real gunicorn still answers the lead who invites a member, the invitation is kept, and the web thread is free
for the next request (each exchange gives up after EMAIL_TIMEOUT; before, Django waited for ever)."""

import http.client
import os
from urllib.parse import urlencode

import pytest
from django.conf import settings

from expertloop.mail import DEFAULT_TIMEOUT_SECONDS
from labeling.models import Invitation
from tests.helpers.servers import Gunicorn, database_url, session_cookie

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CLIENT_TIMEOUT_SECONDS = 45  # a browser waits longer; a lead does not
EMAIL_TIMEOUT_SECONDS = 2  # the server's, shorter than its default to spare the wait; the default is checked apart
CSRF_TOKEN = "c" * 32


def _post(port: int, path: str, form: dict, cookie: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT_SECONDS)
    headers = {
        "Host": "127.0.0.1",
        "Cookie": f"{cookie}; {settings.CSRF_COOKIE_NAME}={CSRF_TOKEN}",
        "X-CSRFToken": CSRF_TOKEN,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    try:
        conn.request("POST", path, body=urlencode(form), headers=headers)
        return conn.getresponse().status
    except TimeoutError:
        return 0  # no answer
    finally:
        conn.close()


def test_inviting_a_member_is_answered_while_the_mail_server_hangs(project, lead, black_hole, tmp_path):
    # What a deployment without EMAIL_TIMEOUT gets: an exchange that gives up in time for the lead's wait (that it
    # reaches the SMTP mailer is checked in tests/expertloop/test_mail.py).
    assert 0 < DEFAULT_TIMEOUT_SECONDS < CLIENT_TIMEOUT_SECONDS / 2
    cookie = session_cookie(lead)
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "REDIS_URL"}},
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "EMAIL_URL": f"smtp://127.0.0.1:{black_hole}",
        "EMAIL_TIMEOUT": str(EMAIL_TIMEOUT_SECONDS),
    }
    members = f"/p/{project.slug}/manage/members/"

    with Gunicorn(env=env, workers=1, threads=1, log_path=tmp_path / "gunicorn.log") as web:
        invited = _post(web.port, members + "invite", {"email": "dana@example.com", "role": "expert"}, cookie)
        second = _post(web.port, members + "invite", {"email": "eli@example.com", "role": "expert"}, cookie)
        log = web.output()

    assert (invited, second) == (302, 302), log[-3000:]
    # Kept and shown pending: the lead can resend once the mail server is back.
    assert set(Invitation.objects.filter(project=project).values_list("email", flat=True)) == {
        "dana@example.com",
        "eli@example.com",
    }
