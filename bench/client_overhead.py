"""Python client overhead: what `log_output` costs its caller, and outputs/s through the client vs raw batched POSTs.

    .venv/bin/python bench/client_overhead.py                  # ~2 min
    .venv/bin/python bench/client_overhead.py --calls 20000 --records 5000 --runs 1

What one run does (see bench/README.md, "Client overhead"):
  1. creates a fresh PostgreSQL database, migrates it, creates a project and an ingest key;
  2. starts gunicorn (`expertloop.wsgi`, DEBUG=false, REDIS_URL set so routing tasks are published, no worker;
     API_THROTTLE_RATE raised so that the key's rate limit is not what is measured), warms it up;
  3. (a) caller cost: `--callers` threads call `client.log_output` `--calls` times in all, as fast as they can,
     while the client's sender ships them to the server; every call is timed with perf_counter_ns; then flush and
     check that every output is stored;
  4. (b) throughput, `--runs` times on an emptied outputs table each: `--records` records logged through the client
     (clock: first call → every row stored, counted in PostgreSQL), then the floor: the same records as
     pre-serialised batches of the same size POSTed in a loop with one httpx.Client (first request → last answer);
  5. prints the percentiles, both rates and their ratio, writes bench/out/client-<timestamp>.json.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import threading
import time

import httpx
import records
from harness import OUT, ROOT
from harness.database import add_database_options, flush_redis, fresh_database, run_setup, server_env
from harness.report import git_state, log, machine, new_stamp, percentile, save_and_print, workload_parser
from harness.server import Gunicorn, add_server_options

sys.path.insert(0, str(ROOT / "clients" / "python" / "src"))  # the client of this checkout

from expertloop_client import Client  # noqa: E402

TARGET_RATIO = 0.8
SETUP_CODE = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
from labeling.models import Project
from labeling.services.api_keys import create_api_key
project = Project.objects.create(slug="bench-client", name="Bench client")
key = create_api_key(project=project, name="bench", scopes=["ingest"])
print("BENCH", project.pk, key.secret)
"""


def fields(index: int, prefix: str) -> dict:
    """log_output's keyword arguments for bench record `index` (records.py), under an id of this pass."""
    record = records.record(index)
    record["external_id"] = f"{prefix}{record['external_id']}"
    return record


