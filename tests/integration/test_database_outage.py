"""A database that is down, a black hole or too slow: a real gunicorn answers 503 with Retry-After, fast.

Each test starts its own gunicorn process (production settings) and stops it by PID. The dead databases
are a closed port, a socket of the test's own that accepts and never answers, and a non-routable
address; the slow one is the test PostgreSQL with a table locked past the web statement_timeout.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import psycopg
import pytest
from django.db import connection

from labeling.services.api_keys import create_api_key
from tests.helpers.processes import ROOT
from tests.helpers.servers import Answer, database_url, free_port, gunicorn

UNKNOWN_KEY = "el_0123456789ab_" + "x" * 43
SESSION = "__Host-sessionid=" + "a" * 32  # a well-formed session key: reading it needs the database
MESSAGE = "The database is not answering right now. Try again in 30 seconds."
pytestmark = pytest.mark.alone  # each test times how fast a 503 comes


class FreezableProxy:
    """A TCP proxy to PostgreSQL that can stop passing bytes, as a frozen server or a partitioned network do."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.frozen, self.stopped = threading.Event(), threading.Event()
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        try:
            while not self.stopped.is_set():
                try:
                    client = self.server.accept()[0]
                except TimeoutError:
                    continue
                self.sockets.append(client)
                if self.frozen.is_set():
                    continue  # a new connection to a hung server: accepted, never answered
                upstream = socket.create_connection(self.target)
                self.sockets.append(upstream)
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()
        except OSError:
            return  # closed by close()

    def _pump(self, source, sink):
        try:
            source.settimeout(0.2)
            while not self.stopped.is_set():
                try:
                    data = source.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    return
                while self.frozen.is_set() and not self.stopped.is_set():
                    time.sleep(0.05)
                sink.sendall(data)
        except OSError:
            return  # closed by close()

    def close(self):
        self.stopped.set()
        for sock in [*self.sockets, self.server]:
            sock.close()


def assert_unavailable(answer: Answer, *, api: bool):
    assert answer.status == 503, answer
    assert answer.headers["Retry-After"] == "30"
    assert answer.headers["Cache-Control"] == "no-store"
    if api:
        assert answer.headers["Content-Type"] == "application/json"
        assert json.loads(answer.body) == {"errors": [{"index": None, "field": None, "message": MESSAGE}]}
    else:
        assert answer.headers["Content-Type"].startswith("text/html")
        assert "Temporarily unavailable" in answer.body and MESSAGE in answer.body


@pytest.mark.parametrize("dead", ["refused port", "black hole", "non-routable address"])
def test_a_dead_database_is_a_503_within_5_seconds_and_the_login_page_still_answers(dead, request):
    address = {
        "refused port": lambda: f"127.0.0.1:{free_port()}",
        "black hole": lambda: f"127.0.0.1:{request.getfixturevalue('black_hole')}",
        "non-routable address": lambda: "10.255.255.1:5432",
    }[dead]()

    with gunicorn(f"postgres://postgres@{address}/expertloop") as server:
        login = server.get("/login/")  # also loads the URLconf and views, as any first request does
        timings = []
        for _ in range(2):  # the second round shows the worker is not stuck on the first
            api = server.get("/api/v1/outputs/conv-1", Authorization=f"Bearer {UNKNOWN_KEY}")
            page = server.get("/p/support-bot/meeting/", Cookie=SESSION)
            assert_unavailable(api, api=True)
            assert_unavailable(page, api=False)
            timings += [api.seconds, page.seconds]

    print(f"{dead}: 503 in {', '.join(f'{s:.2f}' for s in timings)} s")
    assert max(timings) < 5
    assert login.status == 200 and "Sign in" in login.body
    assert login.seconds < 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_statement_past_the_web_statement_timeout_is_a_503_and_the_next_request_is_served(project):
    key = create_api_key(project=project, name="app", scopes=["read"])
    db = connection.settings_dict
    auth = {"Authorization": f"Bearer {key.secret}"}

    with (
        gunicorn(database_url(), DB_STATEMENT_TIMEOUT="1") as server,
        psycopg.connect(
            host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"], dbname=db["NAME"]
        ) as locker,
    ):
        assert server.get("/api/v1/outputs/conv-1", **auth).status == 404  # the database answers
        # A transaction that keeps the tables locked: the server's reads wait, PostgreSQL cancels them.
        locker.execute("LOCK TABLE labeling_apikey, django_session IN ACCESS EXCLUSIVE MODE")
        api = server.get("/api/v1/outputs/conv-1", **auth)
        page = server.get("/p/support-bot/meeting/", Cookie=SESSION)
        locker.rollback()
        after = server.get("/api/v1/outputs/conv-1", **auth)

    print(f"statement timeout: 503 in {api.seconds:.2f} s (API), {page.seconds:.2f} s (page)")
    assert_unavailable(api, api=True)
    assert_unavailable(page, api=False)
    assert 1 <= api.seconds < 5 and 1 <= page.seconds < 5
    assert after.status == 404 and after.seconds < 1
    assert server.log.count("canceling statement due to statement timeout") == 2


