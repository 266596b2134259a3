"""Sign-in throttling on the login page and the admin login: per account, per address, with backoff.

The lockout periods here are seconds long so the tests can wait them out for real."""

import socket
import threading
import time

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone

from labeling.models import AuditEvent, SignInThrottle
from tests.factories import UserFactory

PASSWORD = "correct horse battery"
LOGIN_PATHS = ["/login/", "/admin/login/"]


def sign_in(client, path, username, password=PASSWORD, address="127.0.0.1"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(response) -> bool:
    return response.status_code == 302


def wait_out(response) -> None:
    """Sleep until the lock a 429 announced has ended."""
    time.sleep(int(response.headers["Retry-After"]) + 0.2)


@pytest.fixture
def staff_expert(expert):
    expert.is_staff = True  # the admin login signs in staff only
    expert.save(update_fields=["is_staff"])
    return expert


@pytest.mark.parametrize("path", LOGIN_PATHS)
# A lock of 10 minutes, so the 90 refused attempts fit in it however busy the machine (with 6 s, one got through at a
# load average of 14); its end is then brought forward rather than waited out (the next test waits out real ones).
@override_settings(SIGNIN_ACCOUNT_FAILURE_LIMIT=10, SIGNIN_ADDRESS_FAILURE_LIMIT=1000, SIGNIN_LOCKOUT_SECONDS=600)
def test_100_wrong_passwords_lock_the_account_until_the_lockout_ends(client, staff_expert, path):
    answers = [sign_in(client, path, "erin", "wrong") for _ in range(100)]

    assert [answer.status_code for answer in answers[:9]] == [200] * 9  # "didn't match", form shown again
    assert answers[9].status_code == 429  # the 10th failure locks
    assert {answer.status_code for answer in answers[10:]} == {429}
    refused = sign_in(client, path, "erin")
    assert refused.status_code == 429
    assert "Too many failed sign-ins for this account" in refused.content.decode()
    assert 590 <= int(refused.headers["Retry-After"]) <= 600

    SignInThrottle.objects.filter(kind="account", key="erin").update(locked_until=timezone.now())  # the lock ends

    assert signed_in(sign_in(client, path, "erin"))


@override_settings(SIGNIN_ACCOUNT_FAILURE_LIMIT=3, SIGNIN_ADDRESS_FAILURE_LIMIT=1000, SIGNIN_LOCKOUT_SECONDS=1)
def test_each_lockout_in_a_row_lasts_twice_as_long(client, expert):
    lockouts = []
    for _ in range(3):
        answers = [sign_in(client, "/login/", "erin", "wrong") for _ in range(3)]
        assert answers[-1].status_code == 429
        lockouts.append(int(answers[-1].headers["Retry-After"]))
        wait_out(answers[-1])

    assert lockouts == [1, 2, 4]
    assert signed_in(sign_in(client, "/login/", "erin"))
    # A sign-in that worked forgets the account's lockouts: the next lock is short again.
    assert not SignInThrottle.objects.filter(kind="account", key="erin").exists()


@override_settings(SIGNIN_ACCOUNT_FAILURE_LIMIT=100, SIGNIN_ADDRESS_FAILURE_LIMIT=5, SIGNIN_LOCKOUT_SECONDS=60)
def test_one_address_guessing_several_usernames_is_locked(client, expert):
    for username in ["admin", "root", "lena", "ezra", "erin"]:
        assert sign_in(client, "/login/", username, "wrong", address="203.0.113.7").status_code in {200, 429}

    refused = sign_in(client, "/login/", "erin", address="203.0.113.7")
    assert refused.status_code == 429
    assert "for your network address" in refused.content.decode()
    # The account itself is not locked: from another address its owner signs in.
    assert signed_in(sign_in(client, "/login/", "erin", address="198.51.100.20"))


@override_settings(SIGNIN_ACCOUNT_FAILURE_LIMIT=100, SIGNIN_ADDRESS_FAILURE_LIMIT=3, SIGNIN_LOCKOUT_SECONDS=60)
def test_an_ipv6_client_is_one_address_across_its_64(client, expert):
    for host in ["1", "2", "3"]:
        sign_in(client, "/login/", f"guess{host}", "wrong", address=f"2001:db8:1:2::{host}")

    assert sign_in(client, "/login/", "erin", address="2001:db8:1:2:ffff::9").status_code == 429
    assert signed_in(sign_in(client, "/login/", "erin", address="2001:db8:1:3::1"))


def _through_proxy(client, username, password, forwarded):
    return client.post(
        "/login/", {"username": username, "password": password}, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded
    )


@pytest.mark.parametrize("proxies, locked_out", [(0, True), (1, False)], ids=["no-proxy-trusted", "one-proxy"])
@override_settings(SIGNIN_ACCOUNT_FAILURE_LIMIT=100, SIGNIN_ADDRESS_FAILURE_LIMIT=3, SIGNIN_LOCKOUT_SECONDS=60)
def test_behind_a_trusted_proxy_each_client_has_its_own_address(client, expert, proxies, locked_out):
    """Three clients fail once each through the proxy at 10.0.0.1; then erin signs in from a fourth."""
    with override_settings(SIGNIN_PROXY_COUNT=proxies):
        for host in ["1", "2", "3"]:
            _through_proxy(client, "x", "wrong", f"192.0.2.{host}")
        answer = _through_proxy(client, "erin", PASSWORD, "192.0.2.4")

    assert (answer.status_code == 429) is locked_out


@override_settings(
    SIGNIN_PROXY_COUNT=1, SIGNIN_ACCOUNT_FAILURE_LIMIT=100, SIGNIN_ADDRESS_FAILURE_LIMIT=3, SIGNIN_LOCKOUT_SECONDS=60
)
def test_entries_a_client_forges_in_x_forwarded_for_do_not_change_its_address(client, expert):
    for forged in ["1", "2", "3"]:
        _through_proxy(client, "x", "wrong", f"198.51.100.{forged}, 192.0.2.1")

    assert _through_proxy(client, "erin", PASSWORD, "198.51.100.99, 192.0.2.1").status_code == 429


@override_settings(SIGNIN_ACCOUNT_FAILURE_LIMIT=3, SIGNIN_LOCKOUT_SECONDS=3600)
def test_an_operator_unlocks_an_account_with_a_command(client, expert, project, capsys):
    for _ in range(3):
        sign_in(client, "/login/", "erin", "wrong", address="198.51.100.1")
    assert sign_in(client, "/login/", "erin", address="198.51.100.2").status_code == 429

    call_command("unlock_sign_in", "erin")

    assert "Unlocked account 'erin'" in capsys.readouterr().out
    assert signed_in(sign_in(client, "/login/", "erin", address="198.51.100.2"))
    event = AuditEvent.objects.get(project=project, action="sign_in.unlocked")
    assert event.details["username"] == "erin"


@pytest.mark.parametrize(
    "locked, typed",
    [
        ("2001:db8:1:2::7", "2001:db8:1:2::7"),  # the address in the logs: the lock is on its /64
        ("2001:db8:1:2::7", "2001:db8:1:2:ffff::1"),
        ("203.0.113.7", "::ffff:203.0.113.7"),
        ("203.0.113.7", " 203.0.113.7 "),
    ],
)
@override_settings(SIGNIN_ACCOUNT_FAILURE_LIMIT=100, SIGNIN_ADDRESS_FAILURE_LIMIT=3, SIGNIN_LOCKOUT_SECONDS=3600)
def test_an_operator_unlocks_an_address_as_it_appears_in_the_logs(client, expert, capsys, locked, typed):
    for guess in ["a", "b", "c"]:
        sign_in(client, "/login/", guess, "wrong", address=locked)
    assert sign_in(client, "/login/", "erin", address=locked).status_code == 429

    call_command("unlock_sign_in", "--address", typed)

    assert "Unlocked address" in capsys.readouterr().out
    assert signed_in(sign_in(client, "/login/", "erin", address=locked))


@pytest.mark.parametrize("typed", ["203.0.113", "erin", "203.0.113.7:51234"])
def test_unlocking_something_that_is_not_an_address_is_an_error_not_nothing_to_do(db, typed):
    with pytest.raises(CommandError, match="is not an IP address"):
        call_command("unlock_sign_in", "--address", typed)


@override_settings(SIGNIN_ACCOUNT_FAILURE_LIMIT=3, SIGNIN_LOCKOUT_SECONDS=3600)
def test_an_operator_unlocks_an_account_in_the_admin(client, expert, project):
    for _ in range(3):
        sign_in(client, "/login/", "erin", "wrong", address="198.51.100.1")
    operator = UserFactory(username="opal", is_staff=True, is_superuser=True)
    row = SignInThrottle.objects.get(kind="account", key="erin")
    admin = Client()
    admin.force_login(operator)

    response = admin.post(
        "/admin/labeling/signinthrottle/", {"action": "unlock", "_selected_action": [row.pk]}, follow=True
    )

    assert response.status_code == 200 and b"Unlocked." in response.content
    assert signed_in(sign_in(client, "/login/", "erin", address="198.51.100.2"))
    assert AuditEvent.objects.get(project=project, action="sign_in.unlocked").actor == operator


def _port_nobody_listens_on() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@override_settings(SIGNIN_ACCOUNT_FAILURE_LIMIT=3, SIGNIN_LOCKOUT_SECONDS=3600)
def test_the_lockout_holds_while_the_cache_is_down(client, expert):
    """Locks live in the database: with the cache (Redis in production) unreachable they still refuse."""
    dead_redis = f"redis://127.0.0.1:{_port_nobody_listens_on()}/0"
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead_redis}}
    ):
        assert sign_in(client, "/login/", "erin", "wrong").status_code == 200
        answers = [sign_in(client, "/login/", "erin", "wrong") for _ in range(2)]
        assert answers[-1].status_code == 429
        assert sign_in(client, "/login/", "erin").status_code == 429