class Bench:
    def __init__(self, args):
        self.args = args
        self.db = None

    def count(self) -> int:
        return self.db.conn.execute(
            "SELECT count(*) FROM labeling_output WHERE project_id = %s", [self.project]
        ).fetchone()[0]

    def empty(self) -> None:
        self.db.conn.execute("TRUNCATE labeling_output CASCADE")
        self.db.conn.execute("CHECKPOINT")
        flush_redis(self.args.redis_url)

    def run(self) -> dict:
        args = self.args
        env = server_env(args.database, args.redis_url, API_THROTTLE_RATE="1000000/min")
        stamp = new_stamp()
        with fresh_database(args.database, redis_url=args.redis_url, keep=args.keep_db) as self.db:
            log(f"Fresh database {args.database}: migrate, project, key …")
            project, self.key = run_setup(SETUP_CODE, env)
            self.project = int(project)
            server = Gunicorn(
                env=env, app=args.app, port=args.port, workers=args.workers, worker_class=args.worker_class,
                threads=args.threads, log_path=OUT / f"client-{stamp}-gunicorn.log", ready_path="/login/",
            )  # fmt: skip
            log(f"Starting gunicorn on 127.0.0.1:{server.port}: {args.workers} {args.worker_class} workers …")
            with server:
                self.url = server.url
                self.warm_up()
                caller = [self.caller_cost(rate=None), self.caller_cost(rate=args.rate)]
                passes = [self.throughput(run) for run in range(1, args.runs + 1)]
        report = self.report(caller, passes, stamp)
        save_and_print(f"client-{stamp}.json", report, print_report)
        return report

    def warm_up(self) -> None:
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}) as http:
            for n in range(4 * self.args.workers):
                body = json.dumps({"outputs": [fields(i, f"warm{n}-") for i in range(10)]})
                http.post("/api/v1/outputs", content=body, headers={"Content-Type": "application/json"})

    def caller_cost(self, *, rate: float | None) -> dict:
        """(a) every log_output call timed, from `--callers` threads (each at `rate` calls/s, or at full speed),
        the sender running; the interpreter's garbage collections are timed too, to tell their pauses apart."""
        args = self.args
        self.empty()
        calls = args.calls if rate is None else int(args.paced_seconds * rate)
        per_thread = calls // args.callers
        total = per_thread * args.callers
        prefix = "full-" if rate is None else "paced-"
        prepared = [[fields(t * per_thread + i, prefix) for i in range(per_thread)] for t in range(args.callers)]
        starts: list[list[int]] = [[] for _ in range(args.callers)]
        timings: list[list[int]] = [[] for _ in range(args.callers)]
        client = Client(self.url, self.key, batch_size=args.batch, max_queue=total + 1)
        barrier = threading.Barrier(args.callers + 1)
        collections: list[tuple[int, int, int]] = []  # (start ns, stop ns, generation)
        collecting: dict[str, int] = {}

        def on_gc(phase: str, info: dict) -> None:
            if phase == "start":
                collecting["at"] = time.perf_counter_ns()
            elif "at" in collecting:
                collections.append((collecting.pop("at"), time.perf_counter_ns(), info["generation"]))

        def produce(thread: int) -> None:
            mine, began, log_output, clock = timings[thread], starts[thread], client.log_output, time.perf_counter_ns
            interval = None if rate is None else args.callers / rate
            barrier.wait()
            first = time.monotonic()
            for index, record in enumerate(prepared[thread]):
                if interval is not None and (pause := first + index * interval - time.monotonic()) > 0:
                    time.sleep(pause)
                t0 = clock()
                log_output(**record)
                mine.append(clock() - t0)
                began.append(t0)

        pace = "at full speed" if rate is None else f"at {rate:,.0f} calls/s"
        log(f"(a) {total:,} log_output calls from {args.callers} thread(s) {pace} …")
        threads = [threading.Thread(target=produce, args=(n,)) for n in range(args.callers)]
        for thread in threads:
            thread.start()
        gc.callbacks.append(on_gc)
        barrier.wait()
        began = time.monotonic()
        try:
            for thread in threads:
                thread.join()
        finally:
            gc.callbacks.remove(on_gc)
        logging_s = time.monotonic() - began
        flushed = client.flush(timeout=600)
        stored_s = time.monotonic() - began
        stats = client.stats
        client.close()
        stored = self.count()
        calls_ns = [
            (t0, t0 + ns)
            for mine, firsts in zip(timings, starts, strict=True)
            for t0, ns in zip(firsts, mine, strict=True)
        ]
        in_gc = [
            any(start < gc_stop and gc_start < stop for gc_start, gc_stop, _ in collections) for start, stop in calls_ns
        ]
        us = sorted((stop - start) / 1000 for start, stop in calls_ns)
        outside_gc = sorted(
            (stop - start) / 1000 for (start, stop), hit in zip(calls_ns, in_gc, strict=True) if not hit
        )
        longest_gc = max(collections, key=lambda c: c[1] - c[0], default=(0, 0, -1))
        result = {
            "mode": "full speed" if rate is None else "paced", "rate": rate, "calls": total, "threads": args.callers,
            "logging_s": round(logging_s, 3), "calls_per_s": round(total / logging_s), "flushed": flushed,
            "all_stored_s": round(stored_s, 2), "stored": stored,
            "p50_us": round(percentile(us, 50), 2), "p99_us": round(percentile(us, 99), 2),
            "p99_9_us": round(percentile(us, 99.9), 2), "max_us": round(us[-1], 1),
            "over_1ms": sum(value > 1000 for value in us),
            "max_us_outside_gc": round(outside_gc[-1], 1) if outside_gc else None,
            "calls_during_gc": sum(in_gc), "collections": len(collections),
            "longest_gc_ms": round((longest_gc[1] - longest_gc[0]) / 1e6, 1), "longest_gc_generation": longest_gc[2],
            "stats": stats.__dict__,
        }  # fmt: skip
        log(
            f"    p50 {result['p50_us']} µs, p99 {result['p99_us']} µs, p99.9 {result['p99_9_us']} µs, "
            f"max {result['max_us']:.0f} µs ({result['max_us_outside_gc']} µs outside garbage collections; "
            f"longest collection {result['longest_gc_ms']} ms, generation {result['longest_gc_generation']}); "
            f"{result['calls_per_s']:,} calls/s; all stored {result['all_stored_s']} s"
        )
        return result

    def throughput(self, run: int) -> dict:
        """(b) outputs/s through the client and the raw floor, on an emptied table each (which goes first
        alternates from run to run, so that drift on a shared machine does not favour one)."""
        args = self.args
        prefix = f"b{run}-"
        batch = [fields(i, prefix) for i in range(args.records)]
        bodies = [
            json.dumps({"outputs": batch[start : start + args.batch]}).encode()
            for start in range(0, args.records, args.batch)
        ]
        results = {}
        for way in ("client", "raw") if run % 2 else ("raw", "client"):
            self.empty()
            results[way] = self.through_client(batch) if way == "client" else self.raw_posts(bodies)
            results[way]["stored"] = self.count()
        client, raw = results["client"], results["raw"]
        ok = client["created"] == raw["created"] == client["stored"] == raw["stored"] == args.records
        result = {
            "run": run, "records": args.records, "first": "client" if run % 2 else "raw",
            "client_s": round(client["seconds"], 3), "client_outputs_per_s": round(args.records / client["seconds"], 1),
            "raw_s": round(raw["seconds"], 3), "raw_outputs_per_s": round(args.records / raw["seconds"], 1),
            "ratio": round(raw["seconds"] / client["seconds"], 4), "client_retries": client["retries"], "ok": ok,
        }  # fmt: skip
        log(
            f"(b) run {run}: client {result['client_outputs_per_s']:,.0f} outputs/s, raw POSTs "
            f"{result['raw_outputs_per_s']:,.0f} outputs/s: ratio {result['ratio']:.3f}"
            + ("" if ok else " ** FAILED **")
        )
        return result

    def through_client(self, batch: list[dict]) -> dict:
        """Log every record, then flush: it returns once every batch was answered 200 (committed)."""
        client = Client(self.url, self.key, batch_size=self.args.batch, max_queue=len(batch) + 1)
        began = time.monotonic()
        for record in batch:
            client.log_output(**record)
        client.flush(timeout=600)
        seconds = time.monotonic() - began
        stats = client.stats
        client.close()
        return {"seconds": seconds, "created": stats.created, "retries": stats.retries}

    def raw_posts(self, bodies: list[bytes]) -> dict:
        """The floor: the same records, serialised beforehand, POSTed one batch after another on one connection."""
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        created = 0
        with httpx.Client(base_url=self.url, headers=headers, timeout=60) as http:
            began = time.monotonic()
            for body in bodies:
                response = http.post("/api/v1/outputs", content=body)
                created += response.json()["created"] if response.status_code == 200 else 0
            seconds = time.monotonic() - began
        return {"seconds": seconds, "created": created}

    def report(self, caller: list[dict], passes: list[dict], stamp: str) -> dict:
        args = self.args
        ratio = statistics.median(p["ratio"] for p in passes)
        return {
            "workload": "client overhead", "timestamp": stamp,
            "ok": all(p["ok"] for p in passes) and all(c["stored"] == c["calls"] for c in caller),
            "config": dict(vars(args)), "caller": caller, "throughput": passes,
            "summary": {
                "client_outputs_per_s": statistics.median(p["client_outputs_per_s"] for p in passes),
                "raw_outputs_per_s": statistics.median(p["raw_outputs_per_s"] for p in passes),
                "ratio": ratio, "ratio_runs": [p["ratio"] for p in passes], "target_ratio": TARGET_RATIO,
                "meets_target": ratio >= TARGET_RATIO,
            },
            "git": git_state(), "machine": machine(),
        }  # fmt: skip


