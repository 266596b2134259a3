"""The Python client (clients/python) against a live gunicorn on the test database.

Logging: many threads, a server stopped and started again by PID in the middle, a full queue, refused records.
Reading: a dataset version as rows, pandas, verified downloads (one tampered with by a relay in between) and
Hugging Face datasets; metrics and reports as the HTTP endpoints give them. Figures are printed (`-s` shows them).
"""

import gzip
import hashlib
import http.client
import json
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pandas as pd
import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from expertloop_client import (
    AuthenticationFailed,
    BadRequest,
    BuildFailed,
    ChecksumMismatch,
    Client,
    ConfigurationError,
    Gone,
    NameTaken,
    NotFound,
    NotReady,
    PermissionDenied,
    ServerError,
    StillPreparing,
)
from expertloop_client import datasets as client_datasets

from expertloop.middleware import UNAVAILABLE_MESSAGE
from labeling.models import (
    DatasetLine,
    DatasetVersion,
    Output,
    Queue,
    UsageEvent,
    VersionFile,
    VersionStatus,
    week_label,
)
from labeling.rules.calendar import current_week
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import build_version, create_dataset, split_of
from labeling.services.operator_tokens import issue_operator_token
from labeling.services.redaction import save_rule_set
from labeling.services.resolution import adjudicate
from labeling.services.rubrics import publish_rubric
from tests.factories import OutputFactory, UserFactory, created_weeks_ago
from tests.helpers.concurrency import held_halfway, in_thread
from tests.helpers.labeling import TIE, label_outputs
from tests.helpers.metrics import store_retention, store_week
from tests.helpers.platform import TREND, plant_projects
from tests.helpers.processes import ROOT, env_for_test_database, start_worker, stop_worker
from tests.helpers.rubrics import QUESTIONS
from tests.helpers.servers import Gunicorn, free_port
from tests.helpers.version_files import rendered

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CLIENT_SRC = ROOT / "clients" / "python" / "src"


@pytest.fixture(scope="module")
def server(django_db_setup):
    """One gunicorn worker (gthread, 4 threads) on the test database, for the whole module."""
    gunicorn = Gunicorn(env=env_for_test_database(), workers=1, threads=4, ready_path="/healthz")
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()
    import redis

    # No worker runs here: drop the routing tasks ingest published to this run's queue.
    redis.Redis.from_url(settings.REDIS_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)


def stored_ids(project) -> list[str]:
    return list(Output.objects.filter(project=project).values_list("external_id", flat=True))


class Relay:
    """A plain HTTP relay on 127.0.0.1 in front of the real server; `tamper(path, headers, body)` may change a
    response: it returns the body and may change the headers (a dict) in place."""

    def __init__(self, upstream_port: int, *, port: int | None = None, tamper=None, refuse=None):
        """`refuse(path)` may answer instead of the server: (status, headers) with an empty body, or (status, headers,
        body)."""
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.forward()

            def do_POST(self):
                self.forward()

            def do_DELETE(self):
                self.forward()

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                relay.seen.append((time.monotonic(), self.path))
                refusal = relay.refuse(self.path) if relay.refuse else None
                if refusal:
                    status, headers, answer = (*refusal, b"")[:3]
                    self.send_response(status)
                    for name, value in {**headers, "Content-Length": str(len(answer))}.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in {"connection", "keep-alive"}}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    skip = {"transfer-encoding", "content-length", "connection"}
                    answer = {name: value for name, value in response.getheaders() if name.lower() not in skip}
                    if relay.tamper:
                        payload = relay.tamper(self.path, answer, payload)
                    self.send_response(response.status)
                    for name, value in answer.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    upstream.close()

        self.tamper = tamper
        self.refuse = refuse
        self.seen: list[tuple[float, str]] = []  # (monotonic time, path) of every request
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.httpd.shutdown()
        self.httpd.server_close()


# ----------------------------------------------------------------------------------------------------------
# Logging


def test_ten_thousand_outputs_from_eight_threads_arrive_exactly_once(server, project, ingest_key):
    client = Client(server.url, ingest_key.secret, flush_interval=0.2)
    before = datetime.now(UTC)

    def produce(thread: int) -> None:
        for index in range(1250):
            client.log_output(
                f"t{thread}-{index}", f"Answer {index}", input=f"Question {index}", model="gpt-4o-mini",
                metadata={"thread": thread}, tags=["load"], session_id=f"s{thread}",
            )  # fmt: skip

    began = time.monotonic()
    threads = [threading.Thread(target=produce, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logged = time.monotonic() - began
    assert client.flush(timeout=120)
    took = time.monotonic() - began
    stats = client.stats
    client.close()

    outputs = Output.objects.filter(project=project)
    assert outputs.count() == 10_000
    assert outputs.values("external_id").distinct().count() == 10_000
    assert set(stored_ids(project)) == {f"t{t}-{i}" for t in range(8) for i in range(1250)}
    assert (stats.sent, stats.created, stats.duplicates) == (10_000, 10_000, 0)
    assert (stats.dropped, stats.rejected, stats.failed, stats.queued) == (0, 0, 0, 0)
    one = outputs.get(external_id="t3-7")
    assert (one.output, one.input, one.metadata, one.tags, one.session_id) == (
        "Answer 7", "Question 7", {"thread": 3}, ["load"], "s3",
    )  # fmt: skip
    assert before <= one.occurred_at <= datetime.now(UTC)  # taken at the call, in UTC
    print(f"\n10,000 outputs from 8 threads: logged in {logged:.2f} s, all stored {took:.2f} s after the first")


@pytest.mark.alone  # it times each call of the caller: the cores must be its own
def test_a_server_stopped_for_10_s_loses_nothing_and_never_blocks_the_caller(server, project, ingest_key):
    """A product process logs 8,000 outputs from 4 threads over 20 s; gunicorn is stopped by PID 4 s in and started
    again on the same port 10 s later. Every output is stored once, and no log_output call waited on the outage."""
    threads, per_thread, rate = 4, 2000, 100
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CLIENT_SRC), os.environ.get("PYTHONPATH", "")])}
    product = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("client_product.py")), server.url, ingest_key.secret,
         "--threads", str(threads), "--per-thread", str(per_thread), "--rate", str(rate)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert product.stdout.readline().strip() == "READY"
        time.sleep(4)
        stopped_at = time.monotonic()
        server.stop()
        assert not _answers(server.port)
        time.sleep(10)
        # The outage as measured ends here: booting gunicorn and Django takes the 2 cores from the product process.
        booting_at = time.monotonic()
        server.start()
        restarted_at = time.monotonic()
        out, err = product.communicate(timeout=120)
    finally:
        if product.poll() is None:
            product.kill()
        if server.process.poll() is not None:
            server.start()
    assert product.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    stats, calls, collections = result["stats"], result["calls"], result["collections"]

    total = threads * per_thread
    assert len(calls) == total
    assert Output.objects.filter(project=project).count() == total
    assert Output.objects.filter(project=project).values("external_id").distinct().count() == total
    assert stats["created"] == total and stats["sent"] == stats["created"] + stats["duplicates"]
    assert stats["dropped"] == stats["rejected"] == stats["failed"] == stats["queued"] == 0
    assert stats["retries"] > 0  # the outage was felt by the sender, not by the callers

    def in_gc(at: float, ns: int) -> bool:
        return any(start < at + ns / 1e9 and at < stop for start, stop, _ in collections)

    def figures(name: str, window: list[tuple[float, int]]) -> str:
        ms = sorted(ns / 1e6 for _, ns in window)
        slow = [(at, ns) for at, ns in window if ns > 1_000_000]
        outside_gc = [ns / 1e6 for at, ns in window if not in_gc(at, ns)]
        return (
            f"{name}: {len(ms):,} calls, p50 {_pct(ms, 0.5) * 1000:.1f} µs, p99 {_pct(ms, 0.99) * 1000:.1f} µs, "
            f"p99.9 {_pct(ms, 0.999):.2f} ms, max {ms[-1]:.2f} ms ({max(outside_gc, default=0):.2f} ms outside "
            f"garbage collections); over 1 ms: {len(slow)} ({sum(in_gc(at, ns) for at, ns in slow)} during one)"
        )

    down = [(at, ns) for at, ns in calls if stopped_at <= at < booting_at]
    print(
        f"\nlog_output, server down {booting_at - stopped_at:.1f} s, booting {restarted_at - booting_at:.1f} s; "
        f"sender retries {stats['retries']}, duplicates {stats['duplicates']}; {len(collections)} collections, "
        f"longest {max((stop - start for start, stop, _ in collections), default=0) * 1000:.1f} ms\n  "
        + "\n  ".join(
            figures(name, window)
            for name, window in (
                ("before", [(at, ns) for at, ns in calls if at < stopped_at]),
                ("down", down),
                ("booting and after", [(at, ns) for at, ns in calls if at >= booting_at]),
                ("all", calls),
            )
        )
    )
    # What holds on 2 shared cores, and what a caller waiting on the outage would break: the callers kept their pace
    # (a retry waits 0.25 s and more), 99 calls in 100 took under 1 ms, and none came near the client's 10 s
    # timeout. The tail beyond p99 (printed above) is the scheduler's and the garbage collector's, not the network's:
    # a strict 1 ms maximum does not hold here (README, "Never in the way").
    assert len(down) >= 0.9 * threads * rate * (booting_at - stopped_at)
    down_ms = sorted(ns / 1e6 for _, ns in down)
    assert _pct(down_ms, 0.99) <= 1.0
    assert down_ms[-1] < 1000


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def _answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        return True
    except httpx.TransportError:
        return False


def test_a_full_queue_drops_the_oldest_and_counts_them(server, project, ingest_key):
    port = free_port()  # nothing listens here yet
    client = Client(f"http://127.0.0.1:{port}", ingest_key.secret, max_queue=10, flush_interval=3600)

    for index in range(25):
        client.log_output(f"q-{index}", f"Answer {index}")
    stats = client.stats
    assert (stats.dropped, stats.queued) == (15, 10)
    assert not client.flush(timeout=1.0)  # unreachable: retrying, not done
    assert client.stats.retries > 0

    with Relay(server.port, port=port):  # the server becomes reachable on that port
        assert client.flush(timeout=30)
    client.close()

    assert sorted(stored_ids(project)) == sorted(f"q-{index}" for index in range(15, 25))  # the newest 10
    stats = client.stats
    assert (stats.dropped, stats.sent, stats.created, stats.failed) == (15, 10, 10, 0)


def test_429_and_503_are_retried_after_the_wait_the_server_asks_for(server, project, ingest_key):
    answers = iter([(429, {"Retry-After": "1"}), (503, {"Retry-After": "1"})])

    with Relay(server.port, refuse=lambda path: next(answers, None)) as relay:
        client = Client(relay.url, ingest_key.secret, flush_interval=3600)
        client.log_output("r-1", "patience")
        assert client.flush(timeout=30)
        client.close()

    assert stored_ids(project) == ["r-1"]
    (first, _), (second, _), (third, _) = relay.seen
    assert second - first >= 1.0 and third - second >= 1.0
    assert (client.stats.retries, client.stats.created) == (2, 1)


def test_a_batch_over_the_size_limit_is_split_and_a_record_too_large_alone_is_reported(server, project, ingest_key):
    big = "x" * (6 * 1024 * 1024)  # over the server's 5 MB a request, even alone
    client = Client(server.url, ingest_key.secret, flush_interval=3600, max_body_bytes=20 * 1024 * 1024)
    for index in range(3):
        client.log_output(f"s-{index}", "small")
    client.log_output("s-big", big)
    client.log_output("s-3", "small")

    assert client.flush(timeout=60)
    client.close()

    assert sorted(stored_ids(project)) == ["s-0", "s-1", "s-2", "s-3"]
    [error] = client.errors
    assert (error.external_id, error.status) == ("s-big", 413)
    assert (client.stats.created, client.stats.rejected) == (4, 1)


def test_invalid_records_are_reported_and_the_rest_of_the_batch_is_stored(server, project, ingest_key, caplog):
    reported = []
    client = Client(server.url, ingest_key.secret, flush_interval=3600, on_error=reported.append)
    client.log_output("c-0", "fine")
    client.log_output("c-1", "fine", occurred_at=datetime.now(UTC) - timedelta(hours=1))
    client.log_output("c-2", "no zone", occurred_at="2026-01-05T09:15:00")  # refused by the server
    client.log_output("c-3", "not JSON", metadata={"ratio": float("nan")})  # refused before sending
    client.log_output("c-4", "fine", tags=["ok"])

    with caplog.at_level(logging.WARNING, logger="expertloop_client"):
        assert client.flush(timeout=30)
    client.close()

    assert sorted(stored_ids(project)) == ["c-0", "c-1", "c-4"]
    assert client.errors == reported
    not_json, no_zone = reported
    assert (not_json.external_id, not_json.field, not_json.status) == ("c-3", "metadata", None)
    assert "Out of range float values are not JSON compliant" in not_json.message
    # c-3 never left the client, so c-2 was record 2 of the batch the server refused.
    assert (no_zone.kind, no_zone.external_id, no_zone.index, no_zone.field, no_zone.status) == (
        "outputs", "c-2", 2, "occurred_at", 400,
    )  # fmt: skip
    assert "time zone" in no_zone.message and no_zone.record["output"] == "no zone"
    stats = client.stats
    assert (stats.sent, stats.created, stats.rejected, stats.retries) == (3, 3, 2, 0)
    warnings = [record.getMessage() for record in caplog.records]
    assert any("'c-2'" in line and "occurred_at" in line for line in warnings), warnings


def test_a_naive_occurred_at_is_refused_before_sending_saying_it_has_no_time_zone(server, project, ingest_key):
    """A naive datetime went out as a zone-less string and came back as the server's general RFC 3339 message."""
    reported = []
    client = Client(server.url, ingest_key.secret, flush_interval=3600, on_error=reported.append)
    client.log_output("naive", "no zone", occurred_at=datetime(2026, 1, 5, 9, 15))
    client.log_event("u-1", "session_start", external_id="e-naive", occurred_at=datetime(2026, 1, 5, 9, 15))
    client.log_output("aware", "fine", occurred_at=datetime.now(UTC) - timedelta(hours=1))

    assert client.flush(timeout=30)
    client.close()

    assert stored_ids(project) == ["aware"]
    assert [(e.kind, e.external_id, e.field, e.status) for e in reported] == [
        ("outputs", "naive", "occurred_at", None),
        ("events", "e-naive", "occurred_at", None),
    ]
    assert reported[0].message.startswith("occurred_at has no time zone")
    assert client.stats.sent == 1