def test_a_username_with_a_nul_is_refused_without_an_error(client, expert):
    response = sign_in(client, "/login/", "er\x00in", "wrong")
    assert response.status_code == 200


class CountingPBKDF2Hasher(PBKDF2PasswordHasher):
    """The real default hasher, counting how many passwords it checks at the same moment."""

    lock = threading.Lock()
    running = 0
    most = 0

    def verify(self, password, encoded):
        cls = type(self)
        with cls.lock:
            cls.running += 1
            cls.most = max(cls.most, cls.running)
        try:
            return super().verify(password, encoded)
        finally:
            with cls.lock:
                cls.running -= 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@override_settings(
    PASSWORD_HASHERS=["tests.labeling.web.test_sign_in_throttle.CountingPBKDF2Hasher"],
    SIGNIN_MAX_CONCURRENT_CHECKS=1,
    SIGNIN_ACCOUNT_FAILURE_LIMIT=1000,
    SIGNIN_ADDRESS_FAILURE_LIMIT=1000,
)
def test_a_flood_hashes_one_password_at_a_time_and_refuses_the_rest_at_once(expert):
    from django.db import connection

    expert.password = CountingPBKDF2Hasher().encode(PASSWORD, CountingPBKDF2Hasher().salt())
    expert.save(update_fields=["password"])
    start = threading.Barrier(12)
    answers = []

    def attempt():
        client = Client()
        start.wait()
        began = time.monotonic()
        response = sign_in(client, "/login/", "erin", "wrong")
        answers.append((response.status_code, time.monotonic() - began, response.content.decode()))
        connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(answers) == 12
    assert CountingPBKDF2Hasher.most == 1
    busy = [answer for answer in answers if answer[0] == 429]
    checked = [answer for answer in answers if answer[0] == 200]
    assert busy and checked
    assert all("Try again in a moment" in content for _, _, content in busy)
    # A refused attempt does not wait for a hash (one PBKDF2 check takes several times longer).
    slowest_refusal = max(seconds for _, seconds, _ in busy)
    fastest_check = min(seconds for _, seconds, _ in checked)
    assert slowest_refusal < fastest_check


