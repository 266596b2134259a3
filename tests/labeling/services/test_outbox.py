"""The transactional outbox (labeling/services/outbox.py) on PostgreSQL, publishing to the real Redis broker.

A message is written in the caller's transaction (and rolled back with it), published once after commit,
deduplicated while pending, and kept for the sweep when the broker cannot be reached.
"""

import ast
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta

import pytest
from celery import current_app
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from kombu import Connection
from kombu.exceptions import OperationalError

from labeling.models import OutboxMessage, WorkerHeartbeat
from labeling.services import outbox
from labeling.tasks import publish_outbox
from tests.conftest import point_celery_at
from tests.helpers.processes import ROOT, env_for_test_database

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db]


def queued(broker_queue) -> list[dict]:
    """The headers of the messages waiting in the broker's list, first sent first (kombu pushes on the left)."""
    raw = broker_queue.lrange(settings.CELERY_TASK_DEFAULT_QUEUE, 0, -1)
    return [json.loads(message)["headers"] for message in reversed(raw)]


def test_the_message_is_written_in_the_callers_transaction_and_rolled_back_with_it(
    broker_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        with transaction.atomic():
            outbox.enqueue(task="labeling.build_dataset", args=[1], dedupe_key="build_dataset:1")
            assert OutboxMessage.objects.count() == 1  # visible inside the transaction
            raise RuntimeError("the change failed")

    assert not OutboxMessage.objects.exists()
    assert callbacks == [] and queued(broker_queue) == []  # nothing was sent for work that never happened


def test_a_committed_message_is_published_once(broker_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = outbox.enqueue(task="labeling.resolve_item", args=[42])

    message.refresh_from_db()
    assert message.published_at is not None and message.attempts == 1 and message.last_error == ""
    assert queued(broker_queue) == [
        {**queued(broker_queue)[0], "task": "labeling.resolve_item", "outbox_id": message.pk}
    ]

    assert outbox.publish_pending() == 0  # the sweep finds nothing left to send
    assert len(queued(broker_queue)) == 1


def test_the_same_pending_work_is_queued_once(broker_queue, django_capture_on_commit_callbacks):
    first = outbox.enqueue(task="labeling.build_dataset", args=[7], dedupe_key="build_dataset:7")
    second = outbox.enqueue(task="labeling.build_dataset", args=[7], dedupe_key="build_dataset:7")
    other = outbox.enqueue(task="labeling.build_dataset", args=[8], dedupe_key="build_dataset:8")
    plain = [outbox.enqueue(task="labeling.route_outputs", args=[1, [2], False]) for _ in range(2)]

    assert first is not None and second is None and other is not None and all(plain)
    assert OutboxMessage.objects.count() == 4

    assert outbox.publish_pending() == 4
    # Once sent, asking again is new work (e.g. "Build now" after the last build).
    with django_capture_on_commit_callbacks(execute=True):
        again = outbox.enqueue(task="labeling.build_dataset", args=[7], dedupe_key="build_dataset:7")
    assert again is not None and OutboxMessage.objects.filter(dedupe_key="build_dataset:7").count() == 2
    assert [headers["outbox_id"] for headers in queued(broker_queue)] == [
        first.pk, other.pk, plain[0].pk, plain[1].pk, again.pk
    ]  # fmt: skip


def test_a_failed_publish_leaves_the_message_for_the_sweep(
    broker_queue, broker_down, django_capture_on_commit_callbacks
):
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        first = outbox.enqueue(task="labeling.backfill_queue", args=[3, None])
    first_took = time.monotonic() - started
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        second = outbox.enqueue(task="labeling.resolve_item", args=[9])
    second_took = time.monotonic() - started

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.published_at is None and first.attempts == 1 and "Connection refused" in first.last_error
    # The breaker is open: the next request does not wait on the broker at all.
    assert second.published_at is None and second.attempts == 0
    assert first_took < 3 and second_took < 0.2, (first_took, second_took)
    assert outbox.publish_pending() == 0  # still down: the sweep stops at the first failure
    assert OutboxMessage.objects.get(pk=first.pk).attempts == 2

    point_celery_at(settings.CELERY_BROKER_URL)  # the broker is back
    assert publish_outbox.apply().get() == 2
    assert [headers["outbox_id"] for headers in queued(broker_queue)] == [first.pk, second.pk]
    assert not OutboxMessage.objects.pending().exists()


def test_published_messages_are_pruned_after_the_keep_period():
    old = outbox.enqueue(task="labeling.resolve_item", args=[1])
    recent = outbox.enqueue(task="labeling.resolve_item", args=[2])
    waiting = outbox.enqueue(task="labeling.resolve_item", args=[3])
    now = timezone.now()
    OutboxMessage.objects.filter(pk=old.pk).update(
        created_at=now - timedelta(days=9), published_at=now - timedelta(days=9)
    )
    OutboxMessage.objects.filter(pk=recent.pk).update(published_at=now - timedelta(hours=1))
    OutboxMessage.objects.filter(pk=waiting.pk).update(created_at=now - timedelta(days=9))  # never sent: kept

    assert outbox.prune() == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {recent.pk, waiting.pk}


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_send_each_message_once(broker_queue):
    # A backlog left by an outage (enqueue outside a transaction would publish at once).
    messages = OutboxMessage.objects.bulk_create(
        OutboxMessage(task="labeling.resolve_item", args=[n]) for n in range(40)
    )
    counts, errors = [], []

    def sweep():
        try:
            counts.append(outbox.publish_pending())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == [] and sum(counts) == 40
    assert sorted(headers["outbox_id"] for headers in queued(broker_queue)) == sorted(m.pk for m in messages)
    assert not OutboxMessage.objects.pending().exists()


def test_every_task_the_code_asks_for_is_registered_under_that_name():
    """Messages name their task as a string (services never import labeling.tasks): a misspelt name would
    be published, marked sent, and dropped by the worker, so every name asked for must be a registered task,
    written as a literal where it is asked for (a name built at run time would escape this check)."""
    asked, not_literal = set(), []
    for path in (ROOT / "labeling").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            called = getattr(node.func, "attr", getattr(node.func, "id", "")) if isinstance(node, ast.Call) else ""
            if called in ("enqueue", "send_task"):
                named = [kw.value for kw in node.keywords if kw.arg == "task"] + node.args[:1]
                asked.update(value.value for value in named if isinstance(value, ast.Constant))
            if called == "enqueue":  # the outbox's own send_task passes the stored message's name on
                not_literal += [f"{path.name}:{node.lineno}" for value in named if not isinstance(value, ast.Constant)]

    assert {"labeling.resolve_item", "labeling.close_week", "labeling.publish_outbox"} <= asked
    assert not_literal == []
    assert sorted(asked - set(current_app.tasks)) == []


def _run_fresh(code: str, *, broker: bool = True) -> str:
    """Run `code` in a new Django process on the test database, one that has imported no task module
    (without a broker: no REDIS_URL, the demo's eager Celery)."""
    env = env_for_test_database()
    if not broker:
        del env["REDIS_URL"]
    prelude = "import sys, django; django.setup(); assert 'labeling.tasks' not in sys.modules\n"
    result = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


PUBLISH_ONE = """
    from django.db import transaction
    from labeling.services import outbox

    with transaction.atomic():
        outbox.enqueue(task="labeling.worker_heartbeat")
    print("labeling.tasks" in sys.modules)
"""


@pytest.mark.django_db(transaction=True)
def test_a_web_process_publishes_by_name_without_importing_the_tasks(broker_queue):
    assert _run_fresh(PUBLISH_ONE).strip() == "False"

    message = OutboxMessage.objects.get()
    assert message.published_at is not None and message.started_at is None  # sent; no worker took it yet
    assert queued(broker_queue) == [
        {**queued(broker_queue)[0], "task": "labeling.worker_heartbeat", "outbox_id": message.pk}
    ]


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_demo_runs_the_work_in_the_process_that_asked_for_it():
    _run_fresh(PUBLISH_ONE, broker=False)

    message = OutboxMessage.objects.get()
    assert message.published_at and message.started_at and message.finished_at  # run, marked as a worker does
    assert WorkerHeartbeat.objects.exists()


def test_a_sent_message_redis_lost_is_sent_again_and_one_still_queued_is_not(
    broker_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lost = outbox.enqueue(task="labeling.build_dataset", args=[5], dedupe_key="build_dataset:5")
    later = timezone.now() + timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS + 1)

    assert outbox.resend_lost() == 0  # sent just now: not yet looked for
    assert outbox.resend_lost(now=later) == 0  # still in Redis, waiting for a worker
    broker_queue.delete(settings.CELERY_TASK_DEFAULT_QUEUE)  # Redis restarted without its data
    assert outbox.resend_lost(now=later) == 1
    assert [headers["outbox_id"] for headers in queued(broker_queue)] == [lost.pk]
    lost.refresh_from_db()
    assert lost.attempts == 2 and lost.published_at > timezone.now() - timedelta(seconds=60)

    # A worker takes it (and runs it: Redis keeps it, unacked, until the worker acks it): not sent again.
    with Connection(settings.CELERY_BROKER_URL) as conn:
        taken = conn.SimpleQueue(settings.CELERY_TASK_DEFAULT_QUEUE).get(timeout=5)
        outbox.mark_started(message_id=lost.pk)
        assert outbox.resend_lost(now=later + timedelta(hours=1)) == 0
        taken.ack()
    # Unfinished and no longer anywhere in Redis (its worker killed, Redis restarted empty): sent again, queued again.
    assert outbox.resend_lost(now=later + timedelta(hours=1)) == 1
    lost.refresh_from_db()
    assert lost.started_at is None and lost.attempts == 3


def test_a_message_killed_each_time_it_runs_is_given_up_after_outbox_max_resends(
    broker_queue, django_capture_on_commit_callbacks, settings, caplog
):
    """A render its worker kills at its hard time limit is acked (Celery does so for a task it kills) and never marked
    finished: lost again each time, it was sent again every OUTBOX_RESEND_AFTER_SECONDS forever. After
    OUTBOX_MAX_RESENDS resends it is given up: logged as an error, finished, never sent again."""
    settings.OUTBOX_MAX_RESENDS = 2
    with django_capture_on_commit_callbacks(execute=True):
        killed = outbox.enqueue(task="labeling.render_version_files", args=[7], dedupe_key="render_version_files:7")

    def taken_and_killed():
        """A worker takes the message and starts it; its time limit kills it; the message is acked."""
        with Connection(settings.CELERY_BROKER_URL) as conn:
            taken = conn.SimpleQueue(settings.CELERY_TASK_DEFAULT_QUEUE).get(timeout=5)
            assert taken.headers["outbox_id"] == killed.pk
            outbox.mark_started(message_id=killed.pk)
            taken.ack()

    sends = 1
    with caplog.at_level(logging.WARNING, logger="labeling.services.outbox"):
        for _ in range(3):
            taken_and_killed()
            later = timezone.now() + timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS + 1)
            sent_again = outbox.resend_lost(now=later)
            sends += sent_again
            if not sent_again:
                break

    assert sends == 3  # sent, then sent again twice
    killed.refresh_from_db()
    assert killed.resends == 2 and killed.given_up_at is not None and killed.finished_at is not None
    assert killed.last_error.startswith("Given up: started 3 times and never finished")
    assert queued(broker_queue) == []
    [error] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert error.getMessage() == (
        f"Outbox: labeling.render_version_files #{killed.pk} (7) was started 3 times and never finished: given up"
    )
    later = timezone.now() + timedelta(hours=2)
    assert outbox.resend_lost(now=later) == 0 and queued(broker_queue) == []  # never sent again

    # The same work asked for again is a message of its own, sent at once.
    with django_capture_on_commit_callbacks(execute=True):
        again = outbox.enqueue(task="labeling.render_version_files", args=[7], dedupe_key="render_version_files:7")
    assert again is not None and [headers["outbox_id"] for headers in queued(broker_queue)] == [again.pk]


def test_a_message_redis_loses_before_any_worker_starts_it_is_never_given_up(broker_queue, settings):
    """Only a run lost counts toward OUTBOX_MAX_RESENDS: a message Redis loses while it waits in its queue (restarted
    without its data, again and again) never ran, so it is sent again each time, however often."""
    settings.OUTBOX_MAX_RESENDS = 2
    lost = OutboxMessage.objects.create(
        task="labeling.build_dataset", args=[5], dedupe_key="build_dataset:5", published_at=timezone.now()
    )
    for sweep in range(settings.OUTBOX_MAX_RESENDS + 2):
        later = timezone.now() + timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS + 1)
        assert outbox.resend_lost(now=later) == 1, f"sweep {sweep}"
        broker_queue.delete(settings.CELERY_TASK_DEFAULT_QUEUE)  # Redis restarted without its data, again

    lost.refresh_from_db()
    assert lost.given_up_at is None and lost.finished_at is None and lost.resends == 0