def test_events_and_feedback_are_sent_after_the_outputs_they_follow(server, project, ingest_key):
    reported = []
    client = Client(server.url, ingest_key.secret, flush_interval=3600, on_error=reported.append)
    client.log_event("u-1", "session_start", properties={"platform": "ios"})
    client.log_output("f-1", "It ships tomorrow.", end_user_id="u-1")
    client.log_feedback("f-1", -1, comment="It did not ship.")
    client.log_feedback("f-unknown", 1)
    client.log_event("u-1", "message_sent", external_id="ev-2")

    assert client.flush(timeout=30)
    client.close()

    output = Output.objects.get(project=project, external_id="f-1")
    assert (output.feedback_score, output.feedback_comment) == (-1, "It did not ship.")
    events = UsageEvent.objects.filter(project=project)
    assert sorted(events.values_list("name", flat=True)) == ["message_sent", "session_start"]
    assert events.get(name="session_start").external_id.startswith("elc-")  # given one, so retries are safe
    assert [(error.kind, error.external_id, error.status) for error in reported] == [("feedback", "f-unknown", 200)]
    stats = client.stats
    assert (stats.sent, stats.feedback_updated, stats.feedback_not_found, stats.rejected) == (5, 1, 1, 0)


def test_a_refused_key_is_reported_once_per_record_and_not_retried(server, project, read_key, caplog):
    client = Client(server.url, read_key.secret, flush_interval=3600)  # a key without the ingest scope

    client.log_output("k-1", "a")
    client.log_output("k-2", "b")
    with caplog.at_level(logging.ERROR, logger="expertloop_client"):
        assert client.flush(timeout=30)
    client.close()

    assert not stored_ids(project)
    assert [(error.external_id, error.status) for error in client.errors] == [("k-1", 403), ("k-2", 403)]
    assert "lacks the `ingest` scope" in client.errors[0].message
    assert (client.stats.rejected, client.stats.retries) == (2, 0)
    assert any("HTTP 403" in record.getMessage() for record in caplog.records)