@override_settings(SIGNIN_MAX_CONCURRENT_CHECKS=1)
def test_the_password_change_waits_at_the_sign_in_gate_too(client, expert):
    """The change hashes the old password as a sign-in does: while the one slot is taken, it is refused at once."""
    from labeling.web.signin import _hashing_slots

    client.force_login(expert)
    slot = _hashing_slots(1)
    assert slot.acquire(blocking=False)  # another sign-in is being checked
    try:
        response = client.post("/me/password", {"old_password": "guess", "new_password1": "x", "new_password2": "x"})
    finally:
        slot.release()

    assert response.status_code == 429 and "Try again in a moment" in response.content.decode()
    assert not SignInThrottle.objects.exists()  # refused before the password was looked at


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@override_settings(SIGNIN_MAX_CONCURRENT_CHECKS=1)
def test_a_browser_turned_away_at_the_gate_gets_the_sign_in_form_back(expert):
    """Over the cap, a browser is answered with the sign-in page (429, Retry-After, "try again in a moment") whose
    form signs in once the rush is over; its password is not looked at meanwhile."""
    from labeling.web.signin import _hashing_slots

    client = Client(enforce_csrf_checks=True)
    token = client.get("/login/").cookies["csrftoken"].value
    slot = _hashing_slots(1)
    assert slot.acquire(blocking=False)  # another sign-in is being checked
    try:
        busy = client.post(
            "/login/",
            {"username": "erin", "password": "wrong", "next": "/me/", "csrfmiddlewaretoken": token},
            HTTP_ACCEPT=BROWSER_ACCEPT,
        )
    finally:
        slot.release()

    assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
    assert busy.headers["Content-Type"].startswith("text/html")
    page = busy.content.decode()
    assert 'id="sign-in-busy"' in page and "Try again in a moment" in page
    assert '<form method="post" action="/login/">' in page and 'value="erin"' in page and 'value="/me/"' in page
    assert not SignInThrottle.objects.exists()  # refused before the password was looked at
    again = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    signed = client.post(
        "/login/", {"username": "erin", "password": PASSWORD, "next": "/me/", "csrfmiddlewaretoken": again}
    )
    assert signed.status_code == 302 and signed.headers["Location"] == "/me/"


