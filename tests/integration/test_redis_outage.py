"""Redis dies and comes back: real redis-server, gunicorn and Celery worker processes, killed by PID.

Each test starts its own redis-server on a free port (never the shared one) and points a real web server
and worker at it; the database is the test database. Figures are printed (run with `-s` to see them).
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kombu import Connection

from labeling.models import Output, Queue
from tests.conftest import output_record
from tests.helpers.servers import Gunicorn, database_url, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True), pytest.mark.outage]
ROOT = Path(__file__).resolve().parents[2]


def _wait_for(predicate, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


class RedisServer:
    """A redis-server of the test's own, without persistence: killing it loses every key, as a crash may."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)

        def answers():
            try:
                return client.ping()
            except redis.RedisError:
                return False

        assert _wait_for(answers, 10), "redis-server did not start"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def send_task(self, name: str, *args, **kwargs) -> None:
        """Publish a task to this Redis, to the queue the test run's workers consume."""
        from expertloop.celery import app

        with Connection(self.url) as conn:
            app.send_task(name, args=args, kwargs=kwargs, connection=conn)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.kill()


class Service:
    """A child process in its own process group (so SIGKILL reaches a prefork worker's children too)."""

    def __init__(self, args: list[str], env: dict, log: Path):
        self.log = log
        self.handle = log.open("w")
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.handle, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        assert _wait_for(lambda: text in self.output() or not self.alive, timeout) and self.alive, (
            f"{self.log.name} did not log {text!r}:\n" + self.output()[-4000:]
        )

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.alive:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        # The whole group, always: a crashed worker's pool children would keep their database connections.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=15)
        self.handle.close()


@pytest.fixture
def services():
    started = []

    def start(args, env, log):
        service = Service(args, env, log)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


def _env(redis_url: str, **extra) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        **extra,
    }


def _worker(services, redis, log: Path, *, concurrency: int = 1, **env):
    """A worker as docker-compose runs it (prefork pool, gossip, mingle and heartbeat on)."""
    worker = services(
        [sys.executable, "-m", "celery", "-A", "tests.integration.slow_task_app", "worker", "--loglevel=INFO",
         f"--concurrency={concurrency}", "--hostname", f"{log.stem}@%h"],
        _env(redis.url, **env), log,
    )  # fmt: skip
    worker.wait_for_log("ready.", timeout=40)
    return worker


def _markers(marker: Path, kind: str) -> list[tuple[int, float]]:
    path = Path(f"{marker}.{kind}")
    if not path.exists():
        return []
    return [(int(pid), float(at)) for pid, at in (line.split() for line in path.read_text().splitlines())]


BATCH_INTERVAL = 0.05  # seconds between a client's batches


