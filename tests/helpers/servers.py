"""Real servers for the integration tests, on the test database.

gunicorn is started by bench's harness (bench/harness/server.py), the one place that runs it for benchmarks and
tests alike (the test run has bench/ on sys.path: `pythonpath` in pyproject.toml).
"""

import http.client
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection
from harness.server import Gunicorn, free_port

__all__ = [
    "Answer", "Gunicorn", "Server", "database_url", "free_port", "gunicorn", "post_cut_short", "session_cookie",
]  # fmt: skip


def session_cookie(user) -> str:
    """A `Cookie` header value signing `user` in, for a request to a server process on the test database."""
    from django.conf import settings
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"


def database_url(*, host: str | None = None, port: int | None = None) -> str:
    """The test database's URL for another process (through host:port instead, e.g. a proxy, when given)."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{host or db['HOST']}:{port or db['PORT']}/{db['NAME']}"


@dataclass
class Answer:
    status: int
    headers: dict
    body: str
    seconds: float
    cookies: list  # every Set-Cookie header


class Server:
    """A client of the server on `port`: one connection per request, each timed."""

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
def gunicorn(database_url: str, *, threads: int = 2, options: tuple[str, ...] = (), **env: str) -> Iterator[Server]:
    """A gunicorn like the Dockerfile's (gthread), one worker process, production settings, with gunicorn's own
    `options` added; once it has stopped, what it logged is printed and kept in `server.log`."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "REDIS_URL", "DEBUG"}}
    production = {
        "DJANGO_SETTINGS_MODULE": "expertloop.settings", "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1", "SECURE_COOKIES": "true",
    }  # fmt: skip
    with Gunicorn(env={**clean, **production, **env}, threads=threads, options=options) as process:
        server = Server(process.port)
        try:
            yield server
        finally:
            process.stop()
            print(process.log[-3000:])
            server.log = process.log


def post_cut_short(address: tuple[str, int], path: str, body: bytes, *, declared: int, **headers: str) -> bytes:
    """POST `body` with a Content-Length of `declared` bytes, then stop sending (as a connection cut mid-upload
    does, the reply still readable): the server's raw answer."""
    lines = [f"POST {path} HTTP/1.1", "Host: localhost", f"Content-Length: {declared}", "Connection: close"]
    head = "\r\n".join(lines + [f"{name}: {value}" for name, value in headers.items()]) + "\r\n\r\n"
    with socket.create_connection(address, timeout=20) as sock:
        sock.sendall(head.encode() + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer
