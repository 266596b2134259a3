"""The client: log outputs, events and feedback without slowing the caller; read datasets, metrics and reports."""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import quote

import httpx

from ._reader import Reader
from ._sender import Sender, Stats
from .datasets import Dataset, _pages
from .errors import ConfigurationError, RecordError
from .metrics import Cycles, Metrics, Records, records_of
from .metrics import query_day as _day

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
    `flush_interval` seconds. Reading (`dataset`, `datasets`, `iter_outputs`, `metrics`, `cycles`, …) needs the
    `read` scope, `create_dataset` the `datasets` scope, `erase_end_user` the `privacy` scope and `platform_usage` an
    operator token as api_key; all of them raise ExpertloopError subclasses.

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

    def datasets(self) -> Records:
        """Every dataset of the project, oldest first, as `Dataset.details()` gives each: its definition,
        `latest_version` and `build` (a key with `read` or `datasets`)."""
        path = f"/api/v1/projects/{quote(self.project, safe='')}/datasets"
        return Records(_pages(self._reader, path, {"page_size": 1000}))

    def create_dataset(
        self,
        name: str,
        *,
        description: str | None = None,
        queues: Sequence[str] | None = None,
        questions: Sequence[str] | None = None,
        only_resolved: bool | None = None,
        tags_any: Sequence[str] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        models: Sequence[str] | None = None,
        metadata: dict[str, Sequence[str]] | None = None,
        text_any: Sequence[str] | None = None,
        splits: dict[str, int] | None = None,
        auto_rebuild: bool | None = None,
    ) -> Dataset:
        """Define a dataset (a key with the `datasets` scope) and return it: `.details()` has the definition as
        stored, `.build()` makes its first version (none is built before). The slug is made from `name`. Unset
        arguments take the server's defaults: every queue and question, only resolved items, splits train 80 and
        test 20, rebuilt when a week closes. `since` and `until` without an offset are read in the project's time
        zone. `models`: any of these; `metadata`: each key holds one of its values (as text, `{"plan": ["pro"]}`);
        `text_any`: phrases, one of which the answer holds, in any case (as a queue's "Answer contains any of").
        BadRequest names each problem's field (shares not adding up to 100, an unknown queue or question, a blank
        filter value, and a name taken beside them); NameTaken (409) a definition whose one problem is its name. Not
        retried but after a 429: a repeat of a create that went through is refused as a name taken."""
        body: dict[str, Any] = {"name": name}
        for field, value in (
            ("description", description), ("queues", queues), ("questions", questions),
            ("only_resolved", only_resolved), ("tags_any", tags_any), ("since", since), ("until", until),
            ("models", models), ("metadata", metadata), ("text_any", text_any), ("splits", splits),
            ("auto_rebuild", auto_rebuild),
        ):  # fmt: skip
            if value is not None:
                body[field] = value.isoformat() if isinstance(value, datetime) else value
        for field in ("queues", "questions", "tags_any", "models", "text_any"):
            if field in body:
                body[field] = list(body[field])
        if "metadata" in body:
            body["metadata"] = {key: list(values) for key, values in body["metadata"].items()}
        path = f"/api/v1/projects/{quote(self.project, safe='')}/datasets"
        created = self._reader.send_json("POST", path, body, idempotent=False)
        return self.dataset(created["slug"])

    def output(self, external_id: str, *, include: str | Sequence[str] = ()) -> dict[str, Any]:
        """An output of the project by your external_id: its fields, feedback and `items` (the queues it was routed
        to); `include=("labels", "gold")` (or `"labels,gold"`, as the URL writes it) adds each item's labels and gold
        answers. NotFound when it is not stored."""
        if not external_id:  # its URL would be the list's, answered as "no API endpoint has this URL"
            raise ValueError("external_id is empty: every stored output has one of 1 to 200 characters")
        if external_id == "facets":  # its path is the facets endpoint's, which would answer in its stead
            raise ValueError('An output whose external_id is "facets" has no URL of its own: iter_outputs(q="facets")')
        if isinstance(include, str):  # a string is a sequence too: it would be sent letter by letter
            include = include.split(",")
        path = f"/api/v1/outputs/{quote(external_id, safe='')}"
        return dict(self._reader.get_json(path, {"include": ",".join(part.strip() for part in include) or None}))

    def iter_labels(self, *, from_: str | date | None = None, to: str | date | None = None) -> Iterator[dict[str, Any]]:
        """Every label of the weeks `from_` to `to` (labels such as `2026-W40`, or a `date`: the project's cycle week
        holding that day; both included; by default the last 12 weeks), one dict each as the server streams them:
        external_id, queue, item, week, annotator (a pseudonym), answers, rubric_version, labeled_at, seconds_spent
        and the item's gold."""
        with self._reader.stream("/api/v1/labels", {"from": _day(from_), "to": _day(to)}) as response:
            for line in response.iter_lines():
                if line:
                    yield json.loads(line)

    def iter_outputs(self, *, page_size: int | None = None, **filters: Any) -> Iterator[dict[str, Any]]:
        """The project's outputs that the explore filters find, newest first, one dict each, page after page (the
        `read` scope; `page_size` 1 to 200 a request). Filters are the REST parameters as keywords: `q`, `from_`
        and `to` (a `date` or YYYY-MM-DD), `model`, `tag` (`tags="all"` to need every one), `meta` ("key:value"),
        `has_meta`, `end_user`, `session`, `event` (a usage event of the output's end user), `has_event`, `feedback`,
        `comment`, `labeled`, `flagged` (True or False), `gold` ("question:answer"), `queue`, `min_chars`,
        `max_chars`, `theme`; a list repeats one (any of several). An unknown filter or a bad value is a BadRequest
        naming it, never a wider result."""
        return _pages(self._reader, "/api/v1/outputs", {**_explore_params(filters), "page_size": page_size})

    def output_facets(self, **filters: Any) -> dict[str, Any]:
        """What the outputs a filter finds (the filters of `iter_outputs`) are made of: `total`, and counts per model,
        tag, feedback, gold verdict and top metadata values (`facets`), the length histograms (`histograms`);
        counted over the first `sample` matches in the order `sort` gives (newest first without it), as they are: when
        more match (`total` over `sample`) the counts are that sample's, not scaled to `total` (`total_estimated`:
        `total` is an estimate, as `iter_outputs`' endpoint names it). The `read` scope."""
        facets = dict(self._reader.get_json("/api/v1/outputs/facets", _explore_params(filters)))
        # A server older than `total_estimated` sent only `estimated` (deprecated), the same flag on PostgreSQL.
        facets.setdefault("total_estimated", facets.get("estimated"))
        return facets

    def erase_end_user(self, end_user_id: str) -> None:
        """Erase one end user's data from the project (a key with the `privacy` scope): their outputs (with the
        items, labels and comments on them) and events; every dataset version holding one of their rows is
        withdrawn and the newest succeeded by a copy without them. Answers the same whether or not the id was ever
        known, so a repeat is harmless and the call is retried as reads are."""
        if not end_user_id:  # an unset variable: "erase nobody" must not read as a NotFound to retry or ignore
            raise ValueError("end_user_id is empty: name the end user to erase")
        self._reader.send_json("DELETE", f"/api/v1/end-users/{quote(end_user_id, safe='')}", idempotent=True)

    def redaction_rules(self) -> dict[str, Any]:
        """The redaction rules ingest applies now (the `read` scope): `version`, `builtins`, `phone_region`,
        `custom` and `created_at`; all empty (`version` None) when the project has none. Leads edit them on the
        web: the API has no call to change them or to redact stored outputs again."""
        return dict(self._reader.get_json("/api/v1/redaction-rules"))

    def rubric(self, version: int | None = None) -> dict[str, Any]:
        """The project's rubric, the current version or `version` (the `read` scope): `questions` (key, kind, prompt,
        required, help, options, scale), `guidelines`, and `versions`, every published one newest first."""
        return dict(self._reader.get_json("/api/v1/rubric", {"version": version}))

    def queues(self) -> Records:
        """The project's queues, highest priority first (the `read` scope): slug, name, active, priority, overlap,
        weekly_quota and items_open, the items still wanting labels."""
        return records_of(self._reader.get_json("/api/v1/queues"), "results")

    def platform_usage(
        self, *, since: date | str | None = None, until: date | str | None = None, project: str | None = None
    ) -> Records:
        """Usage per project and cycle week (operators: make the client with an operator token, `elop_…`, as its
        api_key): outputs, events, storage_bytes, labels, expert_hours, experts_active and ingest_errors, newest week
        first. `since` and `until` bound the weeks' starts (by default the last 12 weeks); `project`: one project's
        slug only."""
        params = {"since": _day(since), "until": _day(until), "project": project}
        return Records(self._reader.get_json("/api/v1/platform/usage", params))


def _explore_params(filters: dict[str, Any]) -> dict[str, Any]:
    """Keyword filters as the explore endpoints read them: `from_` is `from`, a date YYYY-MM-DD, True and False
    `yes` and `no`, a list or tuple the parameter repeated."""
    params: dict[str, Any] = {}
    for name, value in filters.items():
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, list | tuple | set | frozenset):
            value = [_day(part) for part in value]
        else:
            value = _day(value)
        params[name.rstrip("_")] = value
    return params
