"""The background sender: product threads append records to a bounded in-memory queue and return at once; one
daemon thread serialises them and sends them in batches, retrying what the server could not take yet.

Nothing on the caller's path does I/O, serialises, or waits on the sender: `put` holds a lock for an append
and two counter updates, and the sender holds the same lock only to pop a batch, never while sending.
"""

from __future__ import annotations

import email.utils
import json
import logging
import multiprocessing.util
import os
import random
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import httpx

from .errors import RecordError

logger = logging.getLogger("expertloop_client")

PATHS = {"outputs": "/api/v1/outputs", "events": "/api/v1/events", "feedback": "/api/v1/feedback"}
# Within one batch taken from the queue, outputs go first: feedback may refer to an output logged just before it.
SEND_ORDER = ("outputs", "events", "feedback")
SINGULAR = {"outputs": "output", "events": "event", "feedback": "feedback"}
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
BASE_BACKOFF = 0.25  # seconds; the n-th retry waits uniform(0, min(MAX_BACKOFF, BASE_BACKOFF * 2**n))
MAX_BACKOFF = 8.0
NAIVE_OCCURRED_AT = (
    "occurred_at has no time zone: pass an aware datetime, e.g. datetime.now(timezone.utc) or "
    "datetime(2026, 1, 5, 9, 15, tzinfo=timezone.utc)."
)


@dataclass(frozen=True)
class Stats:
    """Counts since the client started, in records (batches only where named so)."""

    queued: int  # waiting in memory, or being sent, now
    sent: int  # answered 200: stored now, already stored (duplicates, conflicts), feedback applied or not found
    created: int
    duplicates: int  # already stored with the same content (a retry after a lost answer, for example)
    conflicts: int  # already stored with other content: the stored row was kept (see `errors`)
    feedback_updated: int
    feedback_not_found: int  # feedback for an external_id the server does not hold (see `errors`)
    dropped: int  # pushed out of a full queue (the oldest go first), or logged after close()
    rejected: int  # refused: invalid (400), not JSON, or refused with 401/403/404/413/415 (see `errors`)
    failed: int  # given up: still failing after max_retry_seconds, or left unsent when close() timed out
    retries: int  # requests sent again after a 429, a 5xx, a timeout or a connection error
    batches: int  # requests answered 200


_COUNTERS = (
    "sent", "created", "duplicates", "conflicts", "feedback_updated", "feedback_not_found", "rejected", "failed",
    "retries", "batches",
)  # fmt: skip


class _Ready:
    """A record serialised once, so that every retry sends the same bytes."""

    __slots__ = ("body", "record")

    def __init__(self, body: bytes, record: dict[str, Any]):
        self.body = body
        self.record = record


