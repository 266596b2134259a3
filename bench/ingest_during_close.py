"""Ingest while the weekly close runs: how long one product app's batches take during W4's close at 1M rows.

    .venv/bin/python bench/w4_close.py --database el_w4 --keep-template   # once: the W4 template (~3.5 min)
    .venv/bin/python bench/ingest_during_close.py --database el_w4        # ~25 s a run

Each run copies the W4 template to <prefix>_run, then, in this process: the same 100-record batches
(bench/records.py, external ids the template does not hold) go through `ingest_outputs` one after the other,
each timed from its body to its commit, first alone (the yardstick), then while a thread closes the week
(`close_week`, its second lane on a connection of its own). What people would see is the batches' p50 and
their longest: a batch that waits for a lock the close holds on the project's row waits for the step that
holds it. Routing tasks go to Redis (db 13, flushed), not run inline.
"""

import argparse
import importlib
import itertools
import statistics
import threading
import time
from datetime import date

from harness.database import copy_database, django_setup, flush_redis, server_env
from harness.report import log
from w4_close import WARM_MODULES, load_setup

BATCH = 100
FIRST_ID = 50_000_000  # far above the template's external ids: every batch is new outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="el_w4", help="prefix: <prefix>_tpl (made by w4_close.py) and _run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--alone", type=int, default=40, help="batches before the close, alone")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()
    template, run_db = f"{args.database}_tpl", f"{args.database}_run"
    setup = load_setup(template)
    if setup is None:
        raise SystemExit(f"No W4 template {template}: run bench/w4_close.py --database {args.database} --keep-template")
    django_setup(server_env(run_db, args.redis_url))
    for name in WARM_MODULES:  # what a worker has loaded since its first close (w4_close.py --warm)
        importlib.import_module(name)

    runs = [measure(args, template, run_db, setup, number) for number in range(1, args.runs + 1)]
    print(f"\nIngest of {BATCH}-record batches, {len(runs)} run(s), ms (median over runs):")
    for key in ("alone_p50", "alone_max", "during_p50", "during_max", "batches_during", "close_s"):
        values = [run[key] for run in runs]
        print(f"  {key:<15} {statistics.median(values):8.1f}   ({' / '.join(f'{v:.1f}' for v in values)})")


def measure(args, template: str, run_db: str, setup: dict, number: int) -> dict:
    import records
    from django.db import connections

    from labeling.models import Project
    from labeling.services.cycles import close_week
    from labeling.services.ingest import ingest_outputs

    connections.close_all()
    copy_s = copy_database(template, run_db)
    flush_redis(args.redis_url)
    project = Project.objects.get(pk=setup["project_id"])
    first = FIRST_ID + 10_000_000 * number  # an id range of its own per run
    bodies = (records.batch_body(start, start + BATCH) for start in itertools.count(first, BATCH))

    def ingest(body: bytes) -> float:
        started = time.perf_counter()
        assert ingest_outputs(project=project, body=body).created == BATCH
        return (time.perf_counter() - started) * 1000

    ingest(next(bodies))  # the first batch of a process pays for its imports and prepared statements
    alone = [ingest(next(bodies)) for _ in range(args.alone)]
    closed, errors = threading.Event(), []

    def close() -> None:
        try:
            close_week(project_id=project.pk, week=date.fromisoformat(setup["week"]))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()
            closed.set()

    closer = threading.Thread(target=close)
    started = time.perf_counter()
    closer.start()
    during = []
    while not closed.is_set():
        during.append(ingest(next(bodies)))
    closer.join()
    close_s = time.perf_counter() - started
    if errors:
        raise errors[0]
    run = {
        "alone_p50": statistics.median(alone),
        "alone_max": max(alone),
        "during_p50": statistics.median(during),
        "during_max": max(during),
        "batches_during": len(during),
        "close_s": close_s * 1000,
    }
    log(f"run {number}: copy {copy_s:.1f} s; alone p50 {run['alone_p50']:.1f} ms, max {run['alone_max']:.1f}; "
        f"during the close ({close_s:.1f} s, {len(during)} batches) p50 {run['during_p50']:.1f} ms, "
        f"max {run['during_max']:.1f}")  # fmt: skip
    connections.close_all()
    flush_redis(args.redis_url)
    return run


if __name__ == "__main__":
    main()