def test_records_logged_in_multiprocessing_children_are_sent_before_they_exit(server, project, ingest_key):
    """A fork Process and a Pool's workers log through the parent's client and leave with os._exit (no atexit);
    a client closed before the fork stays closed in the child (client_forks.py)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CLIENT_SRC), os.environ.get("PYTHONPATH", "")])}
    script = Path(__file__).with_name("client_forks.py")
    done = subprocess.run(
        [sys.executable, str(script), server.url, ingest_key.secret], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(stored_ids(project)) == ["fork-pool-0", "fork-pool-1", "fork-pool-2", "fork-pool-3", "fork-process"]


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8000", "localhost:8000", "expertloop.example.com", "ftp://expertloop.example.com", "http://"]
)
def test_a_url_that_is_not_http_or_https_is_refused_when_the_client_is_made(url):
    # Such a URL can never work: retrying it like an outage would only fill the queue and drop records.
    with pytest.raises(ConfigurationError, match=r"http:// or https://"):
        Client(url, "el_key")


def test_objects_changed_after_logging_are_stored_as_they_were_at_the_call(server, project, ingest_key):
    client = Client(server.url, ingest_key.secret, flush_interval=3600)  # nothing is sent before flush()
    messages = [{"role": "user", "content": "Where is my parcel?"}]
    metadata = {"feature": "support-chat"}
    tags = ["returns"]
    properties = {"platform": "ios"}
    client.log_output("m-1", "It ships tomorrow.", input=messages, metadata=metadata, tags=tags)
    client.log_event("u-1", "session_start", external_id="ev-m", properties=properties)
    # What a chat endpoint does next: the answer joins the transcript, the metadata gains the latency.
    messages.append({"role": "assistant", "content": "It ships tomorrow."})
    messages[0]["content"] = "Where is my parcel now?"
    metadata["latency_ms"] = 812
    tags.append("later")
    properties["platform"] = "android"

    assert client.flush(timeout=30)
    client.close()

    output = Output.objects.get(project=project, external_id="m-1")
    assert output.input == [{"role": "user", "content": "Where is my parcel?"}]
    assert (output.metadata, output.tags) == ({"feature": "support-chat"}, ["returns"])
    assert UsageEvent.objects.get(project=project, external_id="ev-m").properties == {"platform": "ios"}


# ----------------------------------------------------------------------------------------------------------
# Reading


@pytest.fixture
def version(project, lead):
    label_outputs(project, 9)
    [tie] = label_outputs(project, 1, answers=TIE, start=50)
    adjudicate(lead=lead, item=tie, answers={"correct": False, "fix": "Parcels arrive in 3 days."})
    dataset = create_dataset(project=project, spec={"name": "Support eval", "splits": {"train": 50, "test": 50}})
    return rendered(build_version(dataset_id=dataset.pk))  # no worker here: its Parquet and hf files rendered now


def test_to_pandas_equals_the_verified_jsonl_download_and_to_hf_loads_the_same_rows(
    server, read_key, version, tmp_path
):
    client = Client(server.url, read_key.secret)  # the project comes from GET /api/v1/key
    latest = client.dataset("support-eval").version("latest")

    path = latest.download(tmp_path / "support.jsonl")
    raw = path.read_bytes()
    rows = [json.loads(line) for line in raw.splitlines()]
    frame = latest.to_pandas()
    hf = latest.to_hf(cache_dir=tmp_path / "hf")
    parquet = latest.download(tmp_path, format="parquet")  # a directory: the server's file name

    assert client.project == "support-bot" and latest.number == version.number == 1
    assert hashlib.sha256(raw).hexdigest() == version.sha256 == latest.info["sha256"]
    assert len(rows) == version.row_count == 10
    pd.testing.assert_frame_equal(frame, pd.DataFrame.from_records(rows))
    assert list(latest.iter_rows(page_size=3)) == rows  # four cursor pages
    assert list(latest.iter_rows(split="test")) == [row for row in rows if row["split"] == "test"]
    assert "Parcels arrive in 3 days." in set(frame["expected_output"].dropna())
    assert set(hf) == {row["split"] for row in rows} == {"train", "test"}
    from_hf = sorted((row for split in hf.values() for row in split), key=lambda row: row["id"])
    columns = ["id", "split", "output", "expected_output", "rubric_version", "model", "tags", "occurred_at"]
    assert [{c: row[c] for c in columns} for row in from_hf] == sorted(
        ({c: row[c] for c in columns} for row in rows), key=lambda row: row["id"]
    )
    assert [row["label"]["correct"] for row in from_hf] == [
        row["label"]["correct"] for row in sorted(rows, key=lambda row: row["id"])
    ]
    assert parquet.name == "support-bot-support-eval-v1.parquet"
    assert list(pd.read_parquet(parquet)["id"]) == [row["id"] for row in rows]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf", "support-bot-support-eval-v1.parquet", "support.jsonl"]
    client.close()


def test_a_version_is_asked_for_by_its_number_or_its_digits_as_its_url_takes_them(server, read_key, version):
    """`version("1")` raised ValueError though `/versions/1` is the URL: a string of digits is that number; any other
    string (or no positive number) is refused before a request, saying what a version is."""
    client = Client(server.url, read_key.secret, project="support-bot")
    dataset = client.dataset("support-eval")

    by_digits = dataset.version("1")

    assert by_digits.number == dataset.version(1).number == 1 and by_digits.sha256 == version.sha256
    refusal = "version is a positive number (3, or '3' as in its URL) or 'latest', not {!r}"
    for wrong in ("v1", "1.0", " 1", "0", "-1", "", "Latest", "\u0661", 0, -1, True, 1.0):  # "\u0661": an Arabic 1
        with pytest.raises(ValueError) as refused:
            dataset.version(wrong)
        assert str(refused.value) == refusal.format(wrong)
    client.close()


def _first_output_in(split: str, splits: dict[str, int], *, after: int) -> int:
    """The first number from `after` whose output (`out-<n>`, as label_outputs names it) falls in `split`."""
    return next(n for n in range(after, after + 1000) if split_of(f"out-{n:05d}", splits) == split)


def test_to_hf_loads_splits_that_each_leave_a_column_empty_with_the_versions_own_types(
    server, project, lead, read_key, tmp_path
):
    # The test split holds only a correction (no tone); train only a tone (no correction). Inferred from the first
    # split it reads, `datasets` typed the other's column null and failed: "Couldn't cast array of type string to
    # null", as on the demo's main dataset.
    splits = {"test": 50, "train": 50}
    [tie] = label_outputs(project, 1, answers=TIE, start=_first_output_in("test", splits, after=0))
    adjudicate(lead=lead, item=tie, answers={"correct": False, "fix": "Parcels arrive in 3 days."})
    friendly = ({"correct": True, "tone": "friendly"}, {"correct": True, "tone": "friendly"})
    label_outputs(project, 1, answers=friendly, start=_first_output_in("train", splits, after=100))
    dataset = create_dataset(project=project, spec={"name": "Support eval", "splits": splits})
    rendered(build_version(dataset_id=dataset.pk))
    client = Client(server.url, read_key.secret)

    hf = client.dataset("support-eval").version("latest").to_hf(cache_dir=tmp_path / "hf")

    assert {name: len(rows) for name, rows in hf.items()} == {"test": 1, "train": 1}
    assert hf["test"][0]["expected_output"] == "Parcels arrive in 3 days." and hf["test"][0]["label"]["tone"] is None
    assert hf["train"][0]["expected_output"] is None
    assert hf["train"][0]["label"]["tone"] == {"value": "friendly", "method": "unanimous"}
    assert hf["train"].features["label"]["fix"]["value"].dtype == "string"
    assert json.loads(hf["train"][0]["metadata"]) == {"topic": "shipping"}  # free-form: JSON text, as in the card
    client.close()


def test_to_hf_names_a_split_with_a_dash_as_hugging_face_wants(server, project, read_key, tmp_path):
    label_outputs(project, 2)
    dataset = create_dataset(project=project, spec={"name": "Support eval", "splits": {"hold-out": 100}})
    rendered(build_version(dataset_id=dataset.pk))
    client = Client(server.url, read_key.secret)
    latest = client.dataset("support-eval").version("latest")

    whole = latest.to_hf(cache_dir=tmp_path / "hf")
    asked_as_stored = latest.to_hf("hold-out", cache_dir=tmp_path / "hf")

    assert list(whole) == ["hold_out"] and len(whole["hold_out"]) == 2  # datasets refuses "hold-out" as a name
    assert [row["id"] for row in asked_as_stored] == [row["id"] for row in whole["hold_out"]]
    client.close()


def test_a_download_to_a_folder_not_made_yet_goes_into_it_under_the_servers_file_names(
    server, read_key, version, tmp_path
):
    # As the client's README writes it: `download("exports/", …)`. It wrote a file named `exports`, which the next
    # format's download then replaced.
    client = Client(server.url, read_key.secret)
    latest = client.dataset("support-eval").version("latest")
    folder = f"{tmp_path}/exports/"

    parquet = latest.download(folder, format="parquet")
    chat = latest.download(folder, format="openai-chat")

    assert (tmp_path / "exports").is_dir()
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == [
        "support-bot-support-eval-v1.openai-chat.jsonl",
        "support-bot-support-eval-v1.parquet",
    ]
    assert (parquet.parent, chat.parent) == (tmp_path / "exports", tmp_path / "exports")
    client.close()


def test_a_downloaded_file_gets_the_permissions_any_new_file_of_the_process_gets(server, read_key, version, tmp_path):
    # The bytes go to a temporary file first; tempfile.mkstemp made it readable by its owner alone, so a dataset
    # pulled into a shared folder or a volume another user reads was unreadable there, unlike one curl writes.
    client = Client(server.url, read_key.secret)
    latest = client.dataset("support-eval").version("latest")
    (tmp_path / "by-open").touch()
    expected = (tmp_path / "by-open").stat().st_mode & 0o777

    downloaded = latest.download(tmp_path / "support.jsonl")

    assert downloaded.stat().st_mode & 0o777 == expected != 0o600
    client.close()


def test_a_download_changed_on_the_way_fails_its_checksum_and_leaves_no_file(server, read_key, version, tmp_path):
    def flip_one_byte(path: str, headers: dict, body: bytes) -> bytes:
        if "/download" not in path or not body:
            return body
        middle = len(body) // 2
        return body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]

    with Relay(server.port, tamper=flip_one_byte) as relay:
        client = Client(relay.url, read_key.secret, project="support-bot")
        latest = client.dataset("support-eval").version(1)
        with pytest.raises(ChecksumMismatch) as caught:
            latest.download(tmp_path / "support.jsonl")
        assert len(latest.to_pandas()) == 10  # the rows endpoint went through untouched
        client.close()

    assert caught.value.expected == version.sha256 and caught.value.actual != version.sha256
    assert list(tmp_path.iterdir()) == []  # neither the file nor a partial one


def test_a_parquet_file_changed_on_the_way_fails_the_servers_repr_digest_and_leaves_no_file(
    server, read_key, version, tmp_path
):
    """One byte flipped inside the Parquet file keeps its magic bytes and its ETag: only the SHA-256 the server
    publishes in `Repr-Digest` tells."""

    def flip_one_byte(path: str, headers: dict, body: bytes) -> bytes:
        if "format=parquet" not in path or not body:
            return body
        middle = len(body) // 2
        return body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]

    stored = VersionFile.objects.get(version=version, format="parquet")
    with Relay(server.port, tamper=flip_one_byte) as relay:
        client = Client(relay.url, read_key.secret, project="support-bot")
        with pytest.raises(ChecksumMismatch) as caught:
            client.dataset("support-eval").version(1).download(tmp_path / "support.parquet", format="parquet")
        client.close()

    assert caught.value.expected == stored.sha256 and caught.value.actual != stored.sha256
    assert "Repr-Digest" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_proxy_that_gzips_and_weakens_the_etag_does_not_fail_a_correct_download(server, read_key, version, tmp_path):
    def like_nginx_gzip(path: str, headers: dict, body: bytes) -> bytes:
        if "/download" not in path:
            return body
        headers["ETag"] = f"W/{headers['ETag']}"  # nginx weakens the ETag of what it compresses
        headers["Content-Encoding"] = "gzip"
        return gzip.compress(body)

    with Relay(server.port, tamper=like_nginx_gzip) as relay:
        client = Client(relay.url, read_key.secret, project="support-bot")
        latest = client.dataset("support-eval").version(1)
        jsonl = latest.download(tmp_path / "support.jsonl")
        csv = latest.download(tmp_path / "support.csv", format="csv")
        parquet = latest.download(tmp_path / "support.parquet", format="parquet")  # its ETag has a revision, `.v3`
        client.close()

    assert hashlib.sha256(jsonl.read_bytes()).hexdigest() == version.sha256
    assert len(pd.read_csv(csv)) == 10 and len(pd.read_parquet(parquet)) == 10


def test_reads_name_what_went_wrong(server, project, ingest_key, read_key):
    with Client(server.url, read_key.secret) as reader, Client(server.url, ingest_key.secret) as writer:
        with pytest.raises(NotFound) as missing:
            reader.dataset("no-such-dataset").versions()
        with pytest.raises(PermissionDenied) as refused:
            writer.metrics.quality()

    assert missing.value.status == 404 and missing.value.errors
    assert refused.value.status == 403 and "lacks the `read` scope" in str(refused.value)


REASON = "Holds gold a lead overturned: the refund window is 30 days."


@pytest.fixture
def ci_key(project, lead):
    """A CI job's key, issued by a lead: `read` and `datasets`."""
    return create_api_key(project=project, name="ci", scopes=["read", "datasets"], created_by=lead)