SHOW_TIMEOUT = (
    "from django.db import connection\n"
    "with connection.cursor() as cursor:\n"
    "    cursor.execute('SHOW statement_timeout')\n"
    "    print('statement_timeout', cursor.fetchone()[0])\n"
)


@pytest.mark.postgres
@pytest.mark.django_db
def test_web_requests_get_the_short_statement_timeout_and_workers_and_commands_the_long_one():
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DATABASE_URL": database_url(),
        "DB_STATEMENT_TIMEOUT": "7",
        "DB_TASK_STATEMENT_TIMEOUT": "1200",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "REDIS_URL": "redis://127.0.0.1:1/0",  # a worker needs one configured; nothing is sent to it
    }
    web = "import django; django.setup()\n" + SHOW_TIMEOUT  # what gunicorn's workers load: the settings only
    worker = (  # what `celery -A expertloop worker` does before it takes a task
        "from celery.signals import celeryd_init\n"
        "from expertloop.celery import app\n"
        "celeryd_init.send(sender='test', instance=None, conf=app.conf, options={})\n"
        "import django; django.setup()\n" + SHOW_TIMEOUT
    )

    def run(*args):
        result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    assert run("-c", web) == "statement_timeout 7s"
    assert run("-c", worker) == "statement_timeout 20min"
    assert run("manage.py", "shell", "-c", SHOW_TIMEOUT) == "statement_timeout 20min"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_that_hangs_under_an_open_connection_is_a_503_and_frees_the_worker(project):
    key = create_api_key(project=project, name="app", scopes=["read"])
    db = connection.settings_dict
    proxy = FreezableProxy(db["HOST"], int(db["PORT"]))
    url = database_url(host="127.0.0.1", port=proxy.port)
    auth = {"Authorization": f"Bearer {key.secret}"}

    try:
        # One thread: the request after the freeze uses the connection the first one left open.
        with gunicorn(url, threads=1, DB_STATEMENT_TIMEOUT="1", DB_CONNECT_TIMEOUT="2") as server:
            assert server.get("/api/v1/outputs/conv-1", **auth).status == 404
            proxy.frozen.set()
            hung = [server.get("/api/v1/outputs/conv-1", **auth) for _ in range(2)]
    finally:
        proxy.close()

    print(f"hung database: 503 in {', '.join(f'{a.seconds:.2f}' for a in hung)} s")
    for answer in hung:
        assert_unavailable(answer, api=True)
    # The open connection's health check gives up after the 1 s statement timeout + 2 s margin (without
    # that bound it waits for ever), then a new connection after the 2 s connect timeout.
    assert hung[0].seconds < 7 and hung[1].seconds < 4