def print_report(report: dict) -> None:
    summary = report["summary"]
    print()
    for caller in report["caller"]:
        pace = "at full speed" if caller["rate"] is None else f"at {caller['rate']:,.0f} calls/s"
        print(
            f"(a) log_output, {caller['calls']:,} calls from {caller['threads']} thread(s) {pace}, sender running: "
            f"p50 {caller['p50_us']} µs, p99 {caller['p99_us']} µs, p99.9 {caller['p99_9_us']} µs, "
            f"max {caller['max_us']} µs ({caller['over_1ms']} calls over 1 ms; max outside garbage collections "
            f"{caller['max_us_outside_gc']} µs; longest collection {caller['longest_gc_ms']} ms); "
            f"dropped {caller['stats']['dropped']}"
        )
    print(
        f"(b) median of {len(report['throughput'])} runs: through the client {summary['client_outputs_per_s']:,.0f} "
        f"outputs/s, raw batched POSTs {summary['raw_outputs_per_s']:,.0f} outputs/s: ratio {summary['ratio']:.3f} "
        f"(runs {summary['ratio_runs']}; target ≥ {TARGET_RATIO})"
    )
    print("verification:", "OK (every output stored once)" if report["ok"] else "FAILED")


def main() -> None:
    parser = workload_parser(__doc__)
    parser.add_argument("--calls", type=int, default=100_000, help="(a) calls at full speed (default 100,000)")
    parser.add_argument("--rate", type=float, default=2_000, help="(a) paced calls per second in all (default 2,000)")
    parser.add_argument("--paced-seconds", type=float, default=20, help="(a) how long the paced calls go (default 20)")
    parser.add_argument("--callers", type=int, default=1, help="(a) calling threads (default 1)")
    parser.add_argument("--records", type=int, default=20_000, help="(b) records per pass (default 20,000)")
    parser.add_argument("--batch", type=int, default=100, help="records per request, both ways (default 100)")
    parser.add_argument("--runs", type=int, default=5, help="(b) runs (default 5)")
    add_server_options(parser, workers=2)
    add_database_options(parser, database="expertloop_bench_client")
    args = parser.parse_args()
    report = Bench(args).run()
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