def test_a_leads_key_withdraws_a_version_and_its_rows_downloads_and_diffs_then_raise_gone_with_the_reason(
    server, project, ci_key, version, tmp_path
):
    label_outputs(project, 2, start=100)
    build_version(dataset_id=version.dataset_id)  # version 2
    client = Client(server.url, ci_key.secret)
    dataset = client.dataset("support-eval")
    first = dataset.version(1)
    assert dataset.diff(1) == {
        "from": 1, "to": 2, "added": ["out-00100", "out-00101"], "removed": [], "changed": [],
        "added_left_out": 0, "removed_left_out": 0, "changed_left_out": 0, "changed_rows": [],
        "changed_rows_left_out": 0,
    }  # fmt: skip

    answer = first.withdraw(REASON)

    assert (answer["number"], answer["status"], answer["withdrawn_note"]) == (1, "withdrawn", REASON)
    assert answer["withdrawn_by_key"] == ci_key.api_key.prefix and first.info == answer
    assert dataset.version(1).withdraw("A retry, in other words.") == answer  # harmless: nothing changes
    reads = {
        "download": lambda: first.download(tmp_path / "v1.jsonl"),
        "parquet": lambda: first.download(tmp_path / "v1.parquet", format="parquet"),
        "rows": lambda: list(first.iter_rows()),
        "diff": lambda: dataset.diff(1, 2),
        "diff to": lambda: dataset.diff(2, 1),
    }
    for name, read in reads.items():
        with pytest.raises(Gone) as gone:
            read()
        assert gone.value.status == 410 and f"Version 1 was withdrawn. {REASON}" in str(gone.value), name
    assert list(tmp_path.iterdir()) == []
    assert dataset.version("latest").number == 2
    client.close()


def test_a_versions_rubric_versions_and_questions_are_properties_as_the_http_endpoints_answer_them(
    server, project, ci_key
):
    """`questions` and `rubric_versions` were only in `info`, untyped: now properties, as `sha256` and `number` are,
    kept by a withdrawal (whose answer `info` becomes)."""
    label_outputs(project, 2)
    wider = [{**question, "scale": [1, 7]} if question["kind"] == "rating" else question for question in QUESTIONS]
    publish_rubric(project=project, questions=wider)
    label_outputs(project, 2, answers=({"correct": True, "helpful": 7}, {"correct": True, "helpful": 6}), start=100)
    build_version(dataset_id=create_dataset(project=project, spec={"name": "Support eval"}).pk)
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ci_key.secret}"})
    answer = http.get("/api/v1/projects/support-bot/datasets/support-eval/versions/1").json()
    client = Client(server.url, ci_key.secret)
    dataset = client.dataset("support-eval")
    version = dataset.version(1)

    assert version.rubric_versions == answer["rubric_versions"] == [1, 2]
    assert version.questions == answer["questions"]
    helpful = next(question for question in version.questions if question["key"] == "helpful")
    assert (helpful["changed"], helpful["what_changed"]) == (True, ["scale"])
    assert [(asked["rubric_version"], asked["scale"]) for asked in helpful["asked"]] == [(1, [1, 5]), (2, [1, 7])]
    assert [listed["questions"] for listed in dataset.versions()] == [answer["questions"]]
    version.withdraw(REASON)
    assert (version.rubric_versions, version.questions) == ([1, 2], answer["questions"])
    http.close()
    client.close()


def test_a_withdrawal_the_server_refuses_raises_the_clients_error_with_the_servers_message(
    server, project, lead, engineer, read_key, ci_key, version
):
    DatasetVersion.objects.create(dataset=version.dataset, number=2, status=VersionStatus.BUILDING)
    engineers = create_api_key(project=project, name="eng", scopes=["read", "datasets"], created_by=engineer)
    ci = Client(server.url, ci_key.secret).dataset("support-eval")

    refusals = [
        (PermissionDenied, "issued by someone who is not a lead", Client(server.url, engineers.secret), 1, REASON),
        (PermissionDenied, "datasets", Client(server.url, read_key.secret), 1, REASON),
        (BadRequest, "Name the version to withdraw by its number", None, "latest", REASON),
        (BadRequest, "reason: ", None, 1, "  "),
        (NotFound, "HTTP 404", None, 9, REASON),
        (NotReady, "still being built", None, 2, REASON),
    ]
    for error, message, client, number, reason in refusals:
        dataset = client.dataset("support-eval") if client else ci
        with pytest.raises(error, match=message) as raised:
            dataset.version(number).withdraw(reason)
        assert raised.value.errors and raised.value.errors[0]["message"], message

    assert set(DatasetVersion.objects.values_list("status", flat=True)) == {VersionStatus.READY, VersionStatus.BUILDING}


def test_a_withdrawal_that_waits_for_a_build_in_flight_is_waited_for_past_the_clients_request_timeout(
    server, project, ci_key, version
):
    """The server withdraws a version only once a build copying its rows is over (minutes for a large one): the
    client waits for that answer, rather than giving up after its 1 s request timeout and its retries (three
    'No answer' errors while the withdrawal went through all the same)."""
    label_outputs(project, 2, start=100)  # new rows: version 2 is built on version 1's
    withdrawal = {}
    client = Client(server.url, ci_key.secret, timeout=1)

    with held_halfway(lambda: build_version(dataset_id=version.dataset_id), DatasetLine._meta.db_table):
        started = time.monotonic()
        thread, errors = in_thread(
            lambda: withdrawal.setdefault("answer", client.dataset("support-eval").version(1).withdraw(REASON))
        )
        time.sleep(5)  # the build holds what the withdrawal needs past every try of a 1 s timeout
    thread.join(60)

    assert errors == [] and withdrawal["answer"]["status"] == "withdrawn"
    assert time.monotonic() - started >= 5
    assert DatasetVersion.objects.get(number=2).status == VersionStatus.READY
    client.close()


def test_a_withdrawal_answered_429_or_503_is_sent_again_after_the_wait_and_done_once(server, project, ci_key, version):
    answers = iter([(429, {"Retry-After": "1"}), (503, {"Retry-After": "1"})])

    with Relay(server.port, refuse=lambda path: next(answers, None) if path.endswith("/withdraw") else None) as relay:
        answer = Client(relay.url, ci_key.secret).dataset("support-eval").version(1).withdraw(REASON)

    assert answer["status"] == "withdrawn" and answer["withdrawn_note"] == REASON
    tries = [moment for moment, path in relay.seen if path.endswith("/withdraw")]
    assert len(tries) == 3 and tries[1] - tries[0] >= 1.0 and tries[2] - tries[1] >= 1.0


