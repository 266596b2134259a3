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

import argparse
import cProfile
import functools
import http.client
import io
import itertools
import json
import os
import platform
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import psycopg
import psycopg._queries
import records
import redis

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PG = "host=127.0.0.1 port=5432 user=postgres"
PG_URL = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/14"
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


# ----------------------------------------------------------------------------------------------
# Small helpers


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def git_state() -> dict:
    """The commit under test, and whether the server's code differs from it."""

    def git(*args):
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        except OSError:
            return ""
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "labeling", "api", "expertloop")
    return {"commit": git("rev-parse", "--short", "HEAD"), "server_code_changed": changed.splitlines()}


def copy_chunk(start: int, stop: int) -> bytes:
    """Records as COPY text-format lines: a backslash is COPY's escape, so JSON's own are doubled."""
    return b"".join(records.record_json(i).replace(b"\\", b"\\\\") + b"\n" for i in range(start, stop))


def warmup_body(indexes: range) -> bytes:
    outputs = [{**records.record(i), "external_id": f"warmup-{i}"} for i in indexes]
    return json.dumps({"outputs": outputs}).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        DATABASE_URL=f"{PG_URL}/{database}",
        SECRET_KEY="bench",
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        REDIS_URL=redis_url,
        DJANGO_SETTINGS_MODULE="expertloop.settings",
        LOG_LEVEL="WARNING",
    )
    return env


