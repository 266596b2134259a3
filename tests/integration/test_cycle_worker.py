"""The weekly close through Celery beat and a real worker on Redis; a second close changes nothing."""

import json
import signal
import subprocess
import sys
import time
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from labeling.models import (
    CycleStatus,
    Membership,
    Output,
    QualityMetric,
    Queue,
    ReviewCycle,
)
from labeling.rules import calendar
from labeling.services.assignment import next_item
from labeling.services.labels import submit_label
from labeling.services.routing import route_outputs
from labeling.services.rubrics import publish_rubric
from labeling.tasks import close_week
from labeling.tasks import route_outputs as route_outputs_task
from tests.factories import OutputFactory, UserFactory
from tests.helpers.processes import ROOT, env_for_test_database, start_worker, stop, stop_worker, wait_for, worker_log
from tests.helpers.rubrics import QUESTIONS
from tests.helpers.servers import database_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _start_beat(tmp_path) -> subprocess.Popen:
    """Celery beat, sweeping every second here (every ten minutes by default), the routing sweep kept out of the
    way; it logs to a file (`process.log`)."""
    log = tmp_path / "beat.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "expertloop", "beat", "--loglevel=INFO",
             f"--schedule={tmp_path / 'beat-schedule'}"],
            cwd=ROOT, env=env_for_test_database(CYCLE_SWEEP_SECONDS="1", ROUTE_SWEEP_SECONDS="3600"), stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    process.log = log
    return process


@pytest.fixture
def worker_and_beat(tmp_path):
    processes = {"worker": start_worker(log=tmp_path / "worker.log"), "beat": _start_beat(tmp_path)}
    yield processes
    stop_worker(processes["worker"])
    stop(processes["beat"])


def _last_week_of_labels(project) -> tuple:
    """A project a month old with twelve outputs of last week, labeled by two experts with some disagreement."""
    type(project).objects.filter(pk=project.pk).update(created_at=timezone.now() - timedelta(days=30))
    last_week = calendar.current_week(project) - timedelta(days=7)
    rubric = publish_rubric(project=project, questions=QUESTIONS)
    queue = Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2)
    experts = [UserFactory(username=name) for name in ("erin", "ezra")]
    for user in experts:
        Membership.objects.create(project=project, user=user, role="expert")
    moment = calendar.week_end(project, last_week) - timedelta(days=3)
    outputs = [OutputFactory(project=project, external_id=f"o-{i}", occurred_at=moment) for i in range(12)]
    route_outputs(project_id=project.pk, output_ids=[output.pk for output in outputs])
    for index in range(12):
        for expert in experts:
            item = next_item(expert=expert, queue=queue)
            verdict = index % 4 != 0 or expert.username == "erin"  # Ezra fails every fourth
            submit_label(expert=expert, item=item, rubric=rubric, answers={"correct": verdict})
    return last_week, queue


def test_beat_and_a_worker_close_the_week_once_and_a_second_close_changes_nothing(worker_and_beat, project):
    last_week, queue = _last_week_of_labels(project)

    closed = wait_for(
        lambda: ReviewCycle.objects.filter(project=project, week=last_week, status=CycleStatus.CLOSED).exists(),
        timeout=90,
    )
    assert closed, "beat and the worker did not close the week:\n" + worker_log(worker_and_beat["worker"])
    cycle = ReviewCycle.objects.get(project=project, week=last_week)
    figures = list(QualityMetric.objects.filter(project=project).values_list("question", "n", "passes", "value"))
    assert cycle.report["headline"]["pass_rate"]["n"] == 9  # the three disagreements are ties
    assert figures == [("correct", 9, 9, 1.0)]

    # Close it again through the broker, then a marker task: the solo worker runs them in order.
    close_week.delay(project.pk, last_week.isoformat())
    marker = OutputFactory(project=project, external_id="marker", occurred_at=timezone.now())
    route_outputs_task.delay(project.pk, [marker.pk])
    assert wait_for(lambda: Output.objects.filter(pk=marker.pk, routed_at__isnull=False).exists(), timeout=60)

    assert ReviewCycle.objects.filter(project=project, week=last_week).count() == 1
    again = ReviewCycle.objects.get(project=project, week=last_week)
    assert (again.report, again.closed_at) == (cycle.report, cycle.closed_at)
    assert (
        list(QualityMetric.objects.filter(project=project).values_list("question", "n", "passes", "value")) == figures
    )
    stop_worker(worker_and_beat["worker"])
    stop(worker_and_beat["beat"])
    worker_said, beat_said = (worker_and_beat[name].log.read_text() for name in ("worker", "beat"))
    assert "Sending due task close-due-weeks (labeling.close_due_weeks)" in beat_said
    assert "Task labeling.close_week" in worker_said and "succeeded" in worker_said


