"""Sign-in flood: clients send wrong passwords to a real gunicorn while a signed-in user loads a page.

    .venv/bin/python bench/signin_flood.py          # or: make bench-signin — about a minute
    .venv/bin/python bench/signin_flood.py --clients 50 --seconds 10 --workers 1 --threads 4

What it does:
  1. creates a fresh PostgreSQL database, migrates it, creates a project with outputs, a member
     (the legitimate user) and the flood's target account, passwords hashed with the real default
     hasher (PBKDF2, ~0.3 s of CPU per check on the 2-core dev machine);
  2. for each policy below, starts gunicorn as the Dockerfile does (gthread, 4 threads; --workers 1,
     as there without WEB_CONCURRENCY), signs the legitimate user in, measures the page the home page
     lands on (itself, or the user's one project) alone for a few seconds, then again while `--clients`
     clients (default 50) each send wrong passwords to /login/ back to back (one CSRF token and one
     keep-alive connection per client, as a script would);
  3. prints the page's latency (median, p95, max) with and without the flood, and what the flood got.

Policies: `unprotected` (no cap on concurrent password checks, no lockout), `cap only` (one password
check at a time per process, no lockout), `defaults` (the shipped settings: the cap and the lockouts).
The flood helpers are also used by tests/integration/test_signin_flood.py.
"""

from __future__ import annotations

import argparse
import http.client
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field

from harness import OUT, ROOT
from harness.database import fresh_database, server_env
from harness.report import latency_summary
from harness.server import Gunicorn

PASSWORD = "correct horse battery staple"
PAGE_TIMEOUT = 10.0
TOKEN = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')

SETUP_CODE = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
from django.contrib.auth import get_user_model
from labeling.models import Membership, Output, Project
from django.utils import timezone
project = Project.objects.create(slug="flood", name="Flood")
Output.objects.bulk_create(
    [Output(project=project, external_id=str(i), output=f"answer {i}", occurred_at=timezone.now(),
            received_at=timezone.now(), content_hash=str(i)) for i in range(50)]
)
for name in ("alice", "victim"):
    user = get_user_model().objects.create_user(name, password=%r)
    Membership.objects.create(project=project, user=user, role="expert")