def _json_default(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


# One encoder for every record: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(default=_json_default, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def serialise(record: dict[str, Any]) -> bytes:
    """Strict JSON (no NaN, valid UTF-8) as ingest accepts it; datetimes as ISO 8601."""
    return _ENCODER.encode(record).encode("utf-8")


def _field_at_fault(record: dict[str, Any]) -> str | None:
    for name, value in record.items():
        try:
            serialise({name: value})
        except (TypeError, ValueError):
            return name
    return None


def retry_after_seconds(response: httpx.Response | None) -> float | None:
    """The wait a 429 or 503 asks for: `Retry-After` in seconds or as an HTTP date."""
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _errors_of(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return []
    return [error for error in errors if isinstance(error, dict)] if isinstance(errors, list) else []


class Sender:
    def __init__(
        self,
        *,
        url: str,
        api_key: str,
        batch_size: int,
        flush_interval: float,
        max_queue: int,
        timeout: float,
        max_retry_seconds: float,
        max_body_bytes: int,
        on_error: Callable[[RecordError], None] | None,
        headers: dict[str, str],
        exit_timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self._url = url
        self._headers = {**headers, "Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self._timeout = timeout
        self._transport = transport
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_retry_seconds = max_retry_seconds
        self._max_body_bytes = max_body_bytes
        self._on_error = on_error
        self._exit_timeout = exit_timeout
        self._queue: deque[tuple[str, dict[str, Any]]] = deque(maxlen=max_queue)
        self.errors: deque[RecordError] = deque(maxlen=1000)
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._dropped = 0
        self._warned_closed = False
        self._start(closing=False)
        _LIVE.add(self)
        multiprocessing.util.register_after_fork(self, _flush_at_multiprocessing_exit)

    def _start(self, *, closing: bool) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # flush() waits on it; notified after every batch
        self._wake = threading.Event()
        self._abandon = threading.Event()  # close() timed out: stop retrying, leave at once
        self._in_flight = 0
        self._flushers = 0
        self._closing = closing
        self._http: httpx.Client | None = None
        self._thread = threading.Thread(target=self._run, name="expertloop-sender", daemon=True)
        if not closing:  # a client closed before a fork stays closed in the child
            self._thread.start()

    def _after_fork_in_child(self) -> None:
        # The parent's thread does not exist here and its sockets are the parent's: start afresh. What was queued
        # before the fork is the parent's to send (sending it twice would be harmless, but wasteful).
        self._queue.clear()
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._dropped = 0
        self.errors.clear()
        self._start(closing=self._closing)

    # ------------------------------------------------------------------------------------------------------
    # The caller's side

    def put(self, kind: str, record: dict[str, Any]) -> None:
        with self._lock:
            if self._closing:
                self._dropped += 1
                warn = not self._warned_closed
                self._warned_closed = True
            else:
                warn = False
                if len(self._queue) == self._queue.maxlen:
                    self._dropped += 1
                self._queue.append((kind, record))
                if len(self._queue) >= self._batch_size and not self._wake.is_set():
                    self._wake.set()
        if warn:
            logger.warning("expertloop client is closed: records logged after close() are dropped")

    def recent_errors(self) -> list[RecordError]:
        with self._lock:
            return list(self.errors)

    def stats(self) -> Stats:
        with self._lock:
            return Stats(queued=len(self._queue) + self._in_flight, dropped=self._dropped, **self._counts)

    def flush(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._flushers += 1
            self._wake.set()
            try:
                while (self._queue or self._in_flight) and self._thread.is_alive():
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        break
                    self._idle.wait(remaining)
                return not self._queue and not self._in_flight
            finally:
                self._flushers -= 1

    def close(self, timeout: float | None) -> bool:
        """Send what is queued (waiting at most `timeout` seconds), then stop; True if everything went."""
        with self._lock:
            self._closing = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if not self._thread.is_alive():
            return self.stats().queued == 0
        self._abandon.set()
        with self._lock:
            left = len(self._queue) + self._in_flight
            self._counts["failed"] += len(self._queue)
            self._queue.clear()
        logger.error("expertloop client closed with %d records unsent (the server did not take them in time)", left)
        return False

    # ------------------------------------------------------------------------------------------------------
    # The sender thread

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._queue and self._closing:
                        return
                    ready = len(self._queue) >= self._batch_size or self._flushers or self._closing
                if not ready:
                    self._wake.wait(self._flush_interval)
                self._wake.clear()
                chunk = self._take()
                if not chunk:
                    continue
                try:
                    self._send_chunk(chunk)
                except Exception:  # a bug here must not kill the thread that every later record needs
                    logger.exception("expertloop client: %d records lost to an unexpected error", len(chunk))
                    self._count("failed", len(chunk))
                finally:
                    with self._lock:
                        self._in_flight = 0
                        self._idle.notify_all()
        finally:
            if self._http is not None:
                self._http.close()
            with self._lock:
                self._idle.notify_all()

    def _take(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            count = min(self._batch_size, len(self._queue))
            chunk = [self._queue.popleft() for _ in range(count)]
            self._in_flight = count
            return chunk

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def _send_chunk(self, chunk: list[tuple[str, dict[str, Any]]]) -> None:
        groups: dict[str, list[dict[str, Any]]] = {kind: [] for kind in SEND_ORDER}
        for kind, record in chunk:
            groups[kind].append(record)
        for kind in SEND_ORDER:
            if groups[kind]:
                ready = [item for item in map(self._serialise, [kind] * len(groups[kind]), groups[kind]) if item]
                for batch in self._by_size(ready):
                    self._deliver(kind, batch)

    def _serialise(self, kind: str, record: dict[str, Any]) -> _Ready | None:
        if kind == "events" and record.get("external_id") is None:
            # An event without an id is stored again on every retry; an id of ours makes retries safe.
            record = {**record, "external_id": f"elc-{uuid.uuid4()}"}
        occurred_at = record.get("occurred_at")
        if isinstance(occurred_at, datetime) and occurred_at.utcoffset() is None:
            # Sent, it is a time without a zone, which the server refuses with its general RFC 3339 message.
            self._reject(kind, record, message=NAIVE_OCCURRED_AT, field="occurred_at")
            return None
        try:
            return _Ready(serialise(record), record)
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError (a lone surrogate) is a ValueError
            self._reject(kind, record, message=f"Not valid JSON: {exc}", field=_field_at_fault(record))
            return None

    def _by_size(self, ready: list[_Ready]) -> Iterator[list[_Ready]]:
        batch: list[_Ready] = []
        size = 64  # the envelope
        for item in ready:
            if batch and size + len(item.body) + 1 > self._max_body_bytes:
                yield batch
                batch, size = [], 64
            batch.append(item)
            size += len(item.body) + 1
        if batch:
            yield batch

    def _deliver(self, kind: str, batch: list[_Ready]) -> None:
        """Send a batch until every record is stored, refused or given up on."""
        parts = [batch]
        while parts:
            part = parts.pop()
            response = self._post(kind, part)
            if response is None:
                self._count("failed", len(part))
                continue
            status = response.status_code
            if status == 200:
                self._accept(kind, part, response)
                continue
            errors = _errors_of(response)
            if status == 400:
                named: dict[int, list[dict[str, Any]]] = {}
                for error in errors:
                    index = error.get("index")
                    if isinstance(index, int) and 0 <= index < len(part):
                        named.setdefault(index, []).append(error)
                if named:
                    # All or nothing: the batch was refused whole. Report the records it names, send the rest.
                    for index, record_errors in named.items():
                        self._reject(kind, part[index].record, status=400, index=index, errors=record_errors)
                    rest = [item for index, item in enumerate(part) if index not in named]
                    if rest:
                        parts.append(rest)
                    continue
            if status in (400, 413) and len(part) > 1:
                # A refusal that names no record (or a body too large): halve until it does.
                middle = len(part) // 2
                parts.extend((part[middle:], part[:middle]))
                continue
            message = "; ".join(str(error.get("message")) for error in errors) or response.reason_phrase
            logger.error(
                "expertloop refused %d %s with HTTP %d (%s); they are not sent again", len(part), kind, status, message
            )
            for item in part:
                self._reject(kind, item.record, status=status, message=message, quiet=True)

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=self._url, headers=self._headers, timeout=self._timeout, transport=self._transport
            )
        return self._http

    def _post(self, kind: str, part: list[_Ready]) -> httpx.Response | None:
        """POST the batch; retry 429, 5xx, timeouts and connection errors with backoff. None: given up."""
        body = b'{"%s":[%s]}' % (kind.encode(), b",".join(item.body for item in part))
        started = time.monotonic()
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = self._client().post(PATHS[kind], content=body)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:  # no retry can mend the URL
                logger.error("expertloop: cannot send %d %s to %s: %s", len(part), kind, self._url, exc)
                return None
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code not in RETRY_STATUSES:
                    if attempt:
                        logger.info("expertloop: %s sent after %d retries", kind, attempt)
                    return response
                reason = f"HTTP {response.status_code}"
            delay = retry_after_seconds(response)
            if delay is None:
                delay = random.uniform(0, min(MAX_BACKOFF, BASE_BACKOFF * 2**attempt))
            if time.monotonic() - started + delay > self._max_retry_seconds:
                logger.error(
                    "expertloop: gave up sending %d %s after %.0f s of retries (%s)",
                    len(part), kind, time.monotonic() - started, reason,
                )  # fmt: skip
                return None
            attempt += 1
            self._count("retries")
            log = logger.warning if attempt == 1 else logger.debug
            log("expertloop: sending %d %s failed (%s); retry %d in %.2f s", len(part), kind, reason, attempt, delay)
            if self._abandon.wait(delay):
                return None

    def _accept(self, kind: str, part: list[_Ready], response: httpx.Response) -> None:
        try:
            result = response.json()
        except ValueError:
            result = {}
        with self._lock:
            counts = self._counts
            counts["sent"] += len(part)
            counts["batches"] += 1
            if kind == "feedback":
                counts["feedback_updated"] += int(result.get("updated", 0))
                counts["feedback_not_found"] += len(result.get("not_found", []))
            else:
                counts["created"] += int(result.get("created", 0))
                counts["duplicates"] += int(result.get("duplicates", 0))
                counts["conflicts"] += int(result.get("conflicts", 0))
        by_id = {item.record.get("external_id"): item.record for item in part}
        if kind == "feedback":
            for external_id in result.get("not_found", []):
                message = "No output with this external_id is stored: the feedback was not applied."
                self._report(RecordError(kind, external_id, message, status=200, record=by_id.get(external_id)))
        for external_id in result.get("conflict_ids", []):
            message = "Already stored with other content: the stored record was kept (send a new external_id)."
            self._report(RecordError(kind, external_id, message, status=200, record=by_id.get(external_id)))

    def _reject(
        self,
        kind: str,
        record: dict[str, Any],
        *,
        message: str = "",
        field: str | None = None,
        index: int | None = None,
        status: int | None = None,
        errors: list[dict[str, Any]] | None = None,
        quiet: bool = False,
    ) -> None:
        self._count("rejected")
        external_id = record.get("external_id")
        for error in errors or [{"field": field, "message": message}]:
            reported = RecordError(
                kind, external_id, str(error.get("message")), field=error.get("field"), index=index, status=status,
                record=record,
            )  # fmt: skip
            self._report(reported, quiet=quiet)

    def _report(self, error: RecordError, *, quiet: bool = False) -> None:
        with self._lock:
            self.errors.append(error)
        if not quiet:
            logger.warning(
                "expertloop did not store %s %r: %s%s",
                SINGULAR[error.kind], error.external_id, f"{error.field}: " if error.field else "", error.message,
            )  # fmt: skip
        if self._on_error is not None:
            try:
                self._on_error(error)
            except Exception:
                logger.exception("expertloop client: the on_error callback raised")


_LIVE: weakref.WeakSet[Sender] = weakref.WeakSet()


def _flush_at_multiprocessing_exit(sender: Sender) -> None:
    # A multiprocessing child (a Process, a Pool's worker) leaves with os._exit: atexit never runs there, but
    # multiprocessing runs its finalizers first. Registered after the fork because the child clears those it inherits.
    multiprocessing.util.Finalize(sender, sender.close, args=(sender._exit_timeout,), exitpriority=10)


def _restart_senders_in_child() -> None:
    for sender in list(_LIVE):
        sender._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_senders_in_child)