@pytest.mark.parametrize("where", ["queued", "held by a worker"])
def test_a_message_still_in_redis_is_not_given_up_whatever_its_resends(broker_queue, settings, where):
    """A message past OUTBOX_MAX_RESENDS that is still in Redis (waiting behind others, or taken by a worker and not
    acked: running) is not lost: neither sent again nor given up."""
    settings.OUTBOX_MAX_RESENDS = 2
    started = timezone.now()
    message = OutboxMessage.objects.create(
        task="labeling.build_dataset", args=[5], published_at=started, started_at=started, resends=2
    )
    outbox._send_task("labeling.build_dataset", args=[5], headers={outbox.HEADER: message.pk})
    later = timezone.now() + timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS + 1)
    with Connection(settings.CELERY_BROKER_URL) as conn:
        if where == "held by a worker":
            taken = conn.SimpleQueue(settings.CELERY_TASK_DEFAULT_QUEUE).get(timeout=5)
            assert taken.headers["outbox_id"] == message.pk and queued(broker_queue) == []
        assert outbox.resend_lost(now=later) == 0

    message.refresh_from_db()
    assert message.given_up_at is None and message.finished_at is None and message.resends == 2


def test_a_message_given_up_that_a_straggler_finishes_is_no_longer_given_up():
    """A copy of the work still running when the outbox gave up on it (e.g. a worker that had prefetched it) that
    finishes after all clears the give-up: /readyz stops saying the work was given up."""
    now = timezone.now()
    message = OutboxMessage.objects.create(
        task="labeling.build_dataset", args=[5], published_at=now, resends=5, given_up_at=now, finished_at=now
    )
    outbox.mark_finished(message_id=message.pk)

    message.refresh_from_db()
    assert message.given_up_at is None and message.finished_at is not None