"""

POLICIES = {
    "unprotected": {"SIGNIN_MAX_CONCURRENT_CHECKS": "0", "SIGNIN_ACCOUNT_FAILURE_LIMIT": "1000000",
                    "SIGNIN_ADDRESS_FAILURE_LIMIT": "1000000"},
    "cap only": {"SIGNIN_MAX_CONCURRENT_CHECKS": "1", "SIGNIN_ACCOUNT_FAILURE_LIMIT": "1000000",
                 "SIGNIN_ADDRESS_FAILURE_LIMIT": "1000000"},
    "defaults": {},
}  # fmt: skip


# ----------------------------------------------------------------------------------------------
# The client


@dataclass
class Answer:
    status: int
    body: bytes
    cookies: dict[str, str]
    seconds: float
    location: str = ""


def request(
    base: str, method: str, path: str, *, conn=None, body: dict | None = None, cookies=None, timeout: float = 30
) -> Answer:
    """One HTTP request (on `conn` if given, else a new connection), timed until the body is read."""
    parsed = urllib.parse.urlsplit(base)
    own = conn is None
    conn = conn or http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    headers = {}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    data = None
    if body is not None:
        data = urllib.parse.urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    began = time.perf_counter()
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        content = response.read()
    finally:
        if own:
            conn.close()
    seconds = time.perf_counter() - began
    jar = {}
    for header in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]
    return Answer(response.status, content, jar, seconds, response.headers.get("Location", ""))


def sign_in(base: str, username: str, password: str, *, conn=None) -> Answer:
    """GET the login page for a CSRF token, POST the credentials; the answer carries the session cookie."""
    page = request(base, "GET", "/login/", conn=conn)
    token = TOKEN.search(page.body).group(1).decode()
    form = {"username": username, "password": password, "csrfmiddlewaretoken": token}
    return request(base, "POST", "/login/", conn=conn, body=form, cookies=page.cookies)


@dataclass
class FloodResult:
    page_seconds: list[float] = field(default_factory=list)
    page_statuses: Counter = field(default_factory=Counter)
    flood_answers: Counter = field(default_factory=Counter)  # "200 wrong password", "429 busy", "429 locked"
    flood_seconds: dict[str, list[float]] = field(default_factory=dict)

    def page_summary(self) -> str:
        return summary(self.page_seconds)


def summary(seconds: list[float]) -> str:
    return latency_summary(seconds, "loads")


def _kind(answer: Answer) -> str:
    if answer.status == 429:
        return "429 busy" if b"in a moment" in answer.body else "429 locked"
    if answer.status == 200:
        return "200 wrong password"
    return f"{answer.status} other"


def landing_path(base: str, session: dict) -> str:
    """The page a signed-in user lands on: the home page, or where it sends someone with one project."""
    answer = request(base, "GET", "/", cookies=session)
    if answer.status in (301, 302, 303) and answer.location:
        return urllib.parse.urlsplit(answer.location).path
    return "/"


def measure_page(base: str, session: dict, *, seconds: float, interval: float, result: FloodResult, stop=None):
    """Load the page the signed-in user lands on every `interval` seconds, each on a new connection."""
    path = landing_path(base, session)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        began = time.perf_counter()
        try:
            answer = request(base, "GET", path, cookies=session, timeout=PAGE_TIMEOUT)
        except TimeoutError:
            result.page_seconds.append(time.perf_counter() - began)
            result.page_statuses[f"no answer in {PAGE_TIMEOUT:.0f} s"] += 1
            continue
        result.page_seconds.append(answer.seconds)
        result.page_statuses[answer.status] += 1
        time.sleep(interval)


def flood(
    base: str, session: dict, *, clients: int, seconds: float, target: str = "victim", interval: float = 0.1
) -> FloodResult:
    """`clients` clients send wrong passwords for `target` for `seconds`, while the page is measured."""
    result = FloodResult()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop = threading.Event()

    def attacker(number: int) -> None:
        parsed = urllib.parse.urlsplit(base)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        # One CSRF token per client, reused for every guess, as a script would.
        page = request(base, "GET", "/login/", conn=conn)
        form = {"username": target, "csrfmiddlewaretoken": TOKEN.search(page.body).group(1).decode()}
        start.wait()
        while not stop.is_set():
            try:
                guess = {**form, "password": f"guess-{number}-{time.monotonic_ns()}"}
                answer = request(base, "POST", "/login/", conn=conn, body=guess, cookies=page.cookies)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
                with lock:
                    result.flood_answers["connection error"] += 1
                continue
            kind = _kind(answer)
            with lock:
                result.flood_answers[kind] += 1
                result.flood_seconds.setdefault(kind, []).append(answer.seconds)
        conn.close()

    threads = [threading.Thread(target=attacker, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    time.sleep(0.5)  # the flood is under way before the first page load
    measure_page(base, session, seconds=seconds, interval=interval, result=result)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return result


# ----------------------------------------------------------------------------------------------
# The benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database", default="expertloop_bench_signin")
    parser.add_argument("--policies", default=",".join(POLICIES), help="comma-separated, of: " + ", ".join(POLICIES))
    args = parser.parse_args()

    # The settings' own sign-in limits and hashers, whatever this shell has: the policies set the limits.
    env = {
        key: value
        for key, value in server_env(args.database, SECURE_COOKIES="false").items()
        if not key.startswith("SIGNIN_") and key != "PASSWORD_HASHERS"
    }
    print(f"gunicorn: {args.workers} gthread worker(s) x {args.threads} threads; {args.clients} flood clients")
    with fresh_database(args.database):
        subprocess.run([sys.executable, "-c", SETUP_CODE % PASSWORD], cwd=ROOT, env=env, check=True)
        OUT.mkdir(exist_ok=True)
        for name in args.policies.split(","):
            measure_policy(name, env, args)


def measure_policy(name: str, env: dict, args) -> None:
    """Start gunicorn with the policy's settings, then the landing page alone and during the flood."""
    reset = "from labeling.models import SignInThrottle; SignInThrottle.objects.all().delete()"
    subprocess.run([sys.executable, "-c", "import django; django.setup(); " + reset], cwd=ROOT, env=env, check=True)
    server = Gunicorn(
        env={**env, **POLICIES[name]}, workers=args.workers, threads=args.threads, timeout=60,
        log_path=OUT / "signin-flood-gunicorn.log", ready_path="/login/",
    )  # fmt: skip
    with server:
        session = sign_in(server.url, "alice", PASSWORD).cookies
        assert "sessionid" in session, "the legitimate user could not sign in"
        quiet = FloodResult()
        measure_page(server.url, session, seconds=3, interval=0.1, result=quiet)
        loud = flood(server.url, session, clients=args.clients, seconds=args.seconds)
    print(f"\n[{name}]")
    print(f"  page alone:        {quiet.page_summary()}")
    print(f"  page during flood: {loud.page_summary()}  statuses {dict(loud.page_statuses)}")
    for kind, count in sorted(loud.flood_answers.items()):
        print(f"  flood {kind}: {count}  ({summary(loud.flood_seconds.get(kind, []))})")


if __name__ == "__main__":
    main()
