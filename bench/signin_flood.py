"""Sign-in flood: clients send wrong passwords to a real gunicorn while a signed-in user loads a page.

    .venv/bin/python bench/signin_flood.py          # or: make bench-signin — about a minute
    .venv/bin/python bench/signin_flood.py --clients 50 --seconds 10 --workers 1 --threads 4

What it does:
  1. creates a fresh PostgreSQL database, migrates it, creates a project with outputs, a member
     (the legitimate user) and the flood's target account, passwords hashed with the real default
     hasher (PBKDF2, ~0.3 s of CPU per check on the 2-core dev machine);
  2. for each policy below, starts gunicorn as the Dockerfile does (gthread, 4 threads; --workers 1,
     as there without WEB_CONCURRENCY), signs the legitimate user in, measures the home page alone
     for a few seconds, then again while `--clients` clients (default 50) each send wrong passwords
     to /login/ back to back (one CSRF token and one keep-alive connection per client, as a script would);
  3. prints the page's latency (median, p95, max) with and without the flood, and what the flood got.

Policies: `unprotected` (no cap on concurrent password checks, no lockout), `cap only` (one password
check at a time per process, no lockout), `defaults` (the shipped settings: the cap and the lockouts).
The flood helpers are also used by tests/integration/test_signin_flood.py.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgres://postgres@127.0.0.1:5432"
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------------------------
# The server


def start_gunicorn(*, env: dict, port: int, workers: int = 1, threads: int = 4, log_path: Path) -> subprocess.Popen:
    """gunicorn as the Dockerfile runs it, on 127.0.0.1:port; returns once /login/ answers."""
    args = [
        sys.executable, "-m", "gunicorn", "expertloop.wsgi",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--worker-class", "gthread",
        "--threads", str(threads),
        "--timeout", "60",
        "--no-control-socket",
    ]  # fmt: skip
    log = open(log_path, "ab")  # noqa: SIM115 - the server writes to it until it stops
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log_path}")
        try:
            if request(f"http://127.0.0.1:{port}", "GET", "/login/").status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gunicorn did not answer within 60 s; see {log_path}")


def stop_gunicorn(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ----------------------------------------------------------------------------------------------
# The client


@dataclass
class Answer:
    status: int
    body: bytes
    cookies: dict[str, str]
    seconds: float


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
    return Answer(response.status, content, jar, seconds)


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
    if not seconds:
        return "no samples"
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"{len(ordered)} loads: median {statistics.median(ordered) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
    )


def _kind(answer: Answer) -> str:
    if answer.status == 429:
        return "429 busy" if b"in a moment" in answer.body else "429 locked"
    if answer.status == 200:
        return "200 wrong password"
    return f"{answer.status} other"


def measure_page(base: str, session: dict, *, seconds: float, interval: float, result: FloodResult, stop=None):
    """Load the signed-in home page every `interval` seconds, each on a new connection (a new visitor)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        began = time.perf_counter()
        try:
            answer = request(base, "GET", "/", cookies=session, timeout=PAGE_TIMEOUT)
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

    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.database}"')
    keep = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "PASSWORD_HASHERS")
    env = {k: v for k, v in os.environ.items() if k not in keep and not k.startswith("SIGNIN_")}
    env.update(
        DATABASE_URL=f"{PG_URL}/{args.database}",
        DJANGO_SETTINGS_MODULE="expertloop.settings",
        SECRET_KEY="bench",
        DEBUG="false",
        SECURE_COOKIES="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
    )
    subprocess.run([sys.executable, "-c", SETUP_CODE % PASSWORD], cwd=ROOT, env=env, check=True)
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    print(f"gunicorn: {args.workers} gthread worker(s) x {args.threads} threads; {args.clients} flood clients")
    try:
        for name in args.policies.split(","):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            reset = "from labeling.models import SignInThrottle; SignInThrottle.objects.all().delete()"
            subprocess.run(
                [sys.executable, "-c", "import django; django.setup(); " + reset], cwd=ROOT, env=env, check=True
            )
            server = start_gunicorn(
                env={**env, **POLICIES[name]}, port=port, workers=args.workers, threads=args.threads,
                log_path=out / "signin-flood-gunicorn.log",
            )  # fmt: skip
            try:
                session = sign_in(base, "alice", PASSWORD).cookies
                assert "sessionid" in session, "the legitimate user could not sign in"
                quiet = FloodResult()
                measure_page(base, session, seconds=3, interval=0.1, result=quiet)
                loud = flood(base, session, clients=args.clients, seconds=args.seconds)
            finally:
                stop_gunicorn(server)
            print(f"\n[{name}]")
            print(f"  page alone:        {quiet.page_summary()}")
            print(f"  page during flood: {loud.page_summary()}  statuses {dict(loud.page_statuses)}")
            for kind, count in sorted(loud.flood_answers.items()):
                print(f"  flood {kind}: {count}  ({summary(loud.flood_seconds.get(kind, []))})")
    finally:
        with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