@override_settings(SIGNIN_MAX_CONCURRENT_CHECKS=1)
@pytest.mark.parametrize("cookie", [None, "x", "", "a" * 31, "a" * 31 + "!", "a" * 33])
def test_a_flood_naming_html_without_having_loaded_the_form_is_turned_away_in_plain_text(client, expert, cookie):
    """The form back costs the session and CSRF middleware and a template: only for a browser that loaded it. No
    CSRF cookie, or one no browser was given (Django's are 32 letters and digits), does not buy the rendered form."""
    from labeling.web.signin import _hashing_slots

    if cookie is not None:
        client.cookies["csrftoken"] = cookie
    slot = _hashing_slots(1)
    assert slot.acquire(blocking=False)
    try:
        busy = client.post("/login/", {"username": "erin", "password": "wrong"}, HTTP_ACCEPT=BROWSER_ACCEPT)
    finally:
        slot.release()

    assert busy.status_code == 429 and busy.headers["Content-Type"] == "text/plain; charset=utf-8"


@override_settings(SIGNIN_MAX_CONCURRENT_CHECKS=1)
@pytest.mark.parametrize("accept", [None, "application/json", "*/*"])
def test_a_caller_that_asks_for_no_html_is_turned_away_in_plain_text(client, expert, accept):
    from labeling.web.signin import _hashing_slots

    headers = {"HTTP_ACCEPT": accept} if accept else {}
    slot = _hashing_slots(1)
    assert slot.acquire(blocking=False)
    try:
        busy = client.post("/login/", {"username": "erin", "password": "wrong"}, **headers)
    finally:
        slot.release()

    assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
    assert busy.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert busy.content.decode() == "Too many sign-in attempts right now. Try again in a moment."


@override_settings(SIGNIN_MAX_CONCURRENT_CHECKS=1)
def test_a_browser_turned_away_from_the_password_change_gets_a_page_back_to_it(client, expert):
    from labeling.web.signin import _hashing_slots

    client.force_login(expert)
    assert client.get("/me/password").status_code == 200  # the form, as a browser loads it (its CSRF cookie)
    slot = _hashing_slots(1)
    assert slot.acquire(blocking=False)
    try:
        busy = client.post("/me/password", {"old_password": "guess"}, HTTP_ACCEPT=BROWSER_ACCEPT)
    finally:
        slot.release()

    assert busy.status_code == 429 and busy.headers["Content-Type"].startswith("text/html")
    page = busy.content.decode()
    assert "Try again in a moment" in page and 'href="/me/password"' in page and "Back to the password change" in page
