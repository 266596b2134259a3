"""Redis killed by PID while a lead presses "Build now" and "Backfill": the pages answer and say the work is
queued; once Redis is back on the same port, a real worker (with beat's outbox sweep) does each piece of
work exactly once. Real processes throughout: a redis-server of the test's own, a Celery worker with
embedded beat, PostgreSQL; the web app is the Django test client in this process."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings
from django.urls import reverse

from labeling.models import DatasetVersion, Item, Label, OutboxMessage, VersionStatus
from labeling.resilience import broker_breaker as breaker
from labeling.services.datasets import create_dataset
from labeling.services.queues import QueueValues, create_queue
from tests.conftest import point_celery_at
from tests.factories import OutputFactory
from tests.helpers.labeling import label_outputs
from tests.helpers.processes import start_worker, stop_worker, wait_for, worker_log, worker_ready
from tests.helpers.servers import database_url, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True), pytest.mark.outage]


class OwnRedis:
    """A redis-server of this test's own on a free port, started and killed by PID (never the shared one)."""

    def __init__(self, port: int):
        self.port, self.url, self.process = port, f"redis://127.0.0.1:{port}/0", None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        assert wait_for(lambda: _answers(client), 10), "redis-server did not start"

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def _answers(client) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False


@pytest.fixture
def own_redis():
    server = OwnRedis(free_port())
    server.start()
    point_celery_at(server.url)  # the web app (this process) publishes there
    breaker.close()
    yield server
    point_celery_at(settings.CELERY_BROKER_URL)
    breaker.close()
    if server.process.poll() is None:
        server.kill()


def _start_worker(redis_url: str, tmp_path: Path, *, beat: bool, **env: str) -> subprocess.Popen:
    """A Celery worker (with embedded beat, its outbox sweep every second, if `beat`), logging to a file."""
    # Beat's schedule in memory: the default shelve file (dbm.sqlite3 on Python 3.13) sometimes fails to
    # open under load ("locking protocol"), and a test of the outbox must not hang on that.
    beat_args = ["-B", "--scheduler", "celery.beat:Scheduler"] if beat else []
    process = start_worker(
        *beat_args, log=tmp_path / "worker.log", empty_queue=False, REDIS_URL=redis_url, OUTBOX_SWEEP_SECONDS="1", **env
    )
    assert wait_for(lambda: worker_ready(process), 30), worker_log(process)
    return process


@pytest.fixture
def worker_with_beat(own_redis, tmp_path):
    process = _start_worker(own_redis.url, tmp_path, beat=True)
    yield process
    stop_worker(process)


def _succeeded(log: Path, task: str) -> int:
    return len(re.findall(rf"Task {re.escape(task)}\[[^\]]+\] succeeded", log.read_text()))


def test_build_and_backfill_pressed_while_redis_is_down_run_once_it_is_back(
    client, project, lead, own_redis, worker_with_beat
):
    label_outputs(project, 6)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    queue = create_queue(
        project=project, values=QueueValues(slug="billing", name="Billing", rule={"tags_any": ["billing"]})
    )
    OutputFactory.create_batch(4, project=project, tags=["billing"])
    pages = {
        "dataset": reverse("labeling:dataset", args=[project.slug, dataset.slug]),
        "build": reverse("labeling:dataset-build", args=[project.slug, dataset.slug]),
        "queues": reverse("labeling:queues", args=[project.slug]),
        "backfill": reverse("labeling:queue-backfill", args=[project.slug, queue.pk]),
    }
    client.force_login(lead)

    own_redis.kill()
    started = time.monotonic()
    build = client.post(pages["build"])
    build_took = time.monotonic() - started
    started = time.monotonic()
    backfill = client.post(pages["backfill"])
    backfill_took = time.monotonic() - started

    assert (build.status_code, backfill.status_code) == (302, 302)
    # The first request paid one failed publish (~0.7 s); the breaker spared the second.
    assert build_took < 3 and backfill_took < 0.5, (build_took, backfill_took)
    detail = client.get(pages["dataset"])
    assert detail.status_code == 200
    html = detail.content.decode()
    assert "Queued, waiting for the worker" in html and "cannot be reached just now" in html
    assert "Building…" not in html
    listing = client.get(pages["queues"])
    assert listing.status_code == 200 and "backfill queued, waiting for the worker" in listing.content.decode()
    waiting = {m.task: m for m in OutboxMessage.objects.pending()}
    assert set(waiting) == {"labeling.build_dataset", "labeling.backfill_queue"}

    time.sleep(3)  # the outage goes on for a while: nothing runs, nothing is lost
    assert not DatasetVersion.objects.filter(dataset=dataset).exists()
    assert not Item.objects.filter(queue=queue).exists()

    own_redis.start()  # back, on the same port, empty
    back = time.monotonic()
    done = wait_for(
        lambda: (
            DatasetVersion.objects.filter(dataset=dataset, status=VersionStatus.READY).exists()
            and Item.objects.filter(queue=queue).count() == 4
        ),
        30,
    )
    recovered_in = time.monotonic() - back
    log = worker_with_beat.log
    assert done, f"worker exit code {worker_with_beat.poll()}:\n" + log.read_text()[-4000:]
    time.sleep(4)  # a few more sweeps: nothing is sent or run twice

    assert worker_with_beat.poll() is None, "the worker exited"
    assert [(v.number, v.status) for v in DatasetVersion.objects.filter(dataset=dataset)] == [(1, VersionStatus.READY)]
    assert Item.objects.filter(queue=queue).count() == 4
    assert _succeeded(log, "labeling.build_dataset") == 1 and _succeeded(log, "labeling.backfill_queue") == 1
    assert "Sending due task publish-outbox (labeling.publish_outbox)" in log.read_text()  # beat's sweep sent them
    for message in waiting.values():
        message.refresh_from_db()
        assert message.published_at and message.started_at and message.finished_at
    # Build: one failed try after commit, one by the sweep. Backfill: the breaker skipped the doomed try.
    assert (waiting["labeling.build_dataset"].attempts, waiting["labeling.backfill_queue"].attempts) == (2, 1)
    html = client.get(pages["dataset"]).content.decode()
    assert "building-note" not in html and 'data-version="1"' in html
    assert "data-backfill" not in client.get(pages["queues"]).content.decode()
    print(f"build request {build_took:.2f} s, backfill request {backfill_took:.2f} s, done {recovered_in:.1f} s after")