def test_work_due_to_be_given_up_is_given_up_while_other_work_waits_to_be_published(broker_queue, settings):
    """A message whose publish keeps failing (or is being sent right now) held every give-up: work started and lost
    OUTBOX_MAX_RESENDS times was never given up while anything else waited. It is given up all the same; what would be
    sent again still waits until nothing is left unpublished."""
    settings.OUTBOX_MAX_RESENDS = 2
    sent = timezone.now()
    killed = OutboxMessage.objects.create(
        task="labeling.render_version_files", args=[7], published_at=sent, started_at=sent, resends=2
    )
    lost_queued = OutboxMessage.objects.create(task="labeling.build_dataset", args=[5], published_at=sent)
    OutboxMessage.objects.create(  # the sweep could not publish it
        task="labeling.resolve_item", args=[9], attempts=3, last_error="ConnectionError: Error 111 connecting"
    )
    later = timezone.now() + timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS + 1)

    assert outbox.resend_lost(now=later) == 0

    killed.refresh_from_db()
    lost_queued.refresh_from_db()
    assert killed.given_up_at is not None and killed.finished_at is not None
    assert lost_queued.published_at == sent and lost_queued.given_up_at is None  # sent again later, not given up
    assert queued(broker_queue) == []


def _refuse_give_ups() -> None:
    """Make PostgreSQL itself refuse every give-up (a trigger on `given_up_at`), rolled back with the test."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_give_up() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER refuse_give_up BEFORE UPDATE OF given_up_at ON {OutboxMessage._meta.db_table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_give_up()"
        )


def test_a_database_error_while_giving_up_is_raised_as_the_databases_not_logged_as_the_brokers(
    broker_queue, settings, caplog
):
    """Giving up writes the row: a database that refuses it fails the sweep with its own error, where it was logged
    as "could not look for messages the broker lost" and swallowed."""
    settings.OUTBOX_MAX_RESENDS = 2
    sent = timezone.now()
    killed = OutboxMessage.objects.create(
        task="labeling.render_version_files", args=[7], published_at=sent, started_at=sent, resends=2
    )
    _refuse_give_ups()
    later = timezone.now() + timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS + 1)

    with caplog.at_level(logging.WARNING, logger="labeling.services.outbox"):
        with pytest.raises(DatabaseError, match="No space left on device"):
            outbox.resend_lost(now=later)

    assert [record.getMessage() for record in caplog.records if "broker" in record.getMessage()] == []
    killed.refresh_from_db()
    assert killed.given_up_at is None


def test_a_resend_the_broker_refuses_leaves_the_rest_for_the_next_sweep_and_still_gives_up_what_is_due(
    broker_queue, settings, monkeypatch
):
    """The broker refuses the first message sent again (it went away between the look and the send): the rest is
    left for the next sweep, which sends it, and a message due to be given up after it is given up all the same."""
    settings.OUTBOX_MAX_RESENDS = 2
    sent = timezone.now()
    refused = OutboxMessage.objects.create(task="labeling.build_dataset", args=[5], published_at=sent)
    killed = OutboxMessage.objects.create(
        task="labeling.render_version_files", args=[7], published_at=sent, started_at=sent, resends=2
    )
    waiting = OutboxMessage.objects.create(task="labeling.build_dataset", args=[6], published_at=sent)
    send_task, refusals = outbox._send_task, [OperationalError("Error 111 connecting to the broker")]

    def broker_refusing_once(name, **options):
        if refusals:
            raise refusals.pop()
        send_task(name, **options)

    monkeypatch.setattr(outbox, "_send_task", broker_refusing_once)
    later = timezone.now() + timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS + 1)

    assert outbox.resend_lost(now=later) == 0

    for message in (refused, killed, waiting):
        message.refresh_from_db()
    assert killed.given_up_at is not None and killed.finished_at is not None
    assert refused.published_at == waiting.published_at == sent and queued(broker_queue) == []

    assert outbox.resend_lost(now=later) == 2
    assert [headers["outbox_id"] for headers in queued(broker_queue)] == [refused.pk, waiting.pk]


def test_a_message_left_for_the_backlog_is_sent_again_once_the_backlog_is_published(broker_queue, settings):
    """While another message waits to be published nothing is sent again; once the sweep has published it (and a
    worker has run it: a queue holding anything is not one that lost a message), the lost message is."""
    sent = timezone.now()
    lost = OutboxMessage.objects.create(task="labeling.build_dataset", args=[5], published_at=sent)
    unpublished = OutboxMessage.objects.create(task="labeling.resolve_item", args=[9], attempts=3)
    later = timezone.now() + timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS + 1)

    assert outbox.resend_lost(now=later) == 0 and queued(broker_queue) == []

    assert outbox.publish_pending() == 1
    with Connection(settings.CELERY_BROKER_URL) as conn:  # a worker runs it
        taken = conn.SimpleQueue(settings.CELERY_TASK_DEFAULT_QUEUE).get(timeout=5)
        assert taken.headers["outbox_id"] == unpublished.pk
        outbox.mark_finished(message_id=unpublished.pk)
        taken.ack()
    assert outbox.resend_lost(now=later) == 1
    assert [headers["outbox_id"] for headers in queued(broker_queue)] == [lost.pk]
    lost.refresh_from_db()
    assert lost.published_at > sent and lost.attempts == 1


def test_a_database_error_giving_up_comes_before_any_message_is_sent_again(broker_queue, settings):
    """Every message due is given up before any is sent again: a database refusing a give-up fails the sweep before
    it sent a message whose mark the error would roll back (sent again, yet still read as lost)."""
    settings.OUTBOX_MAX_RESENDS = 2
    sent = timezone.now()
    OutboxMessage.objects.create(task="labeling.build_dataset", args=[5], published_at=sent)
    OutboxMessage.objects.create(
        task="labeling.render_version_files", args=[7], published_at=sent, started_at=sent, resends=2
    )
    _refuse_give_ups()
    later = timezone.now() + timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS + 1)

    with pytest.raises(DatabaseError, match="No space left on device"):
        outbox.resend_lost(now=later)

    assert queued(broker_queue) == []


def test_the_sweeps_queries_do_not_grow_with_the_messages_it_sends_again_or_gives_up(broker_queue, settings):
    """A sweep gives up every message due in one UPDATE and marks every message it sent again in one more: one write
    per message kept the sweep's transaction (and its row locks) open a round trip per message, and a database error
    on a later mark rolled back the marks of messages already in Redis."""
    settings.OUTBOX_MAX_RESENDS = 2

    def sweep_queries(lost: int) -> int:
        OutboxMessage.objects.all().delete()
        broker_queue.delete(settings.CELERY_TASK_DEFAULT_QUEUE)
        sent = timezone.now()
        for n in range(lost):
            OutboxMessage.objects.create(task="labeling.build_dataset", args=[n], published_at=sent)
            OutboxMessage.objects.create(
                task="labeling.build_dataset", args=[100 + n], published_at=sent, started_at=sent
            )
            OutboxMessage.objects.create(
                task="labeling.render_version_files", args=[n], published_at=sent, started_at=sent, resends=2
            )
        later = timezone.now() + timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS + 1)
        with CaptureQueriesContext(connection) as queries:
            assert outbox.resend_lost(now=later) == 2 * lost
        assert OutboxMessage.objects.filter(given_up_at__isnull=False).count() == lost
        return len(queries)

    assert sweep_queries(3) == sweep_queries(1)
    # Each row got its own marks all the same: its resends counted only for a run lost, its own count given up.
    never_started = OutboxMessage.objects.get(task="labeling.build_dataset", args=[0])
    started = OutboxMessage.objects.get(args=[100])
    killed = OutboxMessage.objects.get(task="labeling.render_version_files")
    assert never_started.started_at is None and never_started.attempts == 1 and never_started.resends == 0
    assert started.started_at is None and started.attempts == 1 and started.resends == 1
    assert killed.given_up_at is not None and killed.finished_at == killed.given_up_at
    assert killed.last_error == (
        "Given up: started 3 times and never finished (killed by its time limit, or its worker lost each time)"
    )
    assert sorted(headers["outbox_id"] for headers in queued(broker_queue)) == [never_started.pk, started.pk]