def test_build_asks_the_worker_for_a_version_and_waits_until_it_is_ready(
    server, project, ci_key, read_key, version, worker
):
    label_outputs(project, 2, start=100)
    dataset = Client(server.url, ci_key.secret).dataset("support-eval")

    built = dataset.build(interval=0.5, timeout=120)

    assert (built["build"]["state"], built["latest_version"]) == ("idle", 2)
    assert len(list(dataset.version("latest").iter_rows())) == 12
    assert dataset.build(interval=0.5, timeout=120)["latest_version"] == 2  # nothing changed: no version made
    asked = dataset.build(full=True, wait=False)
    assert (asked["status"], asked["latest_version"]) == ("requested", 2)
    assert asked["status_url"].endswith("/api/v1/projects/support-bot/datasets/support-eval")
    with pytest.raises(PermissionDenied, match="datasets"):
        Client(server.url, read_key.secret).dataset("support-eval").build()


@pytest.fixture
def impatient_worker():
    """A worker whose statements PostgreSQL cancels after 1 s (an operator's DB_TASK_STATEMENT_TIMEOUT)."""
    process = start_worker(DB_TASK_STATEMENT_TIMEOUT="1")
    yield process
    stop_worker(process)
    process.log.unlink(missing_ok=True)


def test_a_build_the_worker_fails_raises_build_failed_with_the_servers_reason(
    server, project, ci_key, version, impatient_worker
):
    """While an index is built on the dataset lines (CREATE INDEX holds their table in SHARE mode), the worker's
    build cannot write its new lines: PostgreSQL cancels the statement at the worker's timeout and the build fails.
    `build()` raises BuildFailed with the reason the server gives, and a build asked once the table is free makes
    the version."""
    label_outputs(project, 2, start=100)  # new rows: the build writes lines
    dataset = Client(server.url, ci_key.secret).dataset("support-eval")

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {DatasetLine._meta.db_table} IN SHARE MODE")
        with pytest.raises(BuildFailed) as failed:
            dataset.build(interval=0.5, timeout=120)

    reason = dataset.details()["build"]["error"]
    assert "canceling statement due to statement timeout" in reason
    assert str(failed.value) == f"The build of support-eval failed: {reason}"
    assert DatasetVersion.objects.get(number=2).status == VersionStatus.FAILED
    built = dataset.build(interval=0.5, timeout=120)
    assert (built["build"]["state"], built["build"]["error"], built["latest_version"]) == ("idle", "", 3)


def test_a_downloads_503_of_a_database_that_is_down_is_retried_as_a_read_not_waited_out_as_a_file_being_made(
    server, read_key, version, tmp_path, monkeypatch
):
    monkeypatch.setattr(client_datasets, "PREPARE_WAIT", 20.0)  # the client's wait for a worker's file, shortened
    database_down = json.dumps({"errors": [{"index": None, "field": None, "message": UNAVAILABLE_MESSAGE}]})
    answer = (503, {"Retry-After": "1", "Content-Type": "application/json"}, database_down.encode())

    with Relay(server.port, refuse=lambda path: answer if "/download" in path else None) as relay:
        latest = Client(relay.url, read_key.secret).dataset("support-eval").version(1)
        for fmt in ("jsonl", "parquet"):
            started = time.monotonic()
            with pytest.raises(ServerError) as raised:
                latest.download(tmp_path / f"v1.{fmt}", format=fmt)
            assert not isinstance(raised.value, StillPreparing), fmt
            assert raised.value.status == 503 and "The database is not answering" in str(raised.value)
            assert time.monotonic() - started < 10, fmt  # three tries a second apart, not the worker's wait

    assert sum("/download" in path for _, path in relay.seen) == 6
    assert list(tmp_path.iterdir()) == []


def test_an_output_and_the_label_export_are_what_the_http_endpoints_answer(server, project, read_key):
    label_outputs(project, 3)
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {read_key.secret}"})
    client = Client(server.url, read_key.secret)

    output = client.output("out-00001", include=["labels", "gold"])
    labels = list(client.iter_labels())

    assert output == http.get("/api/v1/outputs/out-00001", params={"include": "labels,gold"}).json()
    assert output["items"][0]["labels"] and output["items"][0]["gold"]["status"] == "resolved"
    assert client.output("out-00001")["items"][0].keys().isdisjoint({"labels", "gold"})
    exported = http.get("/api/v1/labels")
    assert labels == [json.loads(line) for line in exported.text.splitlines()] and len(labels) == 6
    with pytest.raises(NotFound):
        client.output("never-logged")
    with pytest.raises(BadRequest, match="from"):
        list(client.iter_labels(from_="last week"))
    client.close()


@pytest.mark.parametrize("include", ["labels,gold", "labels, gold", ("labels", "gold")])
def test_an_outputs_include_may_be_one_string_as_the_url_writes_it(server, project, read_key, include):
    """`include="labels,gold"` was sent letter by letter (a string is a sequence): 'Unknown values `a`, `b`, …'."""
    [item] = label_outputs(project, 1)
    client = Client(server.url, read_key.secret)

    output = client.output(item.output.external_id, include=include)
    only_labels = client.output(item.output.external_id, include="labels")

    assert output["items"][0]["labels"] and output["items"][0]["gold"]["status"] == "resolved"
    assert "labels" in only_labels["items"][0] and "gold" not in only_labels["items"][0]
    client.close()


def test_an_output_whose_id_is_facets_is_not_read_as_the_facets_of_every_output(server, project, read_key):
    """`/api/v1/outputs/facets` is the facets endpoint, so `output("facets")` returned every output's facets as if
    they were the output (a dict of `total`, `facets`, `histograms`). It says how to find that output instead."""
    OutputFactory(project=project, external_id="facets")
    client = Client(server.url, read_key.secret)

    with pytest.raises(ValueError, match=r"iter_outputs\(q=\"facets\"\)"):
        client.output("facets")

    assert [output["external_id"] for output in client.iter_outputs(q="facets")] == ["facets"]
    client.close()


def test_an_empty_id_is_a_value_error_not_a_request(server, project, read_key):
    """`output("")` asked for `/api/v1/outputs/` and `erase_end_user("")` for `/api/v1/end-users/`: a NotFound saying
    "No API endpoint has this URL", which a script retries or ignores when the bug is its own empty variable."""
    client = Client(server.url, read_key.secret)

    with pytest.raises(ValueError, match="external_id is empty"):
        client.output("")
    with pytest.raises(ValueError, match="end_user_id is empty"):
        client.erase_end_user("")
    client.close()


