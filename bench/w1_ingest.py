"""W1 ingest benchmark: N records through `POST /api/v1/outputs` against the real server, and the floor.

    .venv/bin/python bench/w1_ingest.py                      # the BENCHMARKS.md workload (~2-3 min)
    .venv/bin/python bench/w1_ingest.py --records 20000 --runs 1
    .venv/bin/python bench/w1_ingest.py --profile            # where a 1,000-record batch spends its time

What one run does (see bench/README.md):
  1. generates the records (bench/records.py) and pre-serialises every request body and COPY line;
  2. creates a fresh PostgreSQL database, migrates it, creates a project and an ingest key;
  3. starts gunicorn (`expertloop.wsgi`, DEBUG=false, REDIS_URL set so routing tasks are published
     to Redis db 14, which is flushed before and after; no Celery worker runs), warms every worker up;
  4. for each run and each client count: empties the outputs table (TRUNCATE; the project and key
     stay, so every row counted is newly created), CHECKPOINTs, sends all records in batches (one
     http.client connection per client thread), verifies every response is 200, `created` sums to N
     and the table holds exactly N rows, while sampling the server's RSS (gunicorn master + workers,
     VmRSS summed) every 50 ms;
  5. in the same run, the floor: `COPY t (doc) FROM STDIN` of the same records as JSONL into a table
     with one jsonb column (psycopg 3 copy API);
  6. prints medians and the ratio to the floor, writes bench/out/w1-<timestamp>.json.

Only the standard library, psycopg and redis are used by the client; Django runs in the server
(and in-process for --profile).
"""

from __future__ import annotations

import cProfile
import http.client
import itertools
import json
import os
import statistics
import sys
import threading
import time
from collections import defaultdict
from operator import itemgetter

import psycopg
import psycopg._queries
import records
from harness import OUT
from harness.database import (
    add_database_options,
    django_setup,
    flush_redis,
    fresh_database,
    run_setup,
    server_env,
)
from harness.profiling import StageTimer, cprofile_text, stage_medians, wsgi_environ
from harness.report import git_state, log, machine, new_stamp, percentile, save_and_print, save_profile, workload_parser
from harness.sampling import CpuMeter, RssSampler
from harness.server import Gunicorn, add_server_options

PATH = "/api/v1/outputs"
FLOOR_TABLE = "w1_floor"
LABEL_STUDIO = {"tasks_per_s": 2_850, "p50_ms": 300, "rss_mb": 450, "copy_floor_rows_per_s": 85_000}
TARGET_RATIO = 0.35