def recreate_database(name: str) -> None:
    with psycopg.connect(f"{PG} dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with psycopg.connect(f"{PG} dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis(url: str) -> None:
    redis.Redis.from_url(url).flushdb()


# ----------------------------------------------------------------------------------------------
# /proc sampling: server RSS and CPU


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


_TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(master: int) -> float:
    return sum(_cpu_ticks(pid) for pid in [master, *_children(master)]) / _TICK


def postgres_cpu_ticks() -> dict[int, int]:
    """CPU ticks of every `postgres` process on the machine, by pid."""
    ticks = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if Path(entry.path, "comm").read_text().strip() == "postgres":
                    ticks[int(entry.name)] = _cpu_ticks(int(entry.name))
            except OSError:
                continue
    return ticks


def postgres_cpu_since(before: dict[int, int]) -> float:
    """CPU seconds used by postgres processes since `before` (approximate: a process that exited in
    between is missed, and other users' queries on the same server count too)."""
    after = postgres_cpu_ticks()
    return sum(max(0, ticks - before.get(pid, 0)) for pid, ticks in after.items()) / _TICK


class RssSampler(threading.Thread):
    """Sum of VmRSS of a process and its children, every `interval` seconds; `peak` since reset()."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = self.last_kb = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def sample(self) -> int:
        pids = [self.pid, *_children(self.pid)]
        return sum(_rss_kb(pid) for pid in pids)

    def reset(self) -> None:
        self.peak_kb, self.samples = self.sample(), 0

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.last_kb = self.sample()
            self.peak_kb = max(self.peak_kb, self.last_kb)
            self.samples += 1

    def stop(self) -> None:
        self._stop_event.set()


# ----------------------------------------------------------------------------------------------
# The server


class Server:
    def __init__(
        self, *, app: str, port: int, workers: int, worker_class: str, threads: int, env: dict, log_path: Path
    ):
        self.port = port
        self.args = [
            sys.executable, "-m", "gunicorn", app,
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers),
            "--worker-class", worker_class,
            "--threads", str(threads),
            "--timeout", "120",
            "--graceful-timeout", "10",
            "--no-control-socket",  # gunicorn ≥ 25 shares ~/.gunicorn/gunicorn.ctl between servers otherwise
        ]  # fmt: skip
        self.workers = workers
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            if len(_children(self.process.pid)) >= self.workers and self._answers():
                return
            time.sleep(0.1)
        raise SystemExit(f"gunicorn did not answer within {timeout} s; see {self.log_path}")

    def _answers(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/api/v1/outputs/ready-check")
            conn.getresponse().read()
            conn.close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self._log.close()


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
        self.database = args.database
        self.conn: psycopg.Connection | None = None

    def db(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(f"{PG} dbname={self.database}", autocommit=True)
        return self.conn

    def set_up_database(self, env: dict) -> tuple[int, str]:
        recreate_database(self.database)
        done = subprocess.run(
            [sys.executable, "-c", SETUP_CODE], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        line = next((line for line in done.stdout.splitlines() if line.startswith("BENCH ")), None)
        if done.returncode or line is None:
            raise SystemExit(f"Setting up the database failed:\n{done.stdout}\n{done.stderr}")
        _, project_id, key = line.split()
        self.db().execute(f"CREATE TABLE {FLOOR_TABLE} (doc jsonb)")
        return int(project_id), key

    def empty_outputs(self) -> None:
        conn = self.db()
        conn.execute("TRUNCATE labeling_output CASCADE")
        conn.execute("CHECKPOINT")

    def count_outputs(self, project_id: int) -> int:
        query = "SELECT count(*) FROM labeling_output WHERE project_id = %s"
        return self.db().execute(query, [project_id]).fetchone()[0]

    def copy_floor(self, chunks: list[bytes]) -> dict:
        conn = self.db()
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

        env = server_env(self.database, args.redis_url)
        flush_redis(args.redis_url)
        log(f"Fresh database {self.database}: migrate, project, key …")
        project_id, key = self.set_up_database(env)
        port = args.port or free_port()
        OUT.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        server = Server(
            app=args.app,
            port=port,
            workers=args.workers,
            worker_class=args.worker_class,
            threads=args.threads,
            env=env,
            log_path=OUT / f"w1-{stamp}-gunicorn.log",
        )
        log(f"Starting gunicorn {args.app} on 127.0.0.1:{port}: {args.workers} {args.worker_class} workers …")
        server.start()
        sampler = RssSampler(server.process.pid, args.rss_interval)
        sampler.start()
        runs, floors, failures = [], [], []
        try:
            # Warm-up: every worker imports its views and opens its DB and Redis connections.
            post_batches(port, key, warmup, args.workers)
            idle_rss_mb = sampler.sample() / 1024
            log(f"  ready; idle server RSS {idle_rss_mb:.0f} MB")
            for run in range(1, args.runs + 1):
                for clients in client_modes:
                    self.empty_outputs()
                    flush_redis(args.redis_url)
                    cpu_server, cpu_pg = tree_cpu_seconds(server.process.pid), postgres_cpu_ticks()
                    cpu_client = time.process_time()
                    sampler.reset()
                    outcome = post_batches(port, key, bodies, clients)
                    peak_mb = max(sampler.peak_kb, sampler.sample()) / 1024
                    cpu_server = tree_cpu_seconds(server.process.pid) - cpu_server
                    cpu_pg = postgres_cpu_since(cpu_pg)
                    cpu_client = time.process_time() - cpu_client
                    result = self._check(outcome, project_id, args.records)
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
                        server_cpu_s=round(cpu_server, 2),
                        postgres_cpu_s=round(cpu_pg, 2),
                        client_cpu_s=round(cpu_client, 2),
                        latencies_ms=[round(value, 2) for value in latencies_ms],
                    )
                    runs.append(result)
                    log(
                        f"run {run} · {clients} client{'s' if clients > 1 else ''}: "
                        f"{result['outputs_per_s']:,.0f} outputs/s "
                        f"({result['seconds']:.1f} s), p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, "
                        f"peak RSS {peak_mb:.0f} MB, CPU server {cpu_server:.1f} s / postgres {cpu_pg:.1f} s"
                        + ("" if result["ok"] else "  ** FAILED **")
                    )
                floor = self.copy_floor(chunks)
                floor["run"] = run
                if floor["rows"] != args.records:
                    failures.append(f"run {run}: COPY stored {floor['rows']} rows, expected {args.records}")
                floors.append(floor)
                log(f"run {run} · COPY floor: {floor['rows_per_s']:,.0f} rows/s ({floor['seconds']:.2f} s)")
        finally:
            sampler.stop()
            server.stop()
            flush_redis(args.redis_url)
            if self.conn is not None:
                self.conn.close()
            if not args.keep_db:
                drop_database(self.database)

        report = self._report(runs, floors, client_modes, idle_rss_mb, megabytes, failures, port, stamp)
        path = OUT / f"w1-{stamp}.json"
        path.write_text(json.dumps(report, indent=2) + "\n")
        self._print(report)
        log(f"Wrote {path.relative_to(ROOT)}")
        return report

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
                "database": self.database,
                "redis_url": args.redis_url,
                "request_megabytes": round(megabytes, 1),
            },
            "git": git_state(),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "postgres": psycopg.connect(f"{PG} dbname=postgres").execute("SHOW server_version").fetchone()[0],
                "load_average": os.getloadavg(),
            },
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


class StageTimer:
    """Inclusive time per call path of wrapped functions; exclusive = inclusive - wrapped children."""

    def __init__(self):
        self.stack: list[str] = []
        self.inclusive: dict[tuple, float] = defaultdict(float)
        self.active = False

    def wrap(self, owner, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)
        timer = self

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            if not timer.active:
                return original(*args, **kwargs)
            timer.stack.append(name)
            path = tuple(timer.stack)
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timer.inclusive[path] += time.perf_counter() - began
                timer.stack.pop()

        setattr(owner, attribute, wrapper)

    def take(self) -> dict[tuple, tuple[float, float]]:
        """{path: (inclusive, exclusive)} of the calls since the last take()."""
        inclusive = dict(self.inclusive)
        self.inclusive.clear()
        result = {}
        for path, total in inclusive.items():
            children = sum(t for p, t in inclusive.items() if len(p) == len(path) + 1 and p[: len(path)] == path)
            result[path] = (total, total - children)
        return result


def profile(args) -> None:
    database = f"{args.database}_profile"
    env = server_env(database, args.redis_url)
    names = ("DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "LOG_LEVEL")
    os.environ.update({name: env[name] for name in names})
    sys.path.insert(0, str(ROOT))
    batches = args.profile_batches
    warmups = 3
    total = (warmups + 2 * batches) * args.batch
    log(f"--profile: fresh database {database}; {batches} timed + {batches} cProfiled batches of {args.batch:,}")
    bodies = records.batch_bodies(total, args.batch)
    recreate_database(database)
    flush_redis(args.redis_url)

    import django

    django.setup()
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
    timer.wrap(ingest, "ingest_outputs", "ingest_outputs [excl: build rows + content_hash]")
    timer.wrap(rec, "decode_batch", "decode_batch (msgspec, validation)")
    timer.wrap(ingest, "_store", "_store [excl: sort]")
    timer.wrap(ingest, "_insert_postgresql", "_insert_postgresql [excl: canonical_json params]")
    timer.wrap(psycopg.Cursor, "execute", "cursor.execute [excl: server round trip]")
    timer.wrap(psycopg._queries.PostgresQuery, "dump", "psycopg: adapt parameters (text-format arrays)")
    timer.wrap(ingest, "_classify", "_classify")
    timer.wrap(db_base.BaseDatabaseWrapper, "commit", "COMMIT")
    timer.wrap(db_base.BaseDatabaseWrapper, "run_and_clear_commit_hooks", "on_commit: publish route_outputs to Redis")
    timer.wrap(JSONRenderer, "render", "render JSON response")

    def request(body: bytes) -> dict:
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": PATH, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "HTTP_AUTHORIZATION": f"Bearer {key}",
            "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
        }  # fmt: skip
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
    try:
        for body in itertools.islice(feed, warmups):
            request(body)
        samples: list[dict] = []
        walls = []
        for body in itertools.islice(feed, batches):
            timer.active = True
            timer.stack.append(wsgi_name)
            began = time.perf_counter()
            request(body)
            timer.inclusive[(wsgi_name,)] += time.perf_counter() - began
            timer.stack.pop()
            timer.active = False
            walls.append(time.perf_counter() - began)
            samples.append(timer.take())

        # Micro-benchmarks of the pure-Python steps, outside any request (no DB): the same body.
        from django.utils import timezone

        body = bodies[0]
        micro = defaultdict(list)
        for _ in range(batches):
            t0 = time.perf_counter()
            decoded = rec.decode_batch(body, rec.OUTPUTS)
            t1 = time.perf_counter()
            now = timezone.now()
            rows = [ingest._output_row(record, now, None) for record in decoded]
            t2 = time.perf_counter()
            for record in decoded:
                rec.content_hash(
                    record.external_id, record.occurred_at and rec.utc(record.occurred_at, now).isoformat(),
                    record.end_user_id, record.session_id, record.model, record.input, record.output, record.context,
                    record.metadata or {}, record.tags or [], None,
                )  # fmt: skip
            t3 = time.perf_counter()
            for name in ("input", "output", "context", "metadata", "tags"):
                [rec.canonical_json(row[name]) for row in rows]
            t4 = time.perf_counter()
            rows.sort(key=lambda row: row["external_id"] or "")
            t5 = time.perf_counter()
            micro["decode_batch (msgspec decode + checks)"].append(t1 - t0)
            micro["build rows (_output_row × N, incl. hash)"].append(t2 - t1)
            micro["  of which content_hash (encode + sha256)"].append(t3 - t2)
            micro["canonical_json of the 5 JSON columns"].append(t4 - t3)
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
    finally:
        flush_redis(args.redis_url)
        connection.close()
        if not args.keep_db:
            drop_database(database)

    # --- report
    first_seen: dict[tuple, int] = {}
    for sample in samples:
        for path in sample:
            first_seen.setdefault(path, len(first_seen))

    def tree_order(path):  # depth-first, children in first-seen order
        return tuple(first_seen.get(path[:i], 0) for i in range(1, len(path) + 1))

    paths = sorted(first_seen, key=tree_order)
    median_wall = statistics.median(walls) * 1000
    print()
    print(f"Per {args.batch:,}-record batch, median of {batches} requests (ms); total request {median_wall:.1f} ms")
    print(f"{'':72}{'inclusive':>10}{'exclusive':>10}{'share':>7}")
    lines = {}
    for path in paths:
        inclusive = statistics.median(sample.get(path, (0, 0))[0] for sample in samples) * 1000
        exclusive = statistics.median(sample.get(path, (0, 0))[1] for sample in samples) * 1000
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
    stats_stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stats_stream)
    stats.sort_stats("tottime").print_stats(25)
    print(f"cProfile of {batches} more requests, top functions by own time:")
    print("\n".join(stats_stream.getvalue().splitlines()[6:]))
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    profiler.dump_stats(OUT / f"w1-profile-{stamp}.prof")
    (OUT / f"w1-profile-{stamp}.json").write_text(
        json.dumps(
            {
                "batch": args.batch,
                "requests": batches,
                "request_ms_median": round(median_wall, 2),
                "stages": lines,
                "waiting_ms": {name: round(value, 2) for name, value in waits.items()},
                "python_ms": round(python_ms, 2),
                "micro_ms": {name: round(statistics.median(v) * 1000, 2) for name, v in micro.items()},
                "copy_same_batch_ms": round(copy_ms, 2),
            },
            indent=2,
        )
        + "\n"
    )
    log(f"Wrote bench/out/w1-profile-{stamp}.json and .prof (open with: python -m pstats)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000, help="records per run (default 100,000)")
    parser.add_argument("--batch", type=int, default=1_000, help="records per request (default 1,000)")
    parser.add_argument("--clients", default="1,4", help="concurrent clients, comma-separated (default 1,4)")
    parser.add_argument("--runs", type=int, default=3, help="runs per client count (default 3)")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (default sync)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker, for gthread (default 1)")
    parser.add_argument(
        "--app",
        default="expertloop.wsgi",
        help="WSGI app for gunicorn (default expertloop.wsgi); e.g. a patched copy on PYTHONPATH to try a change",
    )
    parser.add_argument("--database", default="expertloop_bench_w1", help="database to (re)create")
    parser.add_argument(
        "--redis-url", default=REDIS_URL, help=f"Redis for Celery and the cache, flushed (default {REDIS_URL})"
    )
    parser.add_argument("--rss-interval", type=float, default=0.05, help="RSS sampling interval, s (default 0.05)")
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
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
