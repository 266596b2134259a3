"""Ingest while the weekly close runs: how long one product app's batches take during W4's close at 1M rows.

    .venv/bin/python bench/w4_close.py --database el_w4 --keep-template   # once: the W4 template (~3.5 min)
    .venv/bin/python bench/ingest_during_close.py --database el_w4        # ~30 s a run

Each run copies the W4 template to <prefix>_run. This process sends the same 100-record batches (bench/records.py,
external ids the template does not hold) through `ingest_outputs`, one after the other, each timed from its body to
its commit: first alone (the yardstick), then while a child process closes the week as a warm worker would
(`w4_close.py`'s child, `--warm`: `close_week`, its second lane on a connection of its own). "During" counts the
batches that overlapped the close itself, up to the first batch that finds the week closed. What people see is the
batches' p50 and their longest: a batch that waits for a lock the close holds on the project's row waits for the
step that holds it. Routing tasks go to Redis (db 13, flushed), not run inline.
"""

import argparse
import itertools
import statistics
import threading
import time

from harness.database import copy_database, django_setup, flush_redis, server_env
from harness.report import log
from w4_close import load_setup, run_child

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

    runs = [measure(args, template, run_db, setup, number) for number in range(1, args.runs + 1)]
    print(f"\nIngest of {BATCH}-record batches, {len(runs)} run(s) (median over runs; ms, the close in s):")
    for key in ("alone_p50", "alone_max", "during_p50", "during_max", "batches_during", "close_s"):
        values = [run[key] for run in runs]
        print(f"  {key:<15} {statistics.median(values):8.1f}   ({' / '.join(f'{v:.1f}' for v in values)})")


def measure(args, template: str, run_db: str, setup: dict, number: int) -> dict:
    import records
    from django.db import connections

    from labeling.models import CycleStatus, Project, ReviewCycle
    from labeling.services.ingest import ingest_outputs

    connections.close_all()
    copy_s = copy_database(template, run_db)
    flush_redis(args.redis_url)
    project = Project.objects.get(pk=setup["project_id"])
    closed = ReviewCycle.objects.filter(project=project, week=setup["week"], status=CycleStatus.CLOSED)
    first = FIRST_ID + 10_000_000 * number  # an id range of its own per run
    bodies = (records.batch_body(start, start + BATCH) for start in itertools.count(first, BATCH))

    def ingest(body: bytes) -> tuple[float, float]:
        started = time.perf_counter()
        assert ingest_outputs(project=project, body=body).created == BATCH
        return started, time.perf_counter()

    ingest(next(bodies))  # the first batch of a process pays for its imports and prepared statements
    alone = [end - start for start, end in (ingest(next(bodies)) for _ in range(args.alone))]
    close, errors = {}, []

    def close_in_a_child() -> None:  # as a worker would: another process, warm (w4_close.py --warm)
        try:
            close.update(run_child(run_db, setup, warm=True))
        except BaseException as exc:  # a failed close exits the child: reported below
            errors.append(exc)

    closer = threading.Thread(target=close_in_a_child)
    closer.start()
    batches = []
    while closer.is_alive() and not closed.exists():
        batches.append(ingest(next(bodies)))
    closed_at = time.perf_counter()
    closer.join()
    if errors:
        raise errors[0]
    # The batches that overlapped the close itself: not the child's start-up, nor its queued tasks after the close.
    opened_at = closed_at - close["seconds"]
    during = [end - start for start, end in batches if end > opened_at]
    run = {
        "alone_p50": statistics.median(alone) * 1000,
        "alone_max": max(alone) * 1000,
        "during_p50": statistics.median(during) * 1000,
        "during_max": max(during) * 1000,
        "batches_during": len(during),
        "close_s": close["seconds"],
    }
    log(f"run {number}: copy {copy_s:.1f} s; alone p50 {run['alone_p50']:.1f} ms, max {run['alone_max']:.1f}; "
        f"during the close ({close['seconds']:.1f} s, {len(during)} batches) p50 {run['during_p50']:.1f} ms, "
        f"max {run['during_max']:.1f}; lock waits {close['lock_waits']['waits']}")  # fmt: skip
    connections.close_all()
    flush_redis(args.redis_url)
    return run


if __name__ == "__main__":
    main()
