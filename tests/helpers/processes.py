"""Processes the tests start (manage.py, gunicorn) and how they wait for them."""

import http.client
import os
import secrets
import socket
import subprocess
import sys
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """Return a TCP port nothing listens on (bound, read, and released)."""
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage_check(**env) -> subprocess.CompletedProcess:
    """Run `manage.py check` with production settings and only the given settings variables."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--settings=expertloop.settings"],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def stop(process: subprocess.Popen, timeout: float = 15) -> None:
    """Ask a child process to stop (SIGTERM) and kill it if it has not within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def env_for_test_database(**extra) -> dict:
    """The environment of this test run, pointed at the test database pytest-django made."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings", **extra}


def wait_for(predicate, timeout=30.0) -> bool:
    """Poll `predicate` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@dataclass
class Answer:
    """One HTTP response as the tests read it, with how long it took."""

    status: int
    headers: dict
    body: str
    seconds: float
    cookies: list  # every Set-Cookie header


class Server:
    """A server on a local port, asked over plain HTTP."""

    def __init__(self, port: int):
        self.port = port
        self.log = ""  # what gunicorn wrote, once it has stopped

    def get(self, path: str, **headers) -> Answer:
        return self.request("GET", path, **headers)

    def request(self, method: str, path: str, body: str | None = None, **headers) -> Answer:
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request(method, path, body=body, headers={"Host": "127.0.0.1", **headers})
            response = conn.getresponse()
            text = response.read().decode()
            return Answer(
                response.status,
                dict(response.getheaders()),
                text,
                time.monotonic() - started,
                response.headers.get_all("Set-Cookie") or [],
            )
        finally:
            conn.close()


@contextmanager
def gunicorn(database_url: str, *, threads: int = 2, **env):
    """A gunicorn like the Dockerfile's (gthread), one worker process, production settings."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "REDIS_URL", "DEBUG"}}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "expertloop.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--worker-class", "gthread", "--threads", str(threads), "--timeout", "120",
         "--no-control-socket"],  # gunicorn ≥ 25 shares ~/.gunicorn/gunicorn.ctl between servers otherwise
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**clean, "DJANGO_SETTINGS_MODULE": "expertloop.settings", "DATABASE_URL": database_url,
             "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1", "SECURE_COOKIES": "true", **env},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        server = Server(port)
        yield server
    finally:
        stop(process)
        log = process.stdout.read()
        print(log[-3000:])
        if "server" in locals():
            server.log = log