SETUP_CODE = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
from labeling.models import Project
from labeling.services.api_keys import create_api_key
project = Project.objects.create(slug="bench-w1", name="Bench W1")
key = create_api_key(project=project, name="bench", scopes=["ingest", "read"])
print("BENCH", project.pk, key.secret)
"""


def copy_chunk(start: int, stop: int) -> bytes:
    """Records as COPY text-format lines: a backslash is COPY's escape, so JSON's own are doubled."""
    return b"".join(records.record_json(i).replace(b"\\", b"\\\\") + b"\n" for i in range(start, stop))


def warmup_body(indexes: range) -> bytes:
    outputs = [{**records.record(i), "external_id": f"warmup-{i}"} for i in indexes]
    return json.dumps({"outputs": outputs}).encode()


# ----------------------------------------------------------------------------------------------
# The client


def post_batches(port: int, key: str, bodies: list[bytes], clients: int) -> dict:
    """Send every body once, spread over `clients` threads each with its own connection."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    jobs = iter(range(len(bodies)))
    lock = threading.Lock()
    latencies = [0.0] * len(bodies)
    results: list[tuple[int, dict | bytes] | None] = [None] * len(bodies)
    start = threading.Barrier(clients + 1)

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        start.wait()
        while True:
            with lock:
                job = next(jobs, None)
            if job is None:
                break
            began = time.perf_counter()
            try:
                conn.request("POST", PATH, body=bodies[job], headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                latencies[job] = time.perf_counter() - began
                results[job] = (0, repr(exc).encode())
                continue
            latencies[job] = time.perf_counter() - began
            status = response.status
            results[job] = (status, json.loads(payload) if status == 200 else payload[:500])
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return {"seconds": elapsed, "latencies": latencies, "results": results}


# ----------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args):
        self.args = args
        self.db = None  # the harness's Database, while run() has it

    def set_up_database(self, env: dict) -> tuple[int, str]:
        project_id, key = run_setup(SETUP_CODE, env)
        self.db.conn.execute(f"CREATE TABLE {FLOOR_TABLE} (doc jsonb)")
        return int(project_id), key

    def empty_outputs(self) -> None:
        conn = self.db.conn
        conn.execute("TRUNCATE labeling_output CASCADE")
        conn.execute("CHECKPOINT")

    def count_outputs(self, project_id: int) -> int:
        query = "SELECT count(*) FROM labeling_output WHERE project_id = %s"
        return self.db.conn.execute(query, [project_id]).fetchone()[0]

    def copy_floor(self, chunks: list[bytes]) -> dict:
        conn = self.db.conn
        conn.execute(f"TRUNCATE {FLOOR_TABLE}")
        conn.execute("CHECKPOINT")
        began = time.perf_counter()
        with conn.cursor() as cursor:
            with cursor.copy(f"COPY {FLOOR_TABLE} (doc) FROM STDIN") as copy:
                for chunk in chunks:
                    copy.write(chunk)
        elapsed = time.perf_counter() - began  # autocommit: the COPY statement has committed
        rows = conn.execute(f"SELECT count(*) FROM {FLOOR_TABLE}").fetchone()[0]
        return {"seconds": elapsed, "rows": rows, "rows_per_s": rows / elapsed}

    def run(self) -> dict:
        args = self.args
        client_modes = [int(part) for part in args.clients.split(",") if part.strip()]
        log(f"Generating {args.records:,} records (batches of {args.batch:,}) …")
        began = time.perf_counter()
        bodies = records.batch_bodies(args.records, args.batch)
        starts = range(0, args.records, args.batch)
        chunks = [copy_chunk(start, min(start + args.batch, args.records)) for start in starts]
        warmup = [warmup_body(range(n * 10, n * 10 + 10)) for n in range(4 * args.workers)]
        megabytes = sum(map(len, bodies)) / 1e6
        log(f"  {megabytes:.1f} MB of request bodies in {time.perf_counter() - began:.1f} s")

        env = server_env(args.database, args.redis_url)
        stamp = new_stamp()
        with fresh_database(args.database, redis_url=args.redis_url, keep=args.keep_db) as self.db:
            log(f"Fresh database {args.database}: migrate, project, key …")
            self.project_id, self.key = self.set_up_database(env)
            server = Gunicorn(
                env=env,
                app=args.app,
                port=args.port,
                workers=args.workers,
                worker_class=args.worker_class,
                threads=args.threads,
                log_path=OUT / f"w1-{stamp}-gunicorn.log",
                ready_path="/login/",
            )
            workers = f"{args.workers} {args.worker_class} workers"
            log(f"Starting gunicorn {args.app} on 127.0.0.1:{server.port}: {workers} …")
            with server:
                sampler = RssSampler(server.pid, args.rss_interval)
                sampler.start()
                try:
                    runs, floors, failures, idle_rss_mb = self.measure(server, sampler, bodies, warmup, chunks)
                finally:
                    sampler.stop()

        report = self._report(runs, floors, client_modes, idle_rss_mb, megabytes, failures, server.port, stamp)
        save_and_print(f"w1-{stamp}.json", report, self._print)
        return report

    def measure(self, server: Gunicorn, sampler: RssSampler, bodies, warmup, chunks) -> tuple:
        """Every run: the API with each client count, then the COPY floor."""
        args = self.args
        runs, floors, failures = [], [], []
        # Warm-up: every worker imports its views and opens its DB and Redis connections.
        post_batches(server.port, self.key, warmup, args.workers)
        idle_rss_mb = sampler.sample() / 1024
        log(f"  ready; idle server RSS {idle_rss_mb:.0f} MB")
        for run in range(1, args.runs + 1):
            for clients in [int(part) for part in args.clients.split(",") if part.strip()]:
                runs.append(self.measure_api(run, clients, server, sampler, bodies, failures))
            floor = self.copy_floor(chunks)
            floor["run"] = run
            if floor["rows"] != args.records:
                failures.append(f"run {run}: COPY stored {floor['rows']} rows, expected {args.records}")
            floors.append(floor)
            log(f"run {run} · COPY floor: {floor['rows_per_s']:,.0f} rows/s ({floor['seconds']:.2f} s)")
        return runs, floors, failures, idle_rss_mb

    def measure_api(self, run: int, clients: int, server: Gunicorn, sampler: RssSampler, bodies, failures) -> dict:
        """One run of every body with `clients` clients, on an empty outputs table."""
        args = self.args
        self.empty_outputs()
        flush_redis(args.redis_url)
        cpu = CpuMeter(server.pid)
        sampler.reset()
        outcome = post_batches(server.port, self.key, bodies, clients)
        peak_mb = sampler.peak_mb()
        used = cpu.used()
        result = self._check(outcome, self.project_id, args.records)
        failures.extend(f"run {run}, {clients} clients: {problem}" for problem in result.pop("problems"))
        latencies_ms = [value * 1000 for value in outcome["latencies"]]
        result.update(
            run=run,
            clients=clients,
            seconds=round(outcome["seconds"], 3),
            outputs_per_s=round(args.records / outcome["seconds"], 1),
            p50_ms=round(percentile(latencies_ms, 50), 1),
            p99_ms=round(percentile(latencies_ms, 99), 1),
            max_ms=round(max(latencies_ms), 1),
            peak_rss_mb=round(peak_mb, 1),
            rss_samples=sampler.samples,
            server_cpu_s=round(used["server"], 2),
            postgres_cpu_s=round(used["postgres"], 2),
            client_cpu_s=round(used["client"], 2),
            latencies_ms=[round(value, 2) for value in latencies_ms],
        )
        log(
            f"run {run} · {clients} client{'s' if clients > 1 else ''}: "
            f"{result['outputs_per_s']:,.0f} outputs/s "
            f"({result['seconds']:.1f} s), p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, "
            f"peak RSS {peak_mb:.0f} MB, CPU server {used['server']:.1f} s / postgres {used['postgres']:.1f} s"
            + ("" if result["ok"] else "  ** FAILED **")
        )
        return result

    def _check(self, outcome: dict, project_id: int, expected: int) -> dict:
        problems = []
        statuses = defaultdict(int)
        created = duplicates = conflicts = 0
        for index, (status, payload) in enumerate(outcome["results"]):
            statuses[status] += 1
            if status != 200:
                if statuses[status] <= 3:
                    problems.append(f"batch {index}: HTTP {status}: {payload[:300]!r}")
                continue
            created += payload["created"]
            duplicates += payload["duplicates"]
            conflicts += payload["conflicts"]
        rows = self.count_outputs(project_id)
        if set(statuses) != {200}:
            problems.append(f"statuses {dict(statuses)}")
        if created != expected or duplicates or conflicts:
            problems.append(
                f"created {created}, duplicates {duplicates}, conflicts {conflicts}; expected {expected} created"
            )
        if rows != expected:
            problems.append(f"the table holds {rows} rows, expected {expected}")
        return {
            "ok": not problems,
            "statuses": {str(k): v for k, v in statuses.items()},
            "created": created,
            "rows_in_db": rows,
            "problems": problems,
        }

    def _report(self, runs, floors, client_modes, idle_rss_mb, megabytes, failures, port, stamp) -> dict:
        args = self.args
        floor_median = statistics.median(f["rows_per_s"] for f in floors)
        summary = {}
        for clients in client_modes:
            mine = [r for r in runs if r["clients"] == clients]
            pooled = [value for r in mine for value in r["latencies_ms"]]
            rate = statistics.median(r["outputs_per_s"] for r in mine)
            summary[str(clients)] = {
                "outputs_per_s_median": round(rate, 1),
                "outputs_per_s_runs": [r["outputs_per_s"] for r in mine],
                "p50_ms": round(percentile(pooled, 50), 1),
                "p99_ms": round(percentile(pooled, 99), 1),
                "p50_ms_runs": [r["p50_ms"] for r in mine],
                "p99_ms_runs": [r["p99_ms"] for r in mine],
                "peak_rss_mb": max(r["peak_rss_mb"] for r in mine),
                "ratio_to_floor": round(rate / floor_median, 4),
                "ratio_runs": [
                    round(r["outputs_per_s"] / f["rows_per_s"], 4) for r, f in zip(mine, floors, strict=True)
                ],
                "server_cpu_ms_per_batch": round(
                    1000 * statistics.median(r["server_cpu_s"] for r in mine) / len(runs[0]["latencies_ms"]), 1
                ),
                "postgres_cpu_ms_per_batch": round(
                    1000 * statistics.median(r["postgres_cpu_s"] for r in mine) / len(runs[0]["latencies_ms"]), 1
                ),
            }
        return {
            "workload": "W1 ingest",
            "timestamp": stamp,
            "ok": not failures,
            "failures": failures,
            "config": {
                "records": args.records,
                "batch": args.batch,
                "clients": client_modes,
                "runs": args.runs,
                "workers": args.workers,
                "worker_class": args.worker_class,
                "app": args.app,
                "threads": args.threads,
                "port": port,
                "database": args.database,
                "redis_url": args.redis_url,
                "request_megabytes": round(megabytes, 1),
            },
            "git": git_state(),
            "machine": machine() | {"load_average": os.getloadavg()},
            "idle_server_rss_mb": round(idle_rss_mb, 1),
            "floor": {
                "copy_rows_per_s_median": round(floor_median, 1),
                "copy_rows_per_s_runs": [round(f["rows_per_s"], 1) for f in floors],
            },
            "summary": summary,
            "target_ratio": TARGET_RATIO,
            "label_studio": LABEL_STUDIO,
            "runs": runs,
        }

    def _print(self, report: dict) -> None:
        config, floor = report["config"], report["floor"]["copy_rows_per_s_median"]
        print()
        print(
            f"W1 ingest: {config['records']:,} records ({config['request_megabytes']} MB), "
            f"batches of {config['batch']:,}, "
            f"gunicorn {config['workers']} {config['worker_class']} workers, median of {config['runs']} run(s)"
        )
        header = f"{'':24}{'outputs/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'peak RSS MB':>13}{'÷ floor':>9}"
        print(header)
        print("-" * len(header))
        for clients, row in report["summary"].items():
            label = f"expertloop, {clients} client{'s' if clients != '1' else ''}"
            print(
                f"{label:24}{row['outputs_per_s_median']:>11,.0f}{row['p50_ms']:>9.0f}{row['p99_ms']:>9.0f}"
                f"{row['peak_rss_mb']:>13.0f}{row['ratio_to_floor']:>9.3f}"
            )
        floor_runs = ", ".join(f"{value:,.0f}" for value in report["floor"]["copy_rows_per_s_runs"])
        print(f"{'COPY floor (jsonb)':24}{floor:>11,.0f}  rows/s   (runs: {floor_runs})")
        ls = LABEL_STUDIO
        print(
            f"{'Label Studio 1.23.2':24}{ls['tasks_per_s']:>11,}{ls['p50_ms']:>9}{'–':>9}{ls['rss_mb']:>13}"
            f"{ls['tasks_per_s'] / ls['copy_floor_rows_per_s']:>9.3f}"
            f"   (its floor: {ls['copy_floor_rows_per_s']:,} rows/s)"
        )
        print(f"target: outputs/s ≥ {TARGET_RATIO} × floor; idle server RSS {report['idle_server_rss_mb']:.0f} MB")
        for clients, row in report["summary"].items():
            print(
                f"  {clients} client(s): runs {row['outputs_per_s_runs']} outputs/s; CPU per batch: "
                f"server {row['server_cpu_ms_per_batch']} ms, "
                f"postgres (all processes, approx.) {row['postgres_cpu_ms_per_batch']} ms"
            )
        print("verification:", "OK (every response 200, created = N, N rows stored)" if report["ok"] else "FAILED")
        for failure in report["failures"]:
            print("  ", failure)


# ----------------------------------------------------------------------------------------------
# --profile: where a 1,000-record batch spends its time, in-process against PostgreSQL


def profile(args) -> None:
    database = f"{args.database}_profile"
    batches = args.profile_batches
    warmups = 3
    total = (warmups + 2 * batches) * args.batch
    log(f"--profile: fresh database {database}; {batches} timed + {batches} cProfiled batches of {args.batch:,}")
    bodies = records.batch_bodies(total, args.batch)
    with fresh_database(database, redis_url=args.redis_url, keep=args.keep_db):
        django_setup(server_env(database, args.redis_url))

        from django.core.management import call_command
        from django.db import connection
        from django.db.backends.base import base as db_base
        from rest_framework.renderers import JSONRenderer
        from rest_framework.views import APIView

        import api.authentication
        import api.parsers
        import api.throttles
        from expertloop.wsgi import application
        from labeling.models import Project
        from labeling.services import ingest
        from labeling.services import records as rec
        from labeling.services.api_keys import create_api_key

        call_command("migrate", verbosity=0, interactive=False)
        project = Project.objects.create(slug="bench-w1-profile", name="Bench W1 profile")
        key = create_api_key(project=project, name="bench", scopes=["ingest"]).secret

        timer = StageTimer()
        timer.wrap(APIView, "dispatch", "DRF dispatch")
        timer.wrap(api.parsers.RawJSONParser, "parse", "read body (RawJSONParser)")
        timer.wrap(api.authentication.ApiKeyAuthentication, "authenticate", "authenticate key (1 SELECT)")
        timer.wrap(api.throttles.ApiKeyRateThrottle, "allow_request", "throttle (Redis add+incr)")
        timer.wrap(ingest, "ingest_outputs", "ingest_outputs [excl: redaction rules]")
        timer.wrap(rec, "decode_batch", "decode_batch (msgspec, validation)")
        timer.wrap(ingest, "_store", "_store [excl: sort]")
        timer.wrap(ingest, "_insert_postgresql", "_insert_postgresql [excl: build rows, encode; wait for the pipeline]")
        timer.wrap(psycopg.Cursor, "execute", "cursor.execute [excl: server round trip]")
        timer.wrap(psycopg._queries.PostgresQuery, "dump", "psycopg: adapt parameters")
        timer.wrap(ingest, "_classify", "_classify")
        timer.wrap(db_base.BaseDatabaseWrapper, "commit", "COMMIT")
        timer.wrap(
            db_base.BaseDatabaseWrapper, "run_and_clear_commit_hooks", "on_commit: publish route_outputs to Redis"
        )
        timer.wrap(JSONRenderer, "render", "render JSON response")

        def request(body: bytes) -> dict:
            environ = wsgi_environ(
                "POST", PATH, body=body, content_type="application/json", authorization=f"Bearer {key}"
            )
            status = []
            response = application(environ, lambda s, h, exc_info=None: status.append(s))
            try:
                payload = b"".join(response)
            finally:
                response.close()
            if not status[0].startswith("200"):
                raise SystemExit(f"{status[0]}: {payload[:500]!r}")
            return json.loads(payload)

        wsgi_name = "WSGI request (Django middleware, URL, DRF, view)"
        feed = iter(bodies)
        for body in itertools.islice(feed, warmups):
            request(body)
        samples: list[dict] = []
        walls = []
        for body in itertools.islice(feed, batches):
            _, wall, _, sample = timer.time_root(wsgi_name, lambda body=body: request(body))
            walls.append(wall)
            samples.append(sample)

        # Micro-benchmarks of the pure-Python steps, outside any request (no DB): the same body.
        from django.utils import timezone

        body = bodies[0]
        micro = defaultdict(list)
        for _ in range(batches):
            t0 = time.perf_counter()
            decoded = rec.decode_batch(body, rec.OUTPUTS)
            t1 = time.perf_counter()
            now = timezone.now()
            rows = [ingest._output_row(record, now=now, redactor=None) for record in decoded]
            t2 = time.perf_counter()
            for record in decoded:
                rec.content_hash(
                    record.external_id, record.occurred_at and rec.utc(record.occurred_at, now).isoformat(),
                    record.end_user_id, record.session_id, record.model, record.input, record.output, record.context,
                    record.metadata or {}, record.tags or [], None,
                )  # fmt: skip
            t3 = time.perf_counter()
            ingest._row_encoder.encode(list(map(itemgetter(*ingest._OUTPUT_COLUMNS), rows)))
            t4 = time.perf_counter()
            rows.sort(key=lambda row: row["external_id"] or "")
            t5 = time.perf_counter()
            micro["decode_batch (msgspec decode + checks)"].append(t1 - t0)
            micro["build rows (_output_row × N, incl. hash)"].append(t2 - t1)
            micro["  of which content_hash (encode + sha256)"].append(t3 - t2)
            micro["encode the rows as one JSON document"].append(t4 - t3)
            micro["sort rows"].append(t5 - t4)

        # The same 1,000 records through COPY into a jsonb table, for scale.
        copy_times = []
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE w1_floor_profile (doc jsonb)")
        chunk = copy_chunk(0, args.batch)
        raw = connection.connection
        for _ in range(batches):
            with raw.cursor() as cursor:
                began = time.perf_counter()
                with cursor.copy("COPY w1_floor_profile (doc) FROM STDIN") as copy:
                    copy.write(chunk)
                raw.commit() if not raw.autocommit else None
                copy_times.append(time.perf_counter() - began)
                cursor.execute("TRUNCATE w1_floor_profile")

        # cProfile of more requests (new records), for the function-level picture.
        profiler = cProfile.Profile()
        for body in itertools.islice(feed, batches):
            profiler.enable()
            request(body)
            profiler.disable()

    # --- report
    median_wall = statistics.median(walls) * 1000
    print()
    print(f"Per {args.batch:,}-record batch, median of {batches} requests (ms); total request {median_wall:.1f} ms")
    print(f"{'':72}{'inclusive':>10}{'exclusive':>10}{'share':>7}")
    lines = {}
    for stage in stage_medians(samples):
        path, inclusive, exclusive = stage["path"], stage["inclusive_ms"], stage["exclusive_ms"]
        label = "  " * (len(path) - 1) + path[-1]
        lines[" / ".join(path)] = {"inclusive_ms": round(inclusive, 2), "exclusive_ms": round(exclusive, 2)}
        print(f"{label[:72]:72}{inclusive:>10.1f}{exclusive:>10.1f}{exclusive / median_wall:>7.0%}")
    # Per request, then the median: medians of parts do not add up to the median of the whole.
    per_request = defaultdict(list)
    for sample, wall in zip(samples, walls, strict=True):
        database = sum(excl for path, (_, excl) in sample.items() if path[-1].startswith(("cursor.execute", "COMMIT")))
        broker = sum(excl for path, (_, excl) in sample.items() if path[-1].startswith(("throttle", "on_commit")))
        per_request["PostgreSQL (round trips + COMMIT)"].append(database * 1000)
        per_request["Redis (throttle + publish)"].append(broker * 1000)
        per_request["Python"].append((wall - database - broker) * 1000)
    waits = {name: statistics.median(values) for name, values in per_request.items() if name != "Python"}
    python_ms = statistics.median(per_request["Python"])
    database_ms, broker_ms = waits["PostgreSQL (round trips + COMMIT)"], waits["Redis (throttle + publish)"]
    print(f"{'= waiting on PostgreSQL (server round trips + COMMIT)':72}{database_ms:>10.1f}")
    print(f"{'= waiting on Redis (throttle + Celery publish, incl. kombu)':72}{broker_ms:>10.1f}")
    print(f"{'= Python in the worker (everything else)':72}{python_ms:>10.1f}")
    print()
    print("Pure-Python steps alone, same 1,000 records, no DB (median ms):")
    for name, values in micro.items():
        print(f"  {name:60}{statistics.median(values) * 1000:>8.1f}")
    copy_ms = statistics.median(copy_times) * 1000
    print(f"  {'COPY of the same 1,000 records into a jsonb table':60}{copy_ms:>8.1f}")
    print()
    print(f"cProfile of {batches} more requests, top functions by own time:")
    print("\n".join(cprofile_text(profiler, "tottime", 25).splitlines()[6:]))
    figures = {
        "batch": args.batch,
        "requests": batches,
        "request_ms_median": round(median_wall, 2),
        "stages": lines,
        "waiting_ms": {name: round(value, 2) for name, value in waits.items()},
        "python_ms": round(python_ms, 2),
        "micro_ms": {name: round(statistics.median(v) * 1000, 2) for name, v in micro.items()},
        "copy_same_batch_ms": round(copy_ms, 2),
    }
    save_profile("w1-profile", figures, {"": profiler})


def main() -> None:
    parser = workload_parser(__doc__)
    parser.add_argument("--records", type=int, default=100_000, help="records per run (default 100,000)")
    parser.add_argument("--batch", type=int, default=1_000, help="records per request (default 1,000)")
    parser.add_argument("--clients", default="1,4", help="concurrent clients, comma-separated (default 1,4)")
    parser.add_argument("--runs", type=int, default=3, help="runs per client count (default 3)")
    add_server_options(parser, workers=3)
    add_database_options(parser, database="expertloop_bench_w1")
    parser.add_argument("--profile", action="store_true", help="profile the request path in-process instead")
    parser.add_argument("--profile-batches", type=int, default=20, help="batches timed (and as many cProfiled)")
    args = parser.parse_args()
    if args.profile:
        profile(args)
        return
    report = Bench(args).run()
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
