"""W3 pull benchmark: stream a dataset version over HTTP (JSONL, Parquet) against the real server, and the floor.

    .venv/bin/python bench/w3_pull.py                        # the BENCHMARKS.md workload (~2-4 min)
    .venv/bin/python bench/w3_pull.py --rows 20000 --runs 1
    .venv/bin/python bench/w3_pull.py --profile              # where the server's JSONL path spends its time

What one run does (see bench/README.md):
  1. creates a fresh PostgreSQL database, migrates it, creates (through the services, in a subprocess) a
     project, a rubric, a dataset and a `read` API key;
  2. writes two READY versions of that dataset straight into the tables (psycopg COPY, no labels
     needed): v1 with `--small-rows` rows (20,000) and v2 = `latest` with `--rows` rows (100,000), each
     row's canonical JSON line (~1.7 KB) built from bench/records.py, the version's sha256 computed
     over the lines exactly as labeling/services/datasets.py does; fills a one-jsonb-column table with
     the same 100,000 documents for the reference floor; VACUUM ANALYZE, CHECKPOINT;
  3. starts gunicorn (`expertloop.wsgi`, DEBUG=false, REDIS_URL = Redis db 14, flushed before and
     after), warms every worker up;
  4. for each run and each format: GET …/versions/1/download and …/versions/latest/download with one
     http.client connection, reading 64 KB at a time, timing the first body byte and the last, counting
     lines and hashing the body (JSONL: must equal the version's sha256) or parsing it (Parquet: row
     count with pyarrow), while sampling the server's RSS (gunicorn master + workers) every 50 ms;
  5. in the same run, the floor: `COPY (SELECT line.text FROM labeling_datasetrow JOIN labeling_datasetline …
     ORDER BY position) TO STDOUT` through psycopg's copy API (read and hashed the same way), and, for
     reference, `COPY w3_floor (doc) TO STDOUT` of the jsonb table;
  6. prints medians and the ratio JSONL rows/s ÷ COPY-out floor, writes bench/out/w3-<timestamp>.json.
"""

from __future__ import annotations

import cProfile
import csv
import hashlib
import http.client
import io
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

import msgspec
import records
from harness import OUT
from harness.database import add_database_options, django_setup, fresh_database, run_setup, server_env
from harness.profiling import cprofile_text
from harness.report import git_state, log, machine, new_stamp, save_and_print, save_profile, workload_parser
from harness.sampling import TICK, CpuMeter, RssSampler, children, cpu_ticks, pss_mb, self_rss_mb
from harness.server import Gunicorn, add_server_options
from psycopg.types.json import Jsonb

PROJECT_SLUG = "bench-w3"
DATASET_NAME = "bench-w3"  # its slug too
SPLITS = {"test": 20, "train": 80}
FLOOR_TABLE = "w3_floor"
# A version's lines in order, as COPY … TO STDOUT reads them: each row's line by its id.
LINES_OUT = (
    "COPY (SELECT line.text FROM labeling_datasetrow row_ JOIN labeling_datasetline line ON line.id = row_.line_id "
    "WHERE row_.version_id = %s ORDER BY row_.position) TO STDOUT"
)
CHUNK = 64 * 1024
FORMATS = ("jsonl", "csv", "parquet")
LABEL_STUDIO = {"rows_per_s": 710, "first_byte_s": 140, "rss_mb": 1300, "copy_floor_rows_per_s": 158_000}
TARGET_RATIO = 0.5
TARGET_RSS_MB = 200
RUBRIC = [
    {"key": "correct", "kind": "binary", "prompt": "Is the answer correct?"},
    {"key": "helpful", "kind": "rating", "prompt": "How helpful is it?", "scale": [1, 5]},
    {"key": "tone", "kind": "choice", "prompt": "Tone", "options": ["neutral", "friendly", "curt"]},
    {
        "key": "issues",
        "kind": "multi_choice",
        "prompt": "What is wrong with it?",
        "options": ["factual", "incomplete", "unsafe", "format"],
        "required": False,
    },
    {"key": "critique", "kind": "text", "prompt": "Explain", "required": False},
    {"key": "corrected", "kind": "correction", "prompt": "The answer it should have given", "required": False},
]

SETUP_CODE = """
import json, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
from labeling.models import Project
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import create_dataset
from labeling.services.rubrics import publish_rubric
project = Project.objects.create(slug=%(project)r, name="Bench W3")
rubric = publish_rubric(project=project, questions=json.loads(%(rubric)r))
dataset = create_dataset(project=project, spec={"name": %(dataset)r, "splits": json.loads(%(splits)r)})
key = create_api_key(project=project, name="bench", scopes=["read"])
print("BENCH", project.pk, rubric.version, dataset.pk, dataset.slug, key.secret)
"""

# The stored files of the typed formats (Parquet, Hugging Face) are rendered by a worker once a version is ready;
# the versions written by COPY get theirs here, before any download is timed.
RENDER_CODE = """
import sys, time
import django
django.setup()
from labeling.services.version_files import render_version_files
began = time.perf_counter()
for version_id in sys.argv[1:]:
    render_version_files(version_id=int(version_id))
print("BENCH", round(time.perf_counter() - began, 1))
"""


# ----------------------------------------------------------------------------------------------
# The rows: canonical dataset lines built from bench/records.py, as labeling/services/datasets.py makes them

_encoder = msgspec.json.Encoder(order="sorted")  # the service's encoder: sorted keys, compact
_MASK = (1 << 64) - 1


def split_of(external_id: str, splits: dict[str, int]) -> str:
    """labeling.services.datasets.split_of, copied so the client needs no Django."""
    bucket = int.from_bytes(hashlib.sha256(external_id.encode()).digest()[:8], "big") % 100
    for name, share in sorted(splits.items()):
        if bucket < share:
            return name
        bucket -= share
    return sorted(splits)[-1]


def _annotator(expert: int) -> str:
    return f"annotator-{records._mix(1_000_003 * expert):016x}"[:20]


def _django_iso(iso_millis: str) -> str:
    """`2026-01-05T10:11:12.345+00:00` (records.py) as Django's DateTimeField.isoformat() prints it."""
    return datetime.fromisoformat(iso_millis).isoformat()


