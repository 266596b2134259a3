"""The client: log outputs, events and feedback without slowing the caller; read datasets, metrics and reports."""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import httpx

from ._reader import Reader
from ._sender import Sender, Stats
from .datasets import Dataset
from .errors import ConfigurationError, RecordError
from .metrics import Cycles, Metrics

__version__ = "0.1.0"
MAX_BATCH = 1000  # the server's INGEST_MAX_RECORDS default


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _copied(value: Any) -> Any:
    """The caller's own dict or list, copied at the call (the messages of a transcript too): a chat endpoint goes on
    appending to its `messages` after logging them, and the record is serialised later, on the sender thread.
    Deeper objects are not copied. Cost: ~0.25 µs for a dict of metadata, ~2 µs for a transcript of 10 messages."""
    if type(value) is dict:
        return value.copy()
    if type(value) is list:
        return [item.copy() if type(item) is dict else item for item in value]
    return value


def _check_url(url: str) -> None:
    """A URL the sender could never reach would be retried like an outage: refuse it now."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"The server URL {url!r} is not a URL: {exc}.") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(
            f"The server URL {url!r} needs http:// or https:// and a host (e.g. https://expertloop.acme.io)."
        )


class Client:
    """A connection to one expertloop server with one project API key.

    Logging (`log_output`, `log_event`, `log_feedback`) needs the `ingest` scope and never raises or waits: records
    go to a bounded in-memory queue that a background thread sends in batches of `batch_size`, at least every
    `flush_interval` seconds. Reading (`dataset`, `metrics`, `cycles`) needs the `read` scope and raises
    ExpertloopError subclasses.

    url and api_key default to the EXPERTLOOP_URL and EXPERTLOOP_API_KEY environment variables. `project` (its slug)
    is only needed to read datasets; by default the client asks the server which project the key belongs to.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        project: str | None = None,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        timeout: float = 10.0,
        max_retry_seconds: float = 600.0,
        max_body_bytes: int = 5 * 1024 * 1024,
        on_error: Callable[[RecordError], None] | None = None,
        exit_timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ):
        url = url or os.environ.get("EXPERTLOOP_URL")
        api_key = api_key or os.environ.get("EXPERTLOOP_API_KEY")
        if not url:
            raise ConfigurationError(
                "No server URL: pass url= or set EXPERTLOOP_URL (e.g. https://expertloop.acme.io)."
            )
        _check_url(url)
        if not api_key:
            raise ConfigurationError("No API key: pass api_key= or set EXPERTLOOP_API_KEY.")
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size is from 1 to {MAX_BATCH} (the server takes at most {MAX_BATCH} a request)")
        if max_queue < 1 or flush_interval <= 0 or timeout <= 0 or max_retry_seconds < 0 or max_body_bytes < 1024:
            raise ValueError(
                "Needs max_queue ≥ 1, flush_interval > 0, timeout > 0, max_retry_seconds ≥ 0, max_body_bytes ≥ 1024"
            )
        self.url = url.rstrip("/")
        headers = {"User-Agent": f"expertloop-client/{__version__} httpx/{httpx.__version__}"}
        self._sender = Sender(
            url=self.url, api_key=api_key, batch_size=batch_size, flush_interval=flush_interval, max_queue=max_queue,
            timeout=timeout, max_retry_seconds=max_retry_seconds, max_body_bytes=max_body_bytes, on_error=on_error,
            headers=headers, exit_timeout=exit_timeout, transport=transport,
        )  # fmt: skip
        read_headers = {**headers, "Authorization": f"Bearer {api_key}"}
        self._reader = Reader(url=self.url, headers=read_headers, timeout=timeout, transport=transport)
        self._project = project
        self._key: dict[str, Any] | None = None
        self._key_lock = threading.Lock()
        self.metrics = Metrics(self._reader)
        self.cycles = Cycles(self._reader, self.metrics)
        self._exit_timeout = exit_timeout
        atexit.register(self._at_exit)

    # ------------------------------------------------------------------------------------------------------
    # Logging: queued, never raises, never waits

    def log_output(
        self,
        external_id: str,
        output: Any,
        *,
        input: str | Sequence[dict[str, Any]] | None = None,
        model: str | None = None,
        end_user_id: str | None = None,
        session_id: str | None = None,
        occurred_at: datetime | str | None = None,
        context: Any = None,
        metadata: dict[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        feedback: dict[str, Any] | None = None,
    ) -> None:
        """Queue one AI output (see the API's field rules). `occurred_at` defaults to now, taken at this call.

        The record is serialised later on the sender thread: the dicts and lists passed in (and the messages of an
        `input` transcript) are copied at the call; do not change objects nested deeper afterwards.
        """
        try:
            record: dict[str, Any] = {
                "external_id": external_id, "output": _copied(output), "occurred_at": occurred_at or _now()
            }  # fmt: skip
            for name, value in (
                ("input", input), ("model", model), ("end_user_id", end_user_id), ("session_id", session_id),
                ("context", context), ("metadata", metadata), ("tags", tags), ("feedback", feedback),
            ):  # fmt: skip
                if value is not None:
                    record[name] = _copied(value)
            self._sender.put("outputs", record)
        except Exception:  # never into the caller's request path
            pass

    def log_event(
        self,
        end_user_id: str,
        name: str,
        *,
        external_id: str | None = None,
        occurred_at: datetime | str | None = None,
        properties: dict[str, Any] | None = None,
    ) -> None:
        """Queue one usage event (session start, message sent …). Without an external_id the client gives it one,
        so that a retried batch cannot store it twice."""
        try:
            record: dict[str, Any] = {"end_user_id": end_user_id, "name": name, "occurred_at": occurred_at or _now()}
            if external_id is not None:
                record["external_id"] = external_id
            if properties is not None:
                record["properties"] = _copied(properties)
            self._sender.put("events", record)
        except Exception:
            pass

    def log_feedback(self, external_id: str, score: int, *, comment: str | None = None) -> None:
        """Queue end-user feedback (-1, 0 or 1) on an output logged earlier; the last feedback sent wins."""
        try:
            record: dict[str, Any] = {"external_id": external_id, "score": score}
            if comment is not None:
                record["comment"] = comment
            self._sender.put("feedback", record)
        except Exception:
            pass

    @property
    def stats(self) -> Stats:
        """What happened to the records logged so far (sent, duplicates, dropped, rejected, retries, …)."""
        return self._sender.stats()

    @property
    def errors(self) -> list[RecordError]:
        """The last 1,000 records the server refused (or that were not JSON), each with its field and message."""
        return self._sender.recent_errors()

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait at most `timeout` seconds until nothing logged so far is left to send; True if so (each record was
        then stored, refused or given up on: see `stats`)."""
        return self._sender.flush(timeout)

    def close(self, timeout: float | None = 30.0) -> bool:
        """Send what is queued (at most `timeout` seconds), then stop the sender; True if everything went."""
        atexit.unregister(self._at_exit)
        done = self._sender.close(timeout)
        self._reader.close()
        return done

    def _at_exit(self) -> None:
        self._sender.close(self._exit_timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------------
    # Reading

    def key(self) -> dict[str, Any]:
        """The key's project (`project`, `project_name`), name, prefix and scopes, as the server knows them."""
        with self._key_lock:
            if self._key is None:
                self._key = dict(self._reader.get_json("/api/v1/key"))
            return self._key

    @property
    def project(self) -> str:
        """The project's slug: the one given to the client, else the key's."""
        return self._project or str(self.key()["project"])

    def dataset(self, slug: str) -> Dataset:
        """A dataset of the project by its slug; `.version("latest" | n)` reads it."""
        return Dataset(self._reader, lambda: self.project, slug)

    def output(self, external_id: str, *, include: Sequence[str] = ()) -> dict[str, Any]:
        """An output of the project by your external_id: its fields, feedback and `items` (the queues it was routed
        to); `include=("labels", "gold")` adds each item's labels and gold answers. NotFound when it is not stored."""
        path = f"/api/v1/outputs/{quote(external_id, safe='')}"
        return dict(self._reader.get_json(path, {"include": ",".join(include) or None}))

    def iter_labels(self, *, from_: str | None = None, to: str | None = None) -> Iterator[dict[str, Any]]:
        """Every label of the weeks `from_` to `to` (labels such as `2026-W40`, both included; by default the last 12
        weeks), one dict each as the server streams them: external_id, queue, item, week, annotator (a pseudonym),
        answers, rubric_version, labeled_at, seconds_spent and the item's gold."""
        with self._reader.stream("/api/v1/labels", {"from": from_, "to": to}) as response:
            for line in response.iter_lines():
                if line:
                    yield json.loads(line)