def test_metrics_and_reports_are_what_the_http_endpoints_answer(server, project, read_key, expert):
    created_weeks_ago(project, 4)  # it existed in the weeks it has metrics of, which the default range then holds
    this_week = current_week(project)
    queue = Queue.objects.create(project=project, slug="sample", name="Sample")
    for back in (2, 1, 0):
        store_week(project, queue, this_week - timedelta(weeks=back), passes=20 + back, n=40)
    store_retention(project, this_week - timedelta(weeks=2), this_week)
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {read_key.secret}"})
    client = Client(server.url, read_key.secret)
    first = week_label(this_week - timedelta(weeks=2))

    def endpoint(path: str, **params) -> dict:
        response = http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    quality = client.metrics.quality(from_=first, queue="sample")
    assert quality == endpoint("/api/v1/metrics/quality", **{"from": first, "queue": "sample"})["results"]
    assert len(quality) == 6 and quality.meta["from"] == first
    pooled = client.metrics.quality(from_=first, pooled=True)  # the meeting's headline figures, queues pooled
    assert pooled == endpoint("/api/v1/metrics/quality", **{"from": first, "pooled": "true"})["results"]
    assert pooled and all(row["queue"] is None for row in pooled)
    for name, table in (("agreement", "results"), ("throughput", "queues"), ("retention", "results")):
        answer = endpoint(f"/api/v1/metrics/{name}")
        rows = getattr(client.metrics, name)()
        assert rows == answer.pop(table) and rows.meta == answer and rows, name
    assert client.metrics.agreement().table("experts") == endpoint("/api/v1/metrics/agreement")["experts"]
    # A name that is no table: `project` read as a list of its letters, a typo as a bare KeyError('expert').
    for not_a_table in ("project", "expert"):
        with pytest.raises(KeyError, match="its other tables: experts"):
            client.metrics.agreement().table(not_a_table)
    retention = client.metrics.retention(segment="pass").to_pandas()
    assert set(retention["segment"]) == {"pass"} and len(retention) == 3
    changes = client.metrics.changes()
    assert changes.meta == {k: v for k, v in endpoint("/api/v1/metrics/changes").items() if k != "results"}

    week = week_label(this_week)
    report = client.cycles.report(week)
    expected = endpoint(f"/api/v1/cycles/{week}/report")
    # An open week's report is built at each request: only its timestamp may differ.
    assert report.pop("generated_at") and expected.pop("generated_at")
    assert report == expected and report["status"] == "open" and report["quality"]
    markdown = client.cycles.report(week, format="markdown")
    assert markdown == http.get(f"/api/v1/cycles/{week}/report", params={"format": "markdown"}).text
    assert markdown.startswith("#") and week in markdown
    assert client.cycles.latest_week() == changes.meta["week"]
    client.close()


def _answer(http: httpx.Client, path: str, **params):
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_datasets_are_listed_and_defined_as_the_http_endpoints_answer_and_a_create_is_not_repeated(
    server, project, ci_key, read_key, version
):
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ci_key.secret}"})
    client = Client(server.url, ci_key.secret)

    created = client.create_dataset(
        "Nightly eval",
        description="Resolved items, tagged returns.",
        queues=("sample",),
        tags_any=["returns"],
        since=datetime(2026, 1, 1, tzinfo=UTC),
        splits={"train": 70, "test": 30},
        auto_rebuild=False,
    )

    details = created.details()
    assert created.slug == details["slug"] == "nightly-eval"
    assert (details["queues"], details["splits"], details["auto_rebuild"]) == (
        ["sample"],
        {"test": 30, "train": 70},
        False,
    )
    assert details["filters"] == {"tags_any": ["returns"], "since": "2026-01-01T00:00:00Z"}
    assert (details["latest_version"], details["build"]["state"]) == (None, "idle")
    listed = client.datasets()
    assert listed == _answer(http, "/api/v1/projects/support-bot/datasets")["results"]
    assert [dataset["slug"] for dataset in listed] == ["support-eval", "nightly-eval"]
    assert Client(server.url, read_key.secret).datasets() == listed  # `read` lists them too
    with pytest.raises(BadRequest) as taken:
        client.create_dataset("Nightly  EVAL", splits={"train": 50, "test": 40}, queues=["nope"])
    assert {error["field"] for error in taken.value.errors} == {"name", "splits", "queues"}
    with pytest.raises(NameTaken) as taken:
        client.create_dataset("Nightly  EVAL")
    assert (taken.value.status, [error["field"] for error in taken.value.errors]) == (409, ["name"])
    with pytest.raises(BadRequest):  # code written when a name taken was a 400 still catches it
        client.create_dataset("Nightly eval")
    with pytest.raises(PermissionDenied, match="datasets"):
        Client(server.url, read_key.secret).create_dataset("Another")

    # A 503 may follow a create that went through: raised, not sent again. A 429 is: the server did nothing then.
    answers = iter([(429, {"Retry-After": "1"}), (503, {"Retry-After": "1"})])
    refuse = lambda path: next(answers, None) if path.endswith("/datasets") else None  # noqa: E731
    with Relay(server.port, refuse=refuse) as relay:
        through_relay = Client(relay.url, ci_key.secret, project="support-bot")
        with pytest.raises(ServerError) as unanswered:
            through_relay.create_dataset("Weekly eval")
        assert through_relay.create_dataset("Weekly eval").slug == "weekly-eval"
    assert unanswered.value.status == 503
    assert [path for _, path in relay.seen].count("/api/v1/projects/support-bot/datasets") == 3
    assert [dataset["slug"] for dataset in client.datasets()][-1] == "weekly-eval"
    client.close()


def test_a_dataset_of_a_models_refund_promises_is_defined_with_its_filters(server, project, ci_key):
    client = Client(server.url, ci_key.secret)

    created = client.create_dataset(
        "Refund promises", models=("gpt-4.1-mini",), metadata={"plan": ("pro", "team")},
        text_any=("refund will arrive", "refund arrives"),
    )  # fmt: skip

    assert created.details()["filters"] == {
        "models": ["gpt-4.1-mini"], "metadata": {"plan": ["pro", "team"]},
        "text_any": ["refund will arrive", "refund arrives"],
    }  # fmt: skip
    with pytest.raises(BadRequest) as refused:
        client.create_dataset("Blank", metadata={"plan": ()})
    assert [error["field"] for error in refused.value.errors] == ["metadata"]
    with pytest.raises(BadRequest) as refused:
        client.create_dataset("Blank phrase", text_any=["refund", " "])
    assert [error["field"] for error in refused.value.errors] == ["text_any"]
    client.close()


def test_outputs_are_found_page_by_page_with_the_explore_filters_and_counted_as_the_http_endpoints_answer(
    server, project, read_key
):
    label_outputs(project, 3, model="gpt-a", tags=["returns"])
    for n in range(4):
        OutputFactory(
            project=project, external_id=f"raw-{n}", model="gpt-b", tags=["billing"], metadata={"plan": "pro"}
        )
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {read_key.secret}"})
    client = Client(server.url, read_key.secret)

    everything = list(client.iter_outputs(page_size=2))

    pages, link = [], "/api/v1/outputs?page_size=2"
    while link:
        page = http.get(link).json()
        pages.append(page["results"])
        link = page["next"]
    assert len(pages) == 4 and everything == [output for page in pages for output in page]
    assert len({output["external_id"] for output in everything}) == 7
    labeled = {"out-00000", "out-00001", "out-00002"}
    raw = {f"raw-{n}" for n in range(4)}
    cases = [
        ({"model": "gpt-b"}, {"model": "gpt-b"}, raw),
        ({"model": ["gpt-a", "gpt-b"]}, {"model": ["gpt-a", "gpt-b"]}, labeled | raw),
        ({"tag": ("returns",), "labeled": True}, {"tag": "returns", "labeled": "yes"}, labeled),
        ({"labeled": False, "meta": "plan:pro"}, {"labeled": "no", "meta": "plan:pro"}, raw),
        ({"from_": date(2000, 1, 1), "to": "2000-01-02"}, {"from": "2000-01-01", "to": "2000-01-02"}, set()),
    ]
    for filters, params, expected in cases:
        found = list(client.iter_outputs(**filters))
        assert found == _answer(http, "/api/v1/outputs", **params)["results"], filters
        assert {output["external_id"] for output in found} == expected, filters
        facets = client.output_facets(**filters)
        assert facets == _answer(http, "/api/v1/outputs/facets", **params) and facets["total"] == len(expected)
        assert facets["total_estimated"] is False, filters  # the list's name for it, as the client documents
    with pytest.raises(BadRequest, match="colour") as unknown:
        list(client.iter_outputs(colour="red"))
    assert unknown.value.errors[0]["field"] == "colour"
    with pytest.raises(BadRequest, match="labeled"):
        client.output_facets(labeled="maybe")
    client.close()