def row(index: int, rubric_version: int = 1) -> dict:
    """Dataset row `index`, shaped like labeling.services.datasets.rows._row: two or three annotators, the
    resolved gold answers, sometimes a critique and (one row in eight) an adjudicated correction."""
    record = records.record(index)
    h = records._mix(7 * index + 5)
    h, experts = divmod(h, 40)
    h, third = divmod(h, 5)  # one row in five has a third annotator
    h, correct = divmod(h, 5)  # 0 = incorrect
    h, helpful = divmod(h, 5)
    h, tone = divmod(h, 3)
    h, issue = divmod(h, 6)
    h, correction = divmod(h, 8)
    h, hours = divmod(h, 72 * 3600)
    h, words = divmod(h, 30)
    n_annotators = 3 if third == 0 else 2
    is_correct = correct != 0
    tones = RUBRIC[2]["options"]
    issue_options = RUBRIC[3]["options"]
    issues = [] if is_correct or issue >= 4 else [issue_options[issue]]
    if not is_correct and issue < 2:
        issues.append("incomplete" if issue == 0 else "format")
    corrected = records._text(h & 0xFFFFFFFF, 25 + words) if correction == 0 else None
    annotations = []
    critiques = []
    for n in range(n_annotators):
        answers = {
            "correct": is_correct if n < 2 else not is_correct,
            "helpful": 1 + (helpful + n) % 5,
            "tone": tones[(tone + (n == 2)) % 3],
            "issues": sorted(set(issues)),
        }
        if not is_correct and n == 0:
            critique = records._text((h >> 32) + n, 12 + words // 2)
            answers["critique"] = critique
            critiques.append(critique)
        if corrected and n == 0:
            answers["corrected"] = corrected
        annotations.append(
            {"annotator": _annotator((experts + 7 * n) % 40), "rubric_version": rubric_version, "answers": answers}
        )
    gold = {
        "correct": {"value": is_correct, "method": "unanimous" if n_annotators == 2 else "majority"},
        "helpful": {"value": statistics.median_low(a["answers"]["helpful"] for a in annotations), "method": "median"},
        "tone": {"value": tones[tone], "method": "unanimous" if n_annotators == 2 else "majority"},
        "issues": {"value": sorted(set(issues)), "method": "unanimous"},
    }
    if critiques:
        gold["critique"] = {"value": critiques, "method": "list"}
    if corrected:
        gold["corrected"] = {"value": corrected, "method": "adjudicated"}
    prompt = record["input"]
    occurred = datetime.fromisoformat(record["occurred_at"])
    return {
        "id": record["external_id"],
        "split": split_of(record["external_id"], SPLITS),
        "input": prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}],
        "output": record["output"],
        "expected_output": corrected,
        "label": gold,
        "annotations": annotations,
        "metadata": record["metadata"],
        "tags": record["tags"],
        "model": record["model"],
        "rubric_version": rubric_version,
        "occurred_at": occurred.isoformat(),
        "labeled_at": (occurred + timedelta(seconds=600 + hours)).isoformat(),
    }


# ----------------------------------------------------------------------------------------------
# The client


