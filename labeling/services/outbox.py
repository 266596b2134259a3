"""The transactional outbox: how every service asks for a Celery task (see README.md beside this file).

`enqueue` writes an `OutboxMessage` in the caller's transaction, so the work is asked for exactly when
the change that wants it commits, and a broker outage loses nothing. After commit it tries to publish
at once (best effort); what it could not send, `publish_pending` sends later (beat's sweep every few
seconds, and each worker when it starts). A worker marks the message started and finished
(`labeling/task_signals.py`), which is how the pages tell "queued, waiting for the worker" from "running".

Messages name their task by its registered name and are sent through the Celery app by that name, so
services never import `labeling.tasks` (which imports them): the layers run one way (tests/test_layers.py).

Tasks stay idempotent: a message published twice (a crash between the send and the mark) is harmless.
"""

import json
import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pybreaker
from celery import Task, current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, TextField, Value, When
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from kombu.connection import ConnectionPool

from labeling.models import OutboxMessage
from labeling.resilience import broker_breaker
from labeling.rules.prepared import Prepared, PreparedUpdate
from labeling.rules.task_args import short_repr

logger = logging.getLogger(__name__)

HEADER = "outbox_id"  # the message header that carries the row's id to the worker
_BATCH = 100


def enqueue(
    *, task: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None, dedupe_key: str = ""
) -> OutboxMessage | None:
    """Ask for a Celery task in the caller's transaction; published once it commits.

    `task` is the task's registered name and `args`/`kwargs` JSON primitives. With a `dedupe_key`, while
    a message of that key is still unpublished, asking again adds nothing (returns None).
    """
    message = OutboxMessage(task=task, args=list(args), kwargs=dict(kwargs or {}), dedupe_key=dedupe_key)
    if not dedupe_key:
        message.save(force_insert=True)
    else:
        message.pk = _insert_unless_pending(message)
        if message.pk is None:
            return None  # the same work is queued already and not yet sent
    transaction.on_commit(partial(_publish_after_commit, message.pk), robust=True)
    return message


_INSERTED = ("task", "args", "kwargs", "dedupe_key", "created_at", "attempts", "last_error")