def test_back_after_three_weeks_down_beat_and_a_worker_close_each_missed_week_in_order(worker_and_beat, project):
    """The last close before the outage was four weeks ago: the three weeks since close, oldest first."""
    type(project).objects.filter(pk=project.pk).update(created_at=timezone.now() - timedelta(days=60))
    running = calendar.current_week(project)
    ReviewCycle.objects.create(project=project, week=running - timedelta(weeks=4), status=CycleStatus.CLOSED)
    missed = [running - timedelta(weeks=n) for n in (3, 2, 1)]

    closed = wait_for(
        lambda: ReviewCycle.objects.filter(project=project, week__in=missed, status=CycleStatus.CLOSED).count() == 3,
        timeout=120,
    )
    assert closed, "beat and the worker did not close the missed weeks:\n" + worker_log(worker_and_beat["worker"])
    order = list(
        ReviewCycle.objects.filter(project=project, week__in=missed)
        .order_by("closed_at")
        .values_list("week", flat=True)
    )
    assert order == missed


# Where the test stops the worker: the claim of the digests (digests_sent_at set from null) waits on an advisory lock
# the test holds, so the worker is killed after the close committed and before the claim did, whatever its speed.
_STOP_AT_THE_DIGEST_CLAIM = """
CREATE FUNCTION el_test_wait_before_digest_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(4242, 1);
    RETURN NEW;
END $$;
CREATE TRIGGER el_test_wait_before_digest_claim BEFORE UPDATE ON labeling_reviewcycle FOR EACH ROW
    WHEN (OLD.digests_sent_at IS NULL AND NEW.digests_sent_at IS NOT NULL)
    EXECUTE FUNCTION el_test_wait_before_digest_claim();
"""


def _digest_claim_waiting() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = 4242 AND objid = 1"
        )
        return cursor.fetchone()[0] > 0


def _queue_drained() -> bool:
    """No message of this run's queue waits in Redis or is held unacked by a worker (kombu keeps the held ones in
    the `unacked` hash as [message, exchange, routing key] until they are acked, or restored once a dead worker's
    visibility timeout passes)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    held = [json.loads(value)[2] for value in client.hvals("unacked")]
    return client.llen(queue) == 0 and queue not in held


def _mailed_to(mail_dir) -> list[str]:
    return sorted(
        line.removeprefix("To: ")
        for path in mail_dir.glob("*")
        for line in path.read_text().splitlines()
        if line.startswith("To: ")
    )


def test_a_worker_killed_after_the_close_commits_and_before_the_digests_are_claimed_loses_no_digest(project, tmp_path):
    last_week, _ = _last_week_of_labels(project)
    mail_dir = tmp_path / "mail"
    env = {
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_UNACKED_RESTORE_SECONDS": "1",
        "DB_CLIENT_CHECK_INTERVAL": "1",  # 5 s by default (pinned in test_settings); the same check, sooner
        "EMAIL_URL": f"filemail:///{mail_dir}",
    }

    blocker = psycopg.connect(database_url(), autocommit=True)
    blocker.execute("SELECT pg_advisory_lock(4242, 1)")
    with connection.cursor() as cursor:
        cursor.execute(_STOP_AT_THE_DIGEST_CLAIM)
    first = second = None
    try:
        first = start_worker(log=tmp_path / "first.log", **env)
        close_week.delay(project.pk, last_week.isoformat())
        assert wait_for(_digest_claim_waiting, timeout=120), worker_log(first)
        assert ReviewCycle.objects.get(project=project, week=last_week).status == CycleStatus.CLOSED

        stop_worker(first, signal.SIGKILL)
        # Its backend goes (client_connection_check_interval) with the claim undone, before the lock is let go.
        assert wait_for(lambda: not _digest_claim_waiting(), timeout=30)
        assert ReviewCycle.objects.get(project=project, week=last_week).digests_sent_at is None
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS el_test_wait_before_digest_claim ON labeling_reviewcycle")
            cursor.execute("DROP FUNCTION IF EXISTS el_test_wait_before_digest_claim()")
        blocker.close()
        if first is not None:
            stop_worker(first, signal.SIGKILL)

    try:
        # It takes what the killed worker held, once Redis gives it back.
        second = start_worker(log=tmp_path / "second.log", empty_queue=False, **env)
        sent = wait_for(lambda: len(_mailed_to(mail_dir)) >= 2, timeout=60)
        assert sent, "the digests were never sent:\n" + worker_log(second)
        # A redelivered twin, if any, has had its chance to send them again: nothing of this run's queue is left
        # waiting or held (acks_late: a task is held until it has finished), twice in a row.
        assert wait_for(lambda: _queue_drained() and (time.sleep(0.5) or _queue_drained()), timeout=30)
    finally:
        if second is not None:
            stop_worker(second)
    assert _mailed_to(mail_dir) == ["erin@example.com", "ezra@example.com"]
    assert ReviewCycle.objects.get(project=project, week=last_week).digests_sent_at is not None