def test_an_end_user_is_erased_and_erasing_again_is_harmless(server, project, read_key):
    privacy = create_api_key(project=project, name="privacy", scopes=["privacy"])
    for external_id, end_user in (("a-1", "team/u 7"), ("a-2", "team/u 7"), ("b-1", "u-kept")):
        OutputFactory(project=project, external_id=external_id, end_user_id=end_user)
    client = Client(server.url, privacy.secret)

    assert client.erase_end_user("team/u 7") is None

    assert stored_ids(project) == ["b-1"]
    client.erase_end_user("team/u 7")  # again, and an id never known: the same answer
    client.erase_end_user("never-seen")
    with pytest.raises(PermissionDenied, match="privacy"):
        Client(server.url, read_key.secret).erase_end_user("u-kept")
    # An erasure repeated changes nothing: a 503 is sent again after its wait, as a read is.
    answers = iter([(503, {"Retry-After": "1"})])
    with Relay(server.port, refuse=lambda path: next(answers, None) if "/end-users/" in path else None) as relay:
        Client(relay.url, privacy.secret).erase_end_user("u-kept")
    assert [path for _, path in relay.seen] == ["/api/v1/end-users/u-kept"] * 2
    assert stored_ids(project) == []
    client.close()


def test_the_redaction_rules_in_force_are_what_the_http_endpoint_answers(server, project, read_key, lead):
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {read_key.secret}"})
    client = Client(server.url, read_key.secret)
    none = {"version": None, "builtins": [], "phone_region": None, "custom": [], "created_at": None}
    assert client.redaction_rules() == none

    custom = [{"name": "order", "pattern": r"ORD-\d+"}]
    save_rule_set(project=project, builtins=["email"], custom=custom, phone_region="US", actor=lead)

    rules = client.redaction_rules()
    assert rules == _answer(http, "/api/v1/redaction-rules")
    assert (rules["version"], rules["builtins"], rules["custom"]) == (1, ["email"], custom)
    client.close()


def test_the_rubric_and_the_queues_are_what_the_http_endpoints_answer(server, project, read_key):
    publish_rubric(project=project, questions=QUESTIONS[:1])
    publish_rubric(project=project, questions=QUESTIONS)
    Queue.objects.create(project=project, slug="complaints", name="Complaints", priority=5)
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {read_key.secret}"})
    client = Client(server.url, read_key.secret)

    assert client.rubric() == _answer(http, "/api/v1/rubric")
    older = client.rubric(version=1)
    assert older == _answer(http, "/api/v1/rubric", version=1) and len(older["questions"]) == 1
    queues = client.queues()
    assert list(queues) == _answer(http, "/api/v1/queues")["results"] and queues[0]["slug"] == "complaints"
    with pytest.raises(NotFound):
        client.rubric(version=3)
    client.close()


def test_platform_usage_is_what_the_http_endpoint_answers_an_operators_token(server, read_key):
    plant_projects(2)
    operator = UserFactory(username="opal")
    operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    token = issue_operator_token(user=operator, name="chargeback").secret
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
    client = Client(server.url, token)

    usage = client.platform_usage()

    assert usage == _answer(http, "/api/v1/platform/usage") and len(usage) == 2 * TREND
    weeks = sorted({row["week"] for row in usage})
    one = client.platform_usage(project="p-001", since=date.fromisoformat(weeks[-2]), until=weeks[-1])
    assert [(row["project"], row["week"]) for row in one] == [("p-001", weeks[-1]), ("p-001", weeks[-2])]
    assert one == _answer(http, "/api/v1/platform/usage", project="p-001", since=weeks[-2], until=weeks[-1])
    with pytest.raises(BadRequest, match="No project 'no-such-project'"):  # a 400 naming the parameter, as the page
        client.platform_usage(project="no-such-project")
    with pytest.raises(BadRequest, match="since"):
        client.platform_usage(since="last week")
    with pytest.raises(AuthenticationFailed):
        Client(server.url, read_key.secret).platform_usage()  # a project's key never speaks for the platform
    client.close()


def test_a_create_that_got_no_answer_is_raised_at_once_not_sent_again(black_hole):
    """The server may have created the dataset before its answer was lost: a second try would be refused as a name
    taken, so the client raises after the first (1 s) instead of trying three times."""
    client = Client(f"http://127.0.0.1:{black_hole}", "el_test_key", project="support-bot", timeout=1)
    started = time.monotonic()

    with pytest.raises(ServerError, match="No answer"):
        client.create_dataset("Nightly eval")

    assert time.monotonic() - started < 3  # three tries would take 3 s and their 1.5 s of backoff


def test_metrics_take_a_date_for_from_and_to_as_iter_outputs_does(server, project, read_key):
    """`metrics.quality(from_=date(...))` was a 400 (weeks were labels only): the server reads a day as the project's
    cycle week holding it, and the client passes a `date` through."""
    created_weeks_ago(project, 4)
    this_week = current_week(project)
    queue = Queue.objects.create(project=project, slug="sample", name="Sample")
    for back in (2, 1, 0):
        store_week(project, queue, this_week - timedelta(weeks=back), passes=20 + back, n=40)
    client = Client(server.url, read_key.secret)
    first, last = this_week - timedelta(weeks=2), this_week - timedelta(weeks=1)

    by_date = client.metrics.quality(from_=first + timedelta(days=3), to=last + timedelta(days=6))
    by_label = client.metrics.quality(from_=week_label(first), to=week_label(last))

    assert by_date == by_label and by_date.meta == by_label.meta
    assert (by_date.meta["from"], by_date.meta["to"]) == (week_label(first), week_label(last))
    assert {row["week"] for row in by_date} == {week_label(first), week_label(last)}
    assert client.metrics.retention(from_=first, to=last).meta["from"] == week_label(first)
    with pytest.raises(BadRequest, match="not a day of the calendar"):
        client.metrics.agreement(from_="2026-02-30")
    client.close()


def test_labels_changes_and_reports_take_a_date_as_the_metrics_do(server, project, read_key):
    """`iter_labels(from_=date(...))`, `metrics.changes(week=date(...))` and `cycles.report(date(...))` took week
    labels only (a 400, or a TypeError before the request): the client passes a `date` through, and the server reads
    it as the project's cycle week holding that day, as the metrics' `from_` and `to`."""
    created_weeks_ago(project, 4)
    label_outputs(project, 2)
    this_week = current_week(project)
    client = Client(server.url, read_key.secret)
    day = this_week + timedelta(days=3)

    by_date = list(client.iter_labels(from_=day, to=day))
    assert by_date == list(client.iter_labels(from_=week_label(this_week), to=week_label(this_week)))
    assert len(by_date) == 4 and {label["week"] for label in by_date} == {week_label(this_week)}
    assert client.metrics.changes(week=day).meta["week"] == week_label(this_week)
    assert client.metrics.changes(week=day.isoformat()).meta["week"] == week_label(this_week)
    # A moment names its day (the server refuses "2026-11-26T12:00:00+00:00" as a week).
    noon = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    assert client.metrics.changes(week=noon).meta["week"] == week_label(this_week)
    assert client.cycles.report(day)["week"] == week_label(this_week)
    assert week_label(this_week) in client.cycles.report(day, format="markdown")
    with pytest.raises(BadRequest, match="not a day of the calendar"):
        client.metrics.changes(week="2026-02-30")
    with pytest.raises(BadRequest, match="not a day of the calendar"):
        client.cycles.report("2026-02-30")
    client.close()