def _insert_unless_pending(message: OutboxMessage) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: one statement, no savepoint around a failed insert
    (the last label of an item asks for its resolution inside the hot submit transaction)."""
    fields = [OutboxMessage._meta.get_field(name) for name in _INSERTED]
    values = [field.get_db_prep_save(field.pre_save(message, add=True), connection) for field in fields]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {OutboxMessage._meta.db_table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "
            "ON CONFLICT DO NOTHING RETURNING id",
            values,
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _publish_after_commit(message_id: int) -> None:
    # While the broker is known to be down (broker_breaker open), _send gives up at once: only the first
    # request pays the connect timeout; the rest leave their rows to the sweep.
    # _publish of the one message, its lock query compiled once per process: a label's last label asks for one.
    with transaction.atomic():
        for message in _PENDING_MESSAGE(message_id=message_id):
            _send(message, skip_if_broker_down=True)


def _pending_message(*, message_id: int):
    """The message while it is unpublished, locked; none if another dispatcher holds it (it sends it)."""
    return OutboxMessage.objects.filter(pk=message_id).pending().select_for_update(skip_locked=True).order_by("pk")[:1]


def publish_pending(*, limit: int = 5000) -> int:
    """Send unpublished messages, oldest first; stop at the first failure (the broker is down). Returns
    how many were sent. Safe to run in several processes at once: each row is sent by whoever locks it."""
    return _publish(OutboxMessage.objects.all(), limit=limit, skip_if_broker_down=False)


def _publish(messages, *, limit: int, skip_if_broker_down: bool) -> int:
    sent = 0
    while sent < limit:
        with transaction.atomic():
            # SKIP LOCKED: a row another dispatcher is sending right now is theirs; its lock is held
            # until that send is marked, so a message is published once (twice only after a crash).
            batch = list(
                messages.pending().select_for_update(skip_locked=True).order_by("pk")[: min(_BATCH, limit - sent)]
            )
            if not batch:
                return sent
            for message in batch:
                if not _send(message, skip_if_broker_down=skip_if_broker_down):
                    return sent
                sent += 1
    return sent


def resend_lost(*, now: datetime | None = None) -> int:
    """Send again the messages Redis lost; return how many.

    A message sent over OUTBOX_RESEND_AFTER_SECONDS ago and not finished, while its queue in Redis is empty and no
    worker holds it (Redis keeps a taken message until the worker acks it: every outbox task acks late), is no
    longer there: Redis restarted without its data, or failed over to a replica that never had it. Tasks are
    idempotent, so one sent again that a worker had prefetched is harmless.

    One a worker had started, lost again after OUTBOX_MAX_RESENDS such resends, is given up instead (logged as an
    error, `given_up_at`, shown on /readyz): a task its worker kills at its hard time limit is acked and never marked
    finished, every time. A resend of one no worker had started (Redis lost it queued) does not count.

    While a message waits to be published, nothing is sent again (the sweep just failed to send it: what the broker
    holds is unknown), but what is due is still given up: it would be sent no more either way. A broker error is
    logged and leaves the rest to the next sweep; a database error is raised as what it is.
    """
    if current_app.conf.task_always_eager:
        return 0  # no broker
    backlog = OutboxMessage.objects.pending().exists()
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.OUTBOX_RESEND_AFTER_SECONDS)
    with transaction.atomic():
        # SKIP LOCKED: a message another sweep is sending again is theirs.
        unfinished = list(
            OutboxMessage.objects.unfinished(sent_before=cutoff).select_for_update(skip_locked=True)[:_BATCH]
        )
        try:
            lost = _not_in_the_broker(unfinished)
        except Exception as exc:  # the broker went away meanwhile: the next sweep looks again
            logger.warning("Outbox: could not look for messages the broker lost: %s", exc)
            return 0
        # Only a run lost counts toward giving up (a worker started it: killed at its time limit, or lost with its
        # worker); a message Redis lost before any worker took it never ran, however often. All are given up before
        # anything is sent: a database error giving one up then rolls back no mark of a message sent already.
        due = [m for m in lost if m.started_at is not None and m.resends >= settings.OUTBOX_MAX_RESENDS]
        _give_up(due)
        # While a publish fails (or is in flight), nothing is sent again: once nothing waits, it is.
        to_send = [] if backlog else [m for m in lost if m not in due]
        sent_again = []
        for message in to_send:
            try:
                _send_task(
                    message.task, args=message.args, kwargs=message.kwargs, headers={HEADER: message.pk},
                    argsrepr=short_repr(message.args),
                )  # fmt: skip
            except Exception as exc:  # the broker went away meanwhile: the next sweep sends it
                logger.warning("Outbox: could not send %s #%s again, left for the next sweep: %s",
                               message.task, message.pk, exc)  # fmt: skip
                break  # the rest waits too (those due were given up already)
            sent_again.append(message)
        # One mark for all sent again, after the sends: no database error can roll back one mark and keep another.
        # Not started again: the page says "queued" until a worker takes it. Only a resend of a run lost counts (the
        # CASE reads the row's started_at before this UPDATE sets it).
        if sent_again:
            OutboxMessage.objects.filter(pk__in=[m.pk for m in sent_again]).update(
                published_at=timezone.now(), started_at=None, attempts=F("attempts") + 1,
                resends=Case(When(started_at__isnull=False, then=F("resends") + 1), default=F("resends")),
            )  # fmt: skip
        for message in sent_again:
            logger.warning("Outbox: %s #%s was lost by the broker; sent again", message.task, message.pk)
    return len(sent_again)


def _not_in_the_broker(messages: list[OutboxMessage]) -> list[OutboxMessage]:
    """Those of the messages that are nowhere in Redis: their queue is empty and no worker holds them (asks Redis)."""
    if not messages:
        return []
    empty = {queue for queue in {_queue_of(m.task) for m in messages} if _queue_is_empty(queue)}
    held = _held_by_workers()
    return [message for message in messages if _queue_of(message.task) in empty and message.pk not in held]


def _give_up(messages: list[OutboxMessage]) -> None:
    """Send the messages no more, in one UPDATE. Finished too: nothing will run them, so the pages stop saying
    "queued" and a new request for the same work (a download, "Build now") is a message of its own."""
    if not messages:
        return
    now = timezone.now()
    # The text names each message's own count of runs (its resends + 1), so PostgreSQL writes it.
    error = Concat(
        Value("Given up: started "),
        Cast(F("resends") + 1, output_field=TextField()),
        Value(" times and never finished (killed by its time limit, or its worker lost each time)"),
        output_field=TextField(),
    )
    OutboxMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
        given_up_at=now, finished_at=now, last_error=error
    )
    for message in messages:
        logger.error(
            "Outbox: %s #%s %s was started %d times and never finished: given up",
            message.task, message.pk, short_repr(message.args), message.resends + 1,
        )  # fmt: skip


def _held_by_workers() -> set[int]:
    """The outbox ids of the messages workers have taken and not acked (kombu's Redis `unacked` hash)."""
    with _publishing_pool().acquire(block=True) as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as client:
            payloads = client.hvals(channel.unacked_key)
    held = set()
    for payload in payloads:
        message = json.loads(payload)[0]
        if isinstance(outbox_id := (message.get("headers") or {}).get(HEADER), int):
            held.add(outbox_id)
    return held


def _queue_of(task: str) -> str:
    return settings.CELERY_TASK_ROUTES.get(task, {}).get("queue", settings.CELERY_TASK_DEFAULT_QUEUE)


def _queue_is_empty(queue: str) -> bool:
    with _publishing_pool().acquire(block=True) as connection:
        return connection.default_channel.queue_declare(queue=queue).message_count == 0


def _send(message: OutboxMessage, *, skip_if_broker_down: bool) -> bool:
    if current_app.conf.task_always_eager:
        # No broker (the demo): the task runs here and now; mark it first, as a worker would see it sent.
        task = _registered_task(message.task)
        _mark_published(message)
        transaction.on_commit(partial(_apply, task, message), robust=True)
        return True
    try:
        # CELERY_TASK_PUBLISH_RETRY_POLICY bounds the try (~0.7 s to a refused port; retry=False would
        # fall back to kombu's own connect retries, ~6 s). A failure leaves the row for the next sweep.
        send = partial(
            _send_task,
            message.task,
            args=message.args,
            kwargs=message.kwargs,
            headers={HEADER: message.pk},
            argsrepr=short_repr(message.args),
        )
        # A request skips the try while the broker failed moments ago; the sweep always tries.
        if skip_if_broker_down:
            broker_breaker.call(send)
        else:
            send()
    except pybreaker.CircuitBreakerError:
        return False  # the broker failed moments ago: not even tried
    except Exception as exc:  # kombu raises several kinds (OperationalError, ConnectionError, OSError)
        OutboxMessage.objects.filter(pk=message.pk).update(
            attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        logger.warning("Outbox: could not publish %s #%s, left for the sweep: %s", message.task, message.pk, exc)
        return False
    _mark_published(message)
    return True


# Connections to the broker for publishing, per broker URL, with REDIS_PUBLISH_SOCKET_TIMEOUT: with the broker's
# own 5 s socket timeout, a Redis that accepts connections and never answers held a request ~20 s (4 tries).
_publishing_pools: dict[str, ConnectionPool] = {}
os.register_at_fork(after_in_child=_publishing_pools.clear)  # a forked child never shares its parent's sockets


def _publishing_pool() -> ConnectionPool:
    app = current_app
    pool = _publishing_pools.get(app.conf.broker_url)
    if pool is None:
        timeout = settings.REDIS_PUBLISH_SOCKET_TIMEOUT
        transport_options = {
            **app.conf.broker_transport_options, "socket_timeout": timeout, "socket_connect_timeout": timeout,
        }  # fmt: skip
        connection = app.connection_for_write(transport_options=transport_options)
        pool = _publishing_pools.setdefault(app.conf.broker_url, connection.Pool(app.conf.broker_pool_limit))
    return pool


def _send_task(name: str, **options) -> None:
    with _publishing_pool().acquire(block=True) as connection:
        current_app.send_task(name, connection=connection, **options)


def _registered_task(name: str) -> Task:
    """The task registered under `name`, to run it in this process. A process that has not loaded the apps'
    task modules yet loads them first, as a worker does at start (Celery's autodiscovery)."""
    if name not in current_app.tasks:
        current_app.autodiscover_tasks(force=True)
    return current_app.tasks[name]


def _apply(task, message: OutboxMessage) -> None:
    task.apply_async(args=message.args, kwargs=message.kwargs, headers={HEADER: message.pk})


def _mark_published(message: OutboxMessage) -> None:
    _MARK_PUBLISHED(message_id=message.pk, now=timezone.now())


_PENDING_MESSAGE = Prepared(_pending_message, message_id=-7_000_004)
# Compiled once per process as well: every message sent is marked.
_MARK_PUBLISHED = PreparedUpdate(
    lambda *, message_id, now: OutboxMessage.objects.filter(pk=message_id, published_at__isnull=True),
    lambda *, message_id, now: {"published_at": now, "attempts": F("attempts") + 1, "last_error": ""},
    message_id=-7_000_004,
    now=datetime(2000, 1, 1, 0, 0, 4, tzinfo=UTC),
)


def mark_started(*, message_id: int) -> None:
    """Record that a worker took the message (the first time; a redelivery keeps the first start)."""
    OutboxMessage.objects.filter(pk=message_id, started_at__isnull=True).update(started_at=timezone.now())


def mark_finished(*, message_id: int) -> None:
    """Record that a worker is done with the message (succeeded or failed: the task keeps its own state). One the
    outbox gave up on that a straggler copy finishes after all is no longer given up (/readyz stops saying so)."""
    OutboxMessage.objects.filter(pk=message_id).update(finished_at=timezone.now(), given_up_at=None)


def prune(*, older_than: timedelta | None = None, limit: int = 10_000) -> int:
    """Delete messages published longer ago than `older_than` (OUTBOX_KEEP_DAYS); at most `limit` a call."""
    cutoff = timezone.now() - (older_than or timedelta(days=settings.OUTBOX_KEEP_DAYS))
    old = OutboxMessage.objects.filter(published_at__lt=cutoff).order_by("pk").values_list("pk", flat=True)
    old = list(old[:limit])
    deleted, _ = OutboxMessage.objects.filter(pk__in=old).delete()
    return deleted