class IngestClient(threading.Thread):
    """A product app sending a batch of 10 outputs every BATCH_INTERVAL; a refused batch is sent again, unchanged."""

    def __init__(self, url: str, secret: str):
        super().__init__(daemon=True)
        self.url, self.secret = url, secret
        self.stop = threading.Event()
        self.calls: list[tuple[float, int, float]] = []  # (sent at, status or 0 for no answer, seconds)
        self.accepted_ids: list[str] = []
        self.next_id = 0
        self.refused_badly = False

    def _post(self, records) -> tuple[int, dict, float | None]:
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"outputs": records}).encode(),
            headers={"Authorization": f"Bearer {self.secret}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read()), None
        except urllib.error.HTTPError as error:
            retry_after = error.headers.get("Retry-After")
            return error.code, {"body": error.read().decode(errors="replace")}, float(retry_after or 0) or None
        except OSError:
            return 0, {}, None

    def run(self) -> None:
        while not self.stop.is_set():
            ids = [f"outage-{n}" for n in range(self.next_id, self.next_id + 10)]
            records = [{**output_record(n), "external_id": external_id} for n, external_id in enumerate(ids)]
            while True:
                started = time.monotonic()
                status, body, retry_after = self._post(records)
                self.calls.append((started, status, time.monotonic() - started))
                if 200 <= status < 300:
                    self.accepted_ids += ids
                    break
                if status == 500 or (status == 503 and retry_after is None):
                    self.refused_badly = True  # the test fails on it
                    self.stop.set()
                    return
                time.sleep(min(retry_after or 0.2, 1.0))  # 503 (honouring Retry-After) or no answer: again
            self.next_id += 10
            # A steady stream, not a flood: every batch becomes a routing task, and the worker's catch-up after
            # the outage (what this test waits for) grows with their number, not with what the test proves.
            self.stop.wait(BATCH_INTERVAL)


@pytest.fixture
def web(redis_server, tmp_path):
    """gunicorn as docker-compose runs it (2 gthread workers × 4 threads), on this test's Redis."""
    with Gunicorn(
        env=_env(redis_server.url), workers=2, threads=4, timeout=60, log_path=tmp_path / "gunicorn.log"
    ) as server:
        yield server


def test_ingest_through_a_20_s_redis_outage_loses_nothing_and_answers_no_500(
    redis_server, services, web, tmp_path, project, full_key
):
    """Sustained ingest while Redis is killed for 20 s: every record stored once, no 500, routed afterwards."""
    Queue.objects.create(project=project, slug="all", name="All")
    worker = _worker(services, redis_server, tmp_path / "worker.log", concurrency=2)
    # A task is running in the worker when Redis dies.
    marker = tmp_path / "running"
    redis_server.send_task("tests.slow", 8, str(marker))
    client = IngestClient(f"{web.url}/api/v1/outputs", full_key.secret)
    client.start()
    assert _wait_for(lambda: _markers(marker, "start"), 20), worker.output()[-3000:]
    time.sleep(4)

    killed_at = time.monotonic()
    redis_server.kill()
    time.sleep(20)
    redis_server.start()
    restarted_at = time.monotonic()
    time.sleep(4)
    client.stop.set()
    client.join(timeout=35)

    # What waited is sent by beat's sweeps, run by the same worker process: the outbox's (each batch's
    # routing task) and the routing sweep (anything else left unrouted).
    redis_server.send_task("labeling.publish_outbox")
    redis_server.send_task("labeling.route_pending_outputs", older_than_seconds=0)
    # Some 500 batches of 10 waited in the outbox: two worker processes route them in well under 90 s.
    catch_up_started = time.monotonic()
    routed = _wait_for(lambda: not Output.objects.filter(project=project, routed_at__isnull=True).exists(), 90)
    catch_up = time.monotonic() - catch_up_started

    statuses = [status for _, status, _ in client.calls]
    other = sum(status >= 300 and status != 503 for status in statuses)
    during = sorted(seconds for at, _, seconds in client.calls if killed_at <= at < restarted_at)
    stored = list(Output.objects.filter(project=project).values_list("external_id", flat=True))
    print(
        f"\nrequests {len(statuses)}: 2xx {sum(200 <= s < 300 for s in statuses)}, "
        f"503 {statuses.count(503)}, no answer {statuses.count(0)}, other {other}"
        f"; during the outage {len(during)} requests, p50 {statistics.median(during) * 1000:.0f} ms, "
        f"p99 {during[min(len(during) - 1, int(len(during) * 0.99))] * 1000:.0f} ms; "
        f"records accepted {len(client.accepted_ids)}, stored {len(stored)}; all routed {catch_up:.0f} s later"
    )
    assert 500 not in statuses and set(statuses) <= {200, 201, 503}, (statuses, web.output()[-3000:])
    assert len(during) > 20, "the client did not keep sending during the outage"
    assert not client.refused_badly, "a 500, or a 503 without Retry-After"
    assert sorted(stored) == sorted(client.accepted_ids)  # nothing lost (the unique external_id keeps it once)
    assert routed, worker.output()[-3000:]
    assert worker.alive, worker.output()[-4000:]
    assert "Unrecoverable error" not in worker.output()
    assert "Internal Server Error" not in web.output(), web.output()[-4000:]


def test_the_worker_survives_losing_redis_under_a_running_task(redis_server, services, tmp_path):
    """Redis killed while a task runs: the worker process stays up and consumes again once Redis is back.

    Two pool processes, one busy: the worker is waiting on Redis for more work when Redis dies, the case in
    which stock kombu 5.7 exits the worker (AttributeError: 'NoneType' object has no attribute 'hostname').
    """
    worker = _worker(services, redis_server, tmp_path / "worker.log", concurrency=2)
    running, later = tmp_path / "running", tmp_path / "later"
    redis_server.send_task("tests.slow", 10, str(running))
    assert _wait_for(lambda: _markers(running, "start"), 20), worker.output()[-3000:]
    time.sleep(1)

    redis_server.kill()
    worker.wait_for_log("Connection to broker lost", timeout=15)
    time.sleep(6)
    assert worker.alive, worker.output()[-4000:]
    redis_server.start()
    redis_server.send_task("tests.slow", 0, str(later))

    assert _wait_for(lambda: _markers(later, "done"), 30), worker.output()[-4000:]
    assert _wait_for(lambda: _markers(running, "done"), 15)  # the task that ran through the outage finished
    assert worker.alive and "Unrecoverable error" not in worker.output(), worker.output()[-4000:]


def test_a_sigkilled_workers_task_is_run_by_another_worker(redis_server, services, tmp_path):
    """A worker SIGKILLed mid-task: its task comes back after the visibility timeout and another worker runs it."""
    marker = tmp_path / "task"
    first = _worker(services, redis_server, tmp_path / "first.log", CELERY_VISIBILITY_TIMEOUT="5")
    redis_server.send_task("tests.slow", 4, str(marker))
    assert _wait_for(lambda: _markers(marker, "start"), 20), first.output()[-3000:]

    first.stop(signal.SIGKILL)
    killed = time.time()
    second = _worker(services, redis_server, tmp_path / "second.log", CELERY_VISIBILITY_TIMEOUT="5")

    assert _wait_for(lambda: _markers(marker, "done"), 45), second.output()[-3000:]
    starts = _markers(marker, "start")
    print(f"\nthe killed worker's task started again {starts[-1][1] - killed:.1f} s after the kill")
    assert len(starts) == 2 and not _markers(marker, "done")[1:]


def test_a_long_task_is_not_handed_to_a_second_worker_while_it_runs(redis_server, services, tmp_path):
    """A task running past the visibility timeout on a live worker runs once: the worker's heartbeat keeps it."""
    marker = tmp_path / "long"
    worker = _worker(services, redis_server, tmp_path / "worker.log", concurrency=2, CELERY_VISIBILITY_TIMEOUT="3")
    redis_server.send_task("tests.slow", 24, str(marker))

    assert _wait_for(lambda: _markers(marker, "done"), 45), worker.output()[-3000:]
    time.sleep(2)
    assert len(_markers(marker, "start")) == 1, worker.output()[-3000:]