def download(port: int, path: str, key: str, fmt: str, keep: bool = False) -> dict:
    """GET `path`, reading 64 KB at a time: seconds to the status line, to the first body byte and to
    the last; bytes; lines and SHA-256 of the body (jsonl, csv); the body itself when `keep`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": f"Bearer {key}", "Accept-Encoding": "identity"}
    digest, lines, size, parts = hashlib.sha256(), 0, 0, []
    began = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    status_at = time.perf_counter()
    first_at = None
    if response.status != 200:
        body = response.read()
        conn.close()
        return {"status": response.status, "error": body[:500].decode(errors="replace")}
    count_lines = fmt != "parquet"
    while True:
        # read1: what has arrived (≤ 64 KB), so the first body byte is timed when it arrives.
        chunk = response.read1(CHUNK)
        if not chunk:
            break
        if first_at is None:
            first_at = time.perf_counter()
        size += len(chunk)
        digest.update(chunk)
        if count_lines:
            lines += chunk.count(b"\n")
        if keep:
            parts.append(chunk)
    ended = time.perf_counter()
    conn.close()
    result = {
        "status": response.status,
        "seconds": ended - began,
        "status_line_s": status_at - began,
        "first_byte_s": (first_at or ended) - began,
        "bytes": size,
        "sha256": digest.hexdigest(),
        "lines": lines,
        "headers": {k.lower(): v for k, v in response.getheaders() if k.lower() in ("content-type", "etag",
                    "content-length", "transfer-encoding", "content-disposition", "x-row-count")},
    }  # fmt: skip
    if keep:
        result["body"] = b"".join(parts)
    return result


def check_download(fmt: str, result: dict, version: dict) -> list[str]:
    """What is wrong with a download (empty: it is right)."""
    if result.get("status") != 200:
        return [f"HTTP {result.get('status')}: {result.get('error', '')[:300]!r}"]
    problems = []
    rows = version["row_count"]
    if fmt == "jsonl":
        if result["lines"] != rows:
            problems.append(f"{result['lines']} lines, expected {rows}")
        if result["sha256"] != version["sha256"]:
            problems.append(f"SHA-256 {result['sha256'][:16]}… differs from the version's {version['sha256'][:16]}…")
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        body = result.pop("body")
        try:
            meta = pq.ParquetFile(io.BytesIO(body)).metadata
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            return [f"not a Parquet file: {exc!r}"]
        result["parquet"] = {"rows": meta.num_rows, "row_groups": meta.num_row_groups, "columns": meta.num_columns,
                             "column_names": meta.schema.names}  # fmt: skip
        if meta.num_rows != rows:
            problems.append(f"Parquet holds {meta.num_rows} rows, expected {rows}")
        else:
            first = pq.read_table(io.BytesIO(body)).slice(0, 1).to_pylist()[0]
            if str(first.get("id")) != "0":
                problems.append(f"first row's id is {first.get('id')!r}, expected '0'")
    elif fmt == "csv":
        body = result.pop("body")
        reader = csv.reader(io.StringIO(body.decode()))
        header = next(reader, None)
        count = sum(1 for _ in reader)
        result["csv"] = {"rows": count, "header": header}
        if count != rows:
            problems.append(f"CSV holds {count} records, expected {rows}")
    return problems


# ----------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args):
        self.args = args
        self.db = None  # the harness's Database, while run() or profile() has it

    # --- setup (not timed)

    def set_up_database(self, env: dict) -> dict:
        code = SETUP_CODE % {
            "project": PROJECT_SLUG,
            "rubric": json.dumps(RUBRIC),
            "dataset": DATASET_NAME,
            "splits": json.dumps(SPLITS),
        }
        project_id, rubric_version, dataset_id, dataset_slug, key = run_setup(code, env)
        setup = {"project_id": int(project_id), "rubric_version": int(rubric_version), "dataset_id": int(dataset_id),
                 "dataset_slug": dataset_slug, "key": key}  # fmt: skip
        setup["versions"] = self.write_versions(setup)
        return setup

    def write_versions(self, setup: dict) -> dict:
        """v1 = the first `small` rows, v2 (latest) = `rows` rows: READY versions written with COPY."""
        rows, small = self.args.rows, min(self.args.small_rows, self.args.rows)
        conn = self.db.conn
        insert = """
            INSERT INTO labeling_datasetversion (dataset_id, number, status, row_count, split_counts, sha256,
                rubric_versions, cycle_week, created_at, built_at, withdrawn_note, definition_sha256, rows_copied)
            VALUES (%s, %s, 'failed', 0, '{}', '', %s, NULL, now(), NULL, '', '', 0) RETURNING id"""
        # 'failed' until its rows are in (never 'building': one build at a time per dataset), then 'ready'.
        rubric = Jsonb([setup["rubric_version"]])
        small_id = conn.execute(insert, [setup["dataset_id"], 1, rubric]).fetchone()[0]
        big_id = conn.execute(insert, [setup["dataset_id"], 2, rubric]).fetchone()[0]
        digest, splits, sizes = hashlib.sha256(), Counter(), []
        small_digest, small_splits = None, None
        began = time.perf_counter()
        # Each row's line is a DatasetLine numbered first_line + position (ids reserved from its sequence).
        sequence = "pg_get_serial_sequence('labeling_datasetline', 'id')"
        first_line = conn.execute(f"SELECT nextval({sequence})").fetchone()[0]
        conn.execute(f"SELECT setval({sequence}, %s)", [first_line + rows])
        stored = []  # (external_id, split, octets) per position
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY labeling_datasetline (id, dataset_id, text) FROM STDIN") as copy,
        ):
            buffer = []
            for position in range(rows):
                if position == small:
                    small_digest, small_splits = digest.copy(), splits.copy()
                data = row(position, setup["rubric_version"])
                text = _encoder.encode(data)
                digest.update(text)
                digest.update(b"\n")
                splits[data["split"]] += 1
                sizes.append(len(text))
                stored.append((data["id"].encode(), data["split"].encode(), len(text)))
                # COPY text format: a backslash is its escape; JSON has no raw tab or newline.
                escaped = text.replace(b"\\", b"\\\\")
                buffer.append(b"%d\t%d\t%s\n" % (first_line + position, setup["dataset_id"], escaped))
                if len(buffer) == 2000:
                    copy.write(b"".join(buffer))
                    buffer = []
            copy.write(b"".join(buffer))
        with (
            conn.cursor() as cursor,
            cursor.copy(
                "COPY labeling_datasetrow (version_id, position, external_id, split, line_id, octets, source_digest) "
                "FROM STDIN"
            ) as copy,
        ):
            # The last field, source_digest, is empty: no later build copies these rows.
            for start in range(0, rows, 2000):
                chunk = enumerate(stored[start : start + 2000], start)
                copy.write(
                    b"".join(
                        b"%d\t%d\t%s\t%s\t%d\t%d\t\n" % (big_id, at, external_id, split, first_line + at, octets)
                        for at, (external_id, split, octets) in chunk
                    )
                )
        if small_digest is None:
            small_digest, small_splits = digest.copy(), splits.copy()
        conn.execute(
            """INSERT INTO labeling_datasetrow
                   (version_id, position, external_id, split, line_id, octets, source_digest)
               SELECT %s, position, external_id, split, line_id, octets, source_digest FROM labeling_datasetrow
               WHERE version_id = %s AND position < %s ORDER BY position""",
            [small_id, big_id, small],
        )
        update = """UPDATE labeling_datasetversion SET status = 'ready', row_count = %s, split_counts = %s,
                    sha256 = %s, built_at = now() WHERE id = %s"""
        versions = {}
        for number, version_id, count, hashed, counted in (
            (1, small_id, small, small_digest, small_splits),
            (2, big_id, rows, digest, splits),
        ):
            conn.execute(update, [count, Jsonb(dict(sorted(counted.items()))), hashed.hexdigest(), version_id])
            versions[number] = {"id": version_id, "number": number, "row_count": count, "sha256": hashed.hexdigest(),
                                "split_counts": dict(sorted(counted.items()))}  # fmt: skip
        # The jsonb table of the reference floor: the same documents.
        conn.execute(f"CREATE TABLE {FLOOR_TABLE} (doc jsonb)")
        conn.execute(
            f"INSERT INTO {FLOOR_TABLE} (doc) SELECT text::jsonb FROM labeling_datasetline WHERE id >= %s ORDER BY id",
            [first_line],
        )
        conn.execute("VACUUM ANALYZE labeling_datasetrow")
        conn.execute("VACUUM ANALYZE labeling_datasetline")
        conn.execute(f"VACUUM ANALYZE {FLOOR_TABLE}")
        conn.execute("VACUUM ANALYZE labeling_datasetversion")
        conn.execute("CHECKPOINT")
        table_mb = (
            conn.execute(
                "SELECT pg_total_relation_size('labeling_datasetrow') + pg_total_relation_size('labeling_datasetline')"
            ).fetchone()[0]
            / 1e6
        )
        versions["generated_s"] = round(time.perf_counter() - began, 1)
        versions["line_bytes"] = {
            "mean": round(statistics.mean(sizes)),
            "min": min(sizes),
            "max": max(sizes),
            "p50": sorted(sizes)[len(sizes) // 2],
        }
        versions["jsonl_mb"] = round((sum(sizes) + len(sizes)) / 1e6, 1)
        versions["table_mb"] = round(table_mb, 1)
        return versions

    # --- the floor

    def copy_out(self, sql: str, params: list | None = None) -> dict:
        """COPY … TO STDOUT through psycopg's copy API; the data hashed and its lines counted, as the HTTP
        client does with the download."""
        conn = self.db.conn
        digest, rows, size = hashlib.sha256(), 0, 0
        began = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(sql, params) as copy:
            for data in copy:  # one COPY data message per row
                digest.update(data)
                rows += 1
                size += len(data)
        elapsed = time.perf_counter() - began
        return {"seconds": elapsed, "rows": rows, "bytes": size, "rows_per_s": rows / elapsed,
                "sha256": digest.hexdigest()}  # fmt: skip

    def floor_lines(self, version_id: int) -> dict:
        return self.copy_out(
            LINES_OUT,
            [version_id],
        )

    def floor_index_order(self, version_id: int) -> dict:
        """The same COPY with the sort planned away (enable_sort off: an index scan in position order).
        A stricter reference: the default plan is a parallel seq scan and an external merge sort."""
        with self.db.conn.transaction():
            self.db.conn.execute("SET LOCAL enable_sort = off")
            return self.floor_lines(version_id)

    def floor_jsonb(self) -> dict:
        return self.copy_out(f"COPY {FLOOR_TABLE} (doc) TO STDOUT")

    # --- the run

    def url(self, setup: dict, version: str, fmt: str) -> str:
        return (
            f"/api/v1/projects/{PROJECT_SLUG}/datasets/{setup['dataset_slug']}/versions/{version}/download?format={fmt}"
        )

    def pull(self, server: dict, setup: dict, fmt: str, which: str) -> dict:
        port, sampler, server_pid = server["port"], server["sampler"], server["pid"]
        version = setup["versions"][1 if which == "small" else 2]
        reference = "1" if which == "small" else "latest"
        before = sampler.current()
        ticks = {pid: cpu_ticks(pid) for pid in before}
        sampler.reset()
        cpu = CpuMeter(server_pid)
        result = download(port, self.url(setup, reference, fmt), setup["key"], fmt, keep=fmt != "jsonl")
        peak_kb = sampler.peak_mb() * 1024
        used = cpu.used()
        problems = check_download(fmt, result, version)
        # The serving worker: the one that used the most CPU during the download.
        rises = {pid: kb - before.get(pid, kb) for pid, kb in sampler.per_pid.items()}
        worker_ticks = {pid: cpu_ticks(pid) - ticks[pid] for pid in ticks if pid != server_pid}
        worker = max(worker_ticks, key=worker_ticks.get) if worker_ticks else None
        rows = version["row_count"]
        result.update(
            format=fmt,
            version=reference,
            rows=rows,
            ok=not problems,
            problems=problems,
            peak_rss_mb=round(peak_kb / 1024, 1),
            rss_before_mb=round(sum(before.values()) / 1024, 1),
            rss_rise_mb=round((peak_kb - sum(before.values())) / 1024, 1),
            worker_peak_rss_mb=round(sampler.per_pid.get(worker, 0) / 1024, 1) if worker else None,
            worker_rss_rise_mb=round(rises.get(worker, 0) / 1024, 1) if worker else None,
            server_cpu_s=round(used["server"], 2),
            postgres_cpu_s=round(used["postgres"], 2),
            client_cpu_s=round(used["client"], 2),
        )
        if result.get("status") == 200:
            result["rows_per_s"] = round(rows / result["seconds"], 1)
            result["mb_per_s"] = round(result["bytes"] / 1e6 / result["seconds"], 1)
            for name in ("seconds", "status_line_s", "first_byte_s"):
                result[name] = round(result[name], 4)
        return result

    def wait_for_endpoint(self, port: int, setup: dict, timeout: float) -> None:
        """The route answers (200 on the small version's JSONL) — or fail with what it said."""
        deadline = time.monotonic() + timeout
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", self.url(setup, "1", "jsonl"), headers={"Authorization": f"Bearer {setup['key']}"})
            response = conn.getresponse()
            body = response.read()
            conn.close()
            if response.status == 200:
                return
            if time.monotonic() >= deadline:
                raise SystemExit(
                    f"The download endpoint does not answer: HTTP {response.status} {body[:300]!r} "
                    f"(GET {self.url(setup, '1', 'jsonl')})"
                )
            log(f"  endpoint answers HTTP {response.status}; retrying in 60 s …")
            time.sleep(60)

    def warm_up(self, info: dict, setup: dict) -> None:
        """Each worker imports the view (and pyarrow for Parquet) and opens its connections: as many
        concurrent downloads of version 1 as workers, twice, so that sync workers each take one."""
        port, sampler = info["port"], info["sampler"]
        workers = children(info["pid"])
        ticks = {pid: cpu_ticks(pid) for pid in workers}
        for _ in range(2):
            for fmt in info["formats"]:
                threads = [
                    threading.Thread(target=download, args=(port, self.url(setup, "1", fmt), setup["key"], fmt))
                    for _ in range(self.args.workers)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
        warmed = sum(1 for pid in workers if cpu_ticks(pid) - ticks[pid] >= TICK // 10)
        idle = sampler.current()
        info["rss_after_warmup_mb"] = round(sum(idle.values()) / 1024, 1)
        info["workers_rss_after_warmup_mb"] = [round(idle[pid] / 1024, 1) for pid in workers if pid in idle]
        info["pss_after_warmup_mb"] = round(pss_mb(info["pid"]), 1)
        log(
            f"  {info['name']} server ready: RSS {info['rss_at_start_mb']:.0f} MB at start, "
            f"{info['rss_after_warmup_mb']:.0f} MB after warm-up (master {idle.get(info['pid'], 0) / 1024:.0f}, "
            f"workers {', '.join(f'{mb:.0f}' for mb in info['workers_rss_after_warmup_mb'])} MB; "
            f"PSS {info['pss_after_warmup_mb']:.0f} MB); "
            f"{warmed} of {len(workers)} workers warmed"
        )

    def run(self) -> dict:
        args = self.args
        formats = [part.strip() for part in args.formats.split(",") if part.strip()]
        if unknown := set(formats) - set(FORMATS):
            raise SystemExit(f"Unknown format(s) {', '.join(sorted(unknown))}; choose among {', '.join(FORMATS)}")
        env = server_env(args.database, args.redis_url)
        stamp = new_stamp()
        with fresh_database(args.database, redis_url=args.redis_url, keep=args.keep_db) as self.db:
            log(f"Fresh database {args.database}: migrate, project, rubric, dataset, read key …")
            setup = self.set_up_database(env)
            versions = setup["versions"]
            log(
                f"  versions 1 ({versions[1]['row_count']:,} rows) and 2 = latest ({versions[2]['row_count']:,} rows) "
                f"written by COPY in {versions['generated_s']} s: {versions['jsonl_mb']} MB of JSONL, lines of "
                f"{versions['line_bytes']['mean']:,} bytes on average; table {versions['table_mb']} MB"
            )
            if "parquet" in formats:
                (seconds,) = run_setup(RENDER_CODE, env, [str(versions[number]["id"]) for number in (1, 2)])
                log(f"  stored files of both versions rendered (as a worker does) in {seconds} s")
            servers, downloads, floors, failures = self.measure(setup, formats, env, stamp)

        server_info = {
            info["name"]: {
                key: info[key]
                for key in (
                    "formats",
                    "port",
                    "rss_at_start_mb",
                    "rss_after_warmup_mb",
                    "workers_rss_after_warmup_mb",
                    "pss_after_warmup_mb",
                    "pss_at_end_mb",
                )
                if key in info
            }
            for info in servers.values()
        }
        report = self._report(setup, downloads, floors, failures, formats, server_info, stamp)
        save_and_print(f"w3-{stamp}.json", report, self._print)
        return report

    def measure(self, setup: dict, formats: list[str], env: dict, stamp: str) -> tuple:
        """Start the servers, then every run: each format's downloads and the floors."""
        args = self.args
        versions = setup["versions"]
        kind = f"{args.workers} {args.worker_class} workers" + (
            f" × {args.threads} threads" if args.worker_class == "gthread" else ""
        )
        # One server per format (default), so that each format's RSS is its own: a worker that has served
        # one Parquet download keeps pyarrow loaded. --shared-server: one server for every format.
        groups = [formats] if args.shared_server else [[fmt] for fmt in formats]
        servers: dict[str, dict] = {}
        downloads, floors, failures = [], [], []
        try:
            for n, group in enumerate(groups):
                name = "+".join(group)
                server = Gunicorn(
                    env=env,
                    app=args.app,
                    port=args.port + n if args.port else 0,
                    workers=args.workers,
                    worker_class=args.worker_class,
                    threads=args.threads,
                    log_path=OUT / f"w3-{stamp}-{name}-gunicorn.log",
                    ready_path="/login/",
                )
                port = server.port
                log(f"Starting gunicorn {args.app} on 127.0.0.1:{port} for {name}: {kind} …")
                server.start()
                sampler = RssSampler(server.pid, args.rss_interval)
                sampler.start()
                info = {"name": name, "formats": group, "port": port, "server": server, "sampler": sampler,
                        "pid": server.pid, "rss_at_start_mb": round(sampler.sample() / 1024, 1)}  # fmt: skip
                for fmt in group:
                    servers[fmt] = info
                if n == 0:
                    self.wait_for_endpoint(port, setup, args.wait)
                self.warm_up(info, setup)
            # Every table page read once, so every run reads from the same warm caches.
            self.floor_lines(versions[2]["id"])
            self.floor_jsonb()
            for run in range(1, args.runs + 1):
                for fmt in formats:
                    for which in ("small", "big"):
                        result = self.pull(servers[fmt], setup, fmt, which)
                        result["run"] = run
                        downloads.append(result)
                        failures.extend(f"run {run}, {fmt} v{result['version']}: {p}" for p in result["problems"])
                        if result.get("status") == 200:
                            log(
                                f"run {run} · {fmt:7} {result['rows']:>7,} rows: {result['rows_per_s']:>9,.0f} rows/s "
                                f"({result['seconds']:.2f} s, {result['mb_per_s']:.0f} MB/s), first byte "
                                f"{result['first_byte_s'] * 1000:.0f} ms, peak RSS {result['peak_rss_mb']:.0f} MB "
                                f"(+{result['rss_rise_mb']:.0f}; serving worker {result['worker_peak_rss_mb']:.0f}), "
                                f"CPU server {result['server_cpu_s']:.1f} s / postgres {result['postgres_cpu_s']:.1f} s"
                                + ("" if result["ok"] else "  ** FAILED: " + "; ".join(result["problems"]))
                            )
                        else:
                            log(f"run {run} · {fmt} {result['rows']:,} rows: ** FAILED: {result['problems']}")
                    if fmt == formats[0]:
                        # The floor right after the first format's downloads, so the two are paired in time.
                        lines = self.floor_lines(versions[2]["id"])
                        indexed = self.floor_index_order(versions[2]["id"])
                lines.update(run=run, kind="lines")
                indexed.update(run=run, kind="index")
                reference = self.floor_jsonb()
                reference.update(run=run, kind="jsonb")
                if lines["rows"] != versions[2]["row_count"]:
                    failures.append(f"run {run}: COPY out gave {lines['rows']} rows")
                lines["same_sha256_as_version"] = lines["sha256"] == versions[2]["sha256"]
                floors += [lines, indexed, reference]
                log(
                    f"run {run} · COPY out floor: {lines['rows_per_s']:,.0f} rows/s ({lines['seconds']:.2f} s); "
                    f"index order: {indexed['rows_per_s']:,.0f} rows/s ({indexed['seconds']:.2f} s); "
                    f"jsonb table: {reference['rows_per_s']:,.0f} rows/s ({reference['seconds']:.2f} s)"
                )
            for info in {id(info): info for info in servers.values()}.values():
                info["pss_at_end_mb"] = round(pss_mb(info["pid"]), 1)
        finally:
            for info in {id(info): info for info in servers.values()}.values():
                info["sampler"].stop()
                info["server"].stop()
        return servers, downloads, floors, failures

    def _report(self, setup, downloads, floors, failures, formats, server_info, stamp) -> dict:
        args = self.args
        lines_floor = statistics.median(f["rows_per_s"] for f in floors if f["kind"] == "lines")
        index_floor = statistics.median(f["rows_per_s"] for f in floors if f["kind"] == "index")
        jsonb_floor = statistics.median(f["rows_per_s"] for f in floors if f["kind"] == "jsonb")
        summary = {}
        for fmt in formats:
            for number in (1, 2):
                rows = setup["versions"][number]["row_count"]
                mine = [d for d in downloads if d["format"] == fmt and d["rows"] == rows and d.get("status") == 200]
                if not mine:
                    continue
                rate = statistics.median(d["rows_per_s"] for d in mine)
                summary[f"{fmt} {rows}"] = {
                    "format": fmt,
                    "rows": rows,
                    "rows_per_s_median": round(rate, 1),
                    "rows_per_s_runs": [d["rows_per_s"] for d in mine],
                    "seconds_median": round(statistics.median(d["seconds"] for d in mine), 3),
                    "first_byte_ms_median": round(statistics.median(d["first_byte_s"] for d in mine) * 1000, 1),
                    "first_byte_ms_runs": [round(d["first_byte_s"] * 1000, 1) for d in mine],
                    "mb_per_s_median": round(statistics.median(d["mb_per_s"] for d in mine), 1),
                    "bytes": mine[0]["bytes"],
                    "peak_rss_mb": max(d["peak_rss_mb"] for d in mine),
                    "peak_rss_mb_runs": [d["peak_rss_mb"] for d in mine],
                    "rss_rise_mb_median": round(statistics.median(d["rss_rise_mb"] for d in mine), 1),
                    "worker_peak_rss_mb": max(d["worker_peak_rss_mb"] or 0 for d in mine),
                    "worker_peak_rss_mb_runs": [d["worker_peak_rss_mb"] for d in mine],
                    "server_cpu_s_median": round(statistics.median(d["server_cpu_s"] for d in mine), 2),
                    "postgres_cpu_s_median": round(statistics.median(d["postgres_cpu_s"] for d in mine), 2),
                    "ratio_to_floor": round(rate / lines_floor, 4),
                    "ratio_runs": [
                        round(d["rows_per_s"] / f["rows_per_s"], 4)
                        for d in mine
                        for f in floors
                        if f["kind"] == "lines" and f["run"] == d["run"]
                    ],
                    "ratio_to_index_order_floor": round(rate / index_floor, 4),
                    "ratio_to_jsonb_floor": round(rate / jsonb_floor, 4),
                    "headers": mine[0]["headers"],
                }
        return {
            "workload": "W3 pull",
            "timestamp": stamp,
            "ok": not failures,
            "failures": failures,
            "config": {
                "rows": args.rows,
                "small_rows": min(args.small_rows, args.rows),
                "formats": formats,
                "runs": args.runs,
                "workers": args.workers,
                "worker_class": args.worker_class,
                "threads": args.threads,
                "app": args.app,
                "shared_server": args.shared_server,
                "database": args.database,
                "redis_url": args.redis_url,
                "read_chunk_bytes": CHUNK,
            },
            "data": {key: value for key, value in setup["versions"].items() if not isinstance(key, int)}
            | {"versions": [setup["versions"][1], setup["versions"][2]]},
            "git": git_state(),
            "machine": machine() | {"load_average": os.getloadavg()},
            "servers": server_info,
            "floor": {
                "copy_out_rows_per_s_median": round(lines_floor, 1),
                "copy_out_rows_per_s_runs": [round(f["rows_per_s"], 1) for f in floors if f["kind"] == "lines"],
                "index_order_copy_out_rows_per_s_median": round(index_floor, 1),
                "index_order_copy_out_rows_per_s_runs": [
                    round(f["rows_per_s"], 1) for f in floors if f["kind"] == "index"
                ],
                "jsonb_copy_out_rows_per_s_median": round(jsonb_floor, 1),
                "jsonb_copy_out_rows_per_s_runs": [round(f["rows_per_s"], 1) for f in floors if f["kind"] == "jsonb"],
            },
            "summary": summary,
            "targets": {"ratio": TARGET_RATIO, "rss_mb": TARGET_RSS_MB},
            "label_studio": LABEL_STUDIO,
            "downloads": downloads,
            "floors": floors,
        }

    def _print(self, report: dict) -> None:
        config, floor = report["config"], report["floor"]
        kind = f"{config['workers']} {config['worker_class']} workers" + (
            f" × {config['threads']} threads" if config["worker_class"] == "gthread" else ""
        )
        data = report["data"]
        print()
        print(
            f"W3 pull: versions of {config['small_rows']:,} and {config['rows']:,} rows "
            f"({data['jsonl_mb']} MB of JSONL at {config['rows']:,}, lines ~{data['line_bytes']['mean']:,} B), "
            f"gunicorn {kind}, one client, median of {config['runs']} run(s)"
        )
        header = f"{'':26}{'rows/s':>10}{'MB/s':>7}{'1st byte':>10}{'total s':>9}{'peak RSS':>10}{'rise':>7}"
        header += f"{'÷ floor':>9}{'÷ idx':>7}"
        print(header)
        print("-" * len(header))
        for row in report["summary"].values():
            label = f"{row['format'].upper()}, {row['rows']:,} rows"
            print(
                f"{label:26}{row['rows_per_s_median']:>10,.0f}{row['mb_per_s_median']:>7.0f}"
                f"{row['first_byte_ms_median']:>8.0f}ms{row['seconds_median']:>9.2f}"
                f"{row['peak_rss_mb']:>8.0f}MB{row['rss_rise_mb_median']:>+7.0f}{row['ratio_to_floor']:>9.3f}"
                f"{row['ratio_to_index_order_floor']:>7.3f}"
            )
        runs = ", ".join(f"{value:,.0f}" for value in floor["copy_out_rows_per_s_runs"])
        print(f"{'COPY out floor (lines)':26}{floor['copy_out_rows_per_s_median']:>10,.0f}   (runs: {runs})")
        runs = ", ".join(f"{value:,.0f}" for value in floor["index_order_copy_out_rows_per_s_runs"])
        print(f"{'COPY out, index order':26}{floor['index_order_copy_out_rows_per_s_median']:>10,.0f}   (runs: {runs})")
        runs = ", ".join(f"{value:,.0f}" for value in floor["jsonb_copy_out_rows_per_s_runs"])
        print(f"{'COPY out, jsonb table':26}{floor['jsonb_copy_out_rows_per_s_median']:>10,.0f}   (runs: {runs})")
        ls = LABEL_STUDIO
        print(
            f"{'Label Studio 1.23.2 (JSON)':26}{ls['rows_per_s']:>10,}{'':>7}{ls['first_byte_s']:>9}s{'~141':>9}"
            f"{ls['rss_mb']:>8,}MB{'':>7}{ls['rows_per_s'] / ls['copy_floor_rows_per_s']:>9.3f}"
            f"   (its floor: {ls['copy_floor_rows_per_s']:,} rows/s)"
        )
        print(
            f"targets: JSONL rows/s ≥ {TARGET_RATIO} × COPY-out floor; server RSS < {TARGET_RSS_MB} MB and flat in "
            "row count. Peak RSS = gunicorn master + workers; rise = peak − RSS just before the request."
        )
        for name, info in report["servers"].items():
            print(
                f"  {name} server: RSS {info['rss_at_start_mb']:.0f} MB at start, {info['rss_after_warmup_mb']:.0f} MB "
                f"after warm-up (workers {', '.join(f'{mb:.0f}' for mb in info['workers_rss_after_warmup_mb'])} MB); "
                f"PSS {info['pss_after_warmup_mb']:.0f} MB after warm-up, {info.get('pss_at_end_mb', 0):.0f} at the end"
            )
        for row in report["summary"].values():
            print(
                f"  {row['format']} {row['rows']:,}: rows/s runs {row['rows_per_s_runs']} (÷ that run's floor "
                f"{row['ratio_runs']}); first byte ms {row['first_byte_ms_runs']}; peak RSS runs "
                f"{row['peak_rss_mb_runs']} MB, serving worker {row['worker_peak_rss_mb_runs']} MB; CPU server "
                f"{row['server_cpu_s_median']} s, postgres {row['postgres_cpu_s_median']} s"
            )
        print("verification:", "OK (JSONL lines and SHA-256 = the version's; Parquet row counts, first id)"
              if report["ok"] else "FAILED")  # fmt: skip
        for failure in report["failures"]:
            print("  ", failure)


# ----------------------------------------------------------------------------------------------
# --profile: the server's download path in-process (Django's WSGI handler, the view's generator)


def profile(args) -> None:
    """The download path in-process against PostgreSQL: the whole request through Django's WSGI handler
    (body consumed as gunicorn would), its parts alone, and variants a change could adopt; then cProfile."""
    bench = Bench(args)
    env = server_env(args.database, args.redis_url)
    with fresh_database(args.database, redis_url=args.redis_url, keep=args.keep_db) as bench.db:
        log(f"Fresh database {args.database} with the versions …")
        setup = bench.set_up_database(env)
        bench.db.close()
        django_setup(env)
        from django.core.handlers.wsgi import WSGIHandler
        from django.db import connection, transaction

        from labeling.models import DatasetRow
        from labeling.services import exports

        rss = {"after django.setup()": self_rss_mb()}
        handler = WSGIHandler()
        big = setup["versions"][2]
        rows = big["row_count"]
        results: dict[str, dict[str, list[float]]] = {}

        def consume(chunks) -> tuple[float, int, str]:
            """Time to the first chunk, bytes, SHA-256 of an iterable of byte chunks (timed by the caller)."""
            began = time.perf_counter()
            first, digest, size = None, hashlib.sha256(), 0
            for chunk in chunks:
                if first is None:
                    first = time.perf_counter() - began
                digest.update(chunk)
                size += len(chunk)
            return first or 0.0, size, digest.hexdigest()

        def wsgi(fmt: str = "jsonl", atomic: bool = False):
            url = bench.url(setup, "latest", fmt)
            path, _, query = url.partition("?")
            environ = {
                "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
                "HTTP_AUTHORIZATION": f"Bearer {setup['key']}", "HTTP_HOST": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
            }  # fmt: skip
            status = []
            body = handler(environ, lambda s, h, e=None: status.append(s))
            try:
                if atomic:  # the cursor is opened at the first next(): inside a transaction it is WITHOUT HOLD
                    with transaction.atomic():
                        outcome = consume(body)
                else:
                    outcome = consume(body)
            finally:
                body.close()
            if not status or not status[0].startswith("200"):
                raise SystemExit(f"in-process download failed: {status}")
            return outcome

        def lines_query():
            rows = DatasetRow.objects.filter(version_id=big["id"]).order_by("position")
            return rows.values_list("line__text", flat=True)

        def orm_iterator(atomic: bool = False):
            def run():
                for _ in lines_query().iterator(chunk_size=2000):
                    pass
                return 0.0, 0, ""

            if atomic:
                with transaction.atomic():
                    return run()
            return run()

        def orm_batched():  # the view's generator without Django's request layers (autocommit)
            return consume(exports.jsonl_chunks(version=_version()))

        def _version():
            from labeling.models import DatasetVersion

            return DatasetVersion.objects.get(pk=big["id"])

        def copy_chunks(size: int = 256 * 1024):
            """A JSONL generator over COPY … TO STDOUT (psycopg's copy API), joined into ~256 KB chunks."""
            connection.ensure_connection()
            raw = connection.connection
            sql = LINES_OUT
            with raw.cursor() as cursor, cursor.copy(sql, [big["id"]]) as copy:
                batch, length = [], 0
                for data in copy:
                    batch.append(data)
                    length += len(data)
                    if length >= size:
                        yield b"".join(batch)
                        batch, length = [], 0
                if batch:
                    yield b"".join(batch)

        def copy_generator():
            return consume(copy_chunks())

        def copy_generator_index_order():
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL enable_sort = off")
                return consume(copy_chunks())

        def parquet_parts():
            """The Parquet writer's steps alone, timed over the whole version."""
            import pyarrow as pa
            import pyarrow.parquet as pq

            texts = list(lines_query().iterator(chunk_size=2000))
            t0 = time.perf_counter()
            shape = exports.RowShape.of(_version())
            t1 = time.perf_counter()
            flats = [exports.parquet_row(text, shape) for text in texts]
            t2 = time.perf_counter()
            schema = exports.parquet_schema(shape)
            tables = []
            for start in range(0, len(flats), exports.PARQUET_ROW_GROUP):
                part = flats[start : start + exports.PARQUET_ROW_GROUP]
                tables.append(pa.Table.from_pydict({c: [f[c] for f in part] for c in exports.COLUMNS}, schema=schema))
            t3 = time.perf_counter()
            sink = exports.Drain()
            writer = pq.ParquetWriter(sink, schema)
            for table in tables:
                writer.write_table(table, row_group_size=exports.PARQUET_ROW_GROUP)
                sink.drain()
            writer.close()
            t4 = time.perf_counter()
            for name, value in (
                ("  parquet: RowShape.of (two queries)", t1 - t0),
                ("  parquet: parquet_row (decode, typed nested fields, timestamps)", t2 - t1),
                ("  parquet: columns → pa.Table.from_pydict (per row group)", t3 - t2),
                ("  parquet: ParquetWriter.write_table (encode + compress)", t4 - t3),
            ):
                results.setdefault(name, {}).setdefault("total", []).append(value)
            del texts, flats, tables
            return 0.0, 0, ""

        steps = [
            ("JSONL: whole request, as is (autocommit → WITH HOLD cursor)", lambda: wsgi("jsonl")),
            ("JSONL: whole request, body consumed in transaction.atomic()", lambda: wsgi("jsonl", atomic=True)),
            ("  jsonl_chunks() alone (ORM iterator + _batched)", orm_batched),
            ("  ORM values_list('line__text').iterator(2000), autocommit", orm_iterator),
            ("  ORM values_list('line__text').iterator(2000), in a transaction", lambda: orm_iterator(atomic=True)),
            ("JSONL via COPY TO STDOUT generator, 256 KB chunks", copy_generator),
            ("JSONL via COPY TO STDOUT, index order (enable_sort off)", copy_generator_index_order),
        ]
        formats = [part.strip() for part in args.formats.split(",")]
        if "csv" in formats:
            steps.append(("CSV: whole request", lambda: wsgi("csv")))
        if "parquet" in formats:
            steps.append(("Parquet: whole request", lambda: wsgi("parquet")))
            steps.append(("Parquet: the steps alone, in memory (see below)", parquet_parts))
        first, size, sha = wsgi("jsonl")
        if sha != big["sha256"]:
            log(f"  ** in-process JSONL SHA-256 differs from the version's ({sha[:16]}… vs {big['sha256'][:16]}…)")
        rss["after one JSONL request"] = self_rss_mb()
        first, size, sha = copy_generator()
        if sha != big["sha256"]:
            log("  ** the COPY generator's SHA-256 differs from the version's")
        for name, call in steps:
            call()  # warm
            if name.startswith("Parquet: whole"):
                rss["after one Parquet request (pyarrow loaded)"] = self_rss_mb()
            for _ in range(args.profile_repeat):
                began = time.perf_counter()
                first, _, _ = call()
                entry = results.setdefault(name, {})
                entry.setdefault("total", []).append(time.perf_counter() - began)
                entry.setdefault("first", []).append(first)
            total = statistics.median(results[name]["total"]) * 1000
            log(f"  {name}: {total:,.0f} ms")
        rss["at the end"] = self_rss_mb()
        profiler = cProfile.Profile()
        profiler.enable()
        wsgi("jsonl")
        profiler.disable()
        parquet_profiler = None
        if "parquet" in formats:
            parquet_profiler = cProfile.Profile()
            parquet_profiler.enable()
            wsgi("parquet")
            parquet_profiler.disable()

    print()
    print(f"Server path for {rows:,} rows in-process, median of {args.profile_repeat} (ms, rows/s, first chunk):")
    table = {}
    for name, entry in results.items():
        ms = statistics.median(entry["total"]) * 1000
        first_ms = statistics.median(entry["first"]) * 1000 if entry.get("first") and any(entry["first"]) else None
        table[name] = {"ms": round(ms, 1), "first_chunk_ms": round(first_ms, 1) if first_ms else None}
        print(
            f"  {name:66}{ms:>8,.0f} ms{rows / (ms / 1000):>10,.0f} rows/s"
            + (f"{first_ms:>8,.0f} ms to 1st chunk" if first_ms else "")
        )
    print("RSS of this process (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items()))
    for title, prof in (("JSONL", profiler), ("Parquet", parquet_profiler)):
        if prof is None:
            continue
        print(f"cProfile of one {title} request, top functions by own time:")
        print("\n".join(cprofile_text(prof, "tottime", 15).splitlines()[6:]))
    figures = {"rows": rows, "repeat": args.profile_repeat, "steps": table, "rss_mb": rss}
    profiles = {"": profiler} | ({"-parquet": parquet_profiler} if parquet_profiler else {})
    save_profile("w3-profile", figures, profiles)


def main() -> None:
    parser = workload_parser(__doc__)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the latest version (default 100,000)")
    parser.add_argument("--small-rows", type=int, default=20_000, help="rows of version 1 (default 20,000)")
    parser.add_argument("--formats", default="jsonl,parquet", help="formats, comma-separated (jsonl, csv, parquet)")
    parser.add_argument("--runs", type=int, default=3, help="runs (default 3)")
    add_server_options(parser, workers=2)
    add_database_options(parser, database="expertloop_bench_w3")
    parser.add_argument(
        "--shared-server", action="store_true", help="one server for every format (default: one per format)"
    )
    parser.add_argument("--wait", type=float, default=0, help="keep retrying a missing endpoint this long, s")
    parser.add_argument("--profile", action="store_true", help="profile the server's download path in-process")
    parser.add_argument("--profile-repeat", type=int, default=3, help="timed repetitions per step (default 3)")
    args = parser.parse_args()
    if args.profile:
        profile(args)
        return
    report = Bench(args).run()
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