def test_a_worker_that_starts_after_the_outage_sends_what_waited(client, project, lead, own_redis, tmp_path):
    """No beat at all: the worker's start (worker_ready) runs the outbox sweep."""
    label_outputs(project, 3)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    client.force_login(lead)
    own_redis.kill()

    assert client.post(reverse("labeling:dataset-build", args=[project.slug, dataset.slug])).status_code == 302
    assert [m.task for m in OutboxMessage.objects.pending()] == ["labeling.build_dataset"]

    own_redis.start()
    worker = _start_worker(own_redis.url, tmp_path, beat=False)
    try:
        built = wait_for(lambda: DatasetVersion.objects.filter(dataset=dataset, status=VersionStatus.READY).exists())
    finally:
        stop_worker(worker)
    assert built, worker.log.read_text()[-4000:]
    assert "Task labeling.publish_outbox" in worker.log.read_text()
    assert not OutboxMessage.objects.pending().exists()


def test_a_build_redis_lost_after_it_was_sent_is_sent_again_and_runs(client, project, lead, own_redis, tmp_path):
    """Redis restarted without its data (no persistence, a failover to an empty replica) after "Build now" was
    sent and before any worker took it: the sweep of a worker that starts afterwards sends it again."""
    label_outputs(project, 3)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    client.force_login(lead)
    assert client.post(reverse("labeling:dataset-build", args=[project.slug, dataset.slug])).status_code == 302
    [build] = OutboxMessage.objects.filter(task="labeling.build_dataset")
    assert build.published_at is not None  # in Redis, waiting for a worker

    own_redis.kill()  # with it, every message it held
    own_redis.start()
    time.sleep(1.5)  # older than OUTBOX_RESEND_AFTER_SECONDS below
    worker = _start_worker(own_redis.url, tmp_path, beat=True, OUTBOX_RESEND_AFTER_SECONDS="1")
    try:
        built = wait_for(lambda: DatasetVersion.objects.filter(dataset=dataset, status=VersionStatus.READY).exists())
        time.sleep(3)  # more sweeps: a message the worker took is not sent again
    finally:
        stop_worker(worker)
    assert built, worker.log.read_text()[-4000:]
    assert _succeeded(worker.log, "labeling.build_dataset") == 1
    build.refresh_from_db()
    assert build.started_at and build.finished_at
    html = client.get(reverse("labeling:dataset", args=[project.slug, dataset.slug])).content.decode()
    assert "building-note" not in html and 'data-version="1"' in html


def test_a_build_whose_worker_and_redis_were_both_lost_is_sent_again_and_runs(
    client, project, lead, own_redis, tmp_path
):
    """The worker building is SIGKILLed, and Redis restarts without its data (so the build's message is not
    handed to another worker after the visibility timeout): a worker that starts afterwards builds it."""
    label_outputs(project, 3)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    first = _start_worker(own_redis.url, tmp_path, beat=False)
    assert wait_for(lambda: not OutboxMessage.objects.outstanding().exists())  # the items' resolutions ran
    client.force_login(lead)
    # The labels held: the build stops inside its transaction, its version claimed.
    blocker = psycopg.connect(database_url())
    try:
        blocker.execute(f"LOCK TABLE {Label._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        assert client.post(reverse("labeling:dataset-build", args=[project.slug, dataset.slug])).status_code == 302
        assert wait_for(lambda: DatasetVersion.objects.filter(dataset=dataset, status="building").exists())
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=15)
    finally:
        blocker.rollback()
        blocker.close()
    own_redis.kill()
    own_redis.start()
    detail = reverse("labeling:dataset", args=[project.slug, dataset.slug])
    assert "Building…" in client.get(detail).content.decode()

    time.sleep(1.5)  # older than OUTBOX_RESEND_AFTER_SECONDS below
    worker = _start_worker(own_redis.url, tmp_path, beat=True, OUTBOX_RESEND_AFTER_SECONDS="1")
    try:
        built = wait_for(lambda: DatasetVersion.objects.filter(dataset=dataset, status=VersionStatus.READY).exists())
        time.sleep(3)  # more sweeps: nothing is sent again while it runs or once it is done
    finally:
        stop_worker(worker)
    assert built, worker.log.read_text()[-4000:]
    assert _succeeded(worker.log, "labeling.build_dataset") == 1
    assert [(v.number, v.status) for v in DatasetVersion.objects.filter(dataset=dataset)] == [(1, VersionStatus.READY)]
    assert "building-note" not in client.get(detail).content.decode()
