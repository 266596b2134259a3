"""Claim with stale statistics: the time of "next item"'s claim at an expert history of 0 and 50,000 labels.

    .venv/bin/python bench/claim_history.py                      # history 0 and 50,000 (~30 s)
    .venv/bin/python bench/claim_history.py --histories 0,5000,50000 --others 50000 --claims 20

What one invocation does (see bench/README.md, "Claim and the expert's history"):
  1. a fresh PostgreSQL database, migrated, with (Django in this process) a project, one queue (overlap 1)
     of `--open` items with a free slot each, and two experts;
  2. ANALYZE labeling_slot while nobody holds a slot, then autovacuum off on labeling_slot for the run
     (restored afterwards), so the statistics stay as stale as after a bulk import: the planner believes
     the expert holds no slot whatever their history;
  3. `--others` done slots for the second expert (their history is in everyone's way in the old claim),
     then for each history size in turn the expert's done slots grow to it (INSERT … SELECT
     generate_series, tests/helpers/history.py), and the claim (`assignment._claim`, the one statement
     "next item" runs when the expert holds no lease) is timed `--claims` times, each in a transaction
     rolled back, and its statement EXPLAINed (ANALYZE, BUFFERS), also rolled back; so is "next item" as a
     whole (`next_item_id`: the membership check, the resume of a lease, none here, and the claim);
  4. prints the median per history size, the ratio to history 0 and the plans, writes
     bench/out/claim-history-<timestamp>.json.
"""

from __future__ import annotations

import statistics
import time

from harness.database import add_database_options, django_setup, fresh_database, server_env
from harness.report import git_state, log, machine, new_stamp, save_and_print, workload_parser

SLOT_TABLE = "labeling_slot"


def set_up(args) -> dict:
    """Migrate; a project, one queue of `--open` items with a free slot each, two experts; stale statistics."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from labeling.models import Membership, Output, Project, Queue, Role, Slot
    from labeling.services import routing
    from tests.helpers.history import add_history

    call_command("migrate", verbosity=0, interactive=False)
    project = Project.objects.create(slug="bench-claim", name="Bench claim")
    began = time.perf_counter()
    occurred = timezone.now()
    Output.objects.bulk_create(
        Output(project=project, external_id=f"open-{n}", occurred_at=occurred, received_at=occurred,
               output={"text": f"answer {n}"}, content_hash=f"{n:064d}")
        for n in range(args.open)
    )  # fmt: skip
    queue = Queue.objects.create(project=project, slug="all", name="All", overlap=1, sample_rate=1.0)
    routing.backfill_queue(queue=queue, chunk=5_000)
    User = get_user_model()
    expert, other = User.objects.bulk_create([User(username="claim-expert"), User(username="claim-other")])
    Membership.objects.bulk_create([Membership(user=u, project=project, role=Role.EXPERT) for u in (expert, other)])
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {SLOT_TABLE}")  # nobody holds a slot: the statistics say so from now on
        cursor.execute(f"ALTER TABLE {SLOT_TABLE} SET (autovacuum_enabled = false)")
    add_history(queue=queue, expert=other, count=args.others)
    slots = Slot.objects.filter(queue=queue).count()
    log(f"set up: {slots} slots, {args.open} open, in {time.perf_counter() - began:.1f} s")
    return {"queue": queue, "expert": expert}


def measure(expert, queue, claims: int) -> dict:
    """Median of `claims` claims (each rolled back) and EXPLAIN (ANALYZE, BUFFERS) of the claim's statement."""
    from django.db import connection, transaction
    from django.utils import timezone

    from labeling.services import assignment

    times, next_times = [], []
    for _ in range(claims):
        with transaction.atomic():
            began = time.perf_counter()
            item_id = assignment._claim(expert, queue)
            times.append((time.perf_counter() - began) * 1000)
            transaction.set_rollback(True)
        with transaction.atomic():  # the whole "next item": membership check, resume (none), claim
            began = time.perf_counter()
            assignment.next_item_id(expert=expert, queue=queue)
            next_times.append((time.perf_counter() - began) * 1000)
            transaction.set_rollback(True)
    if item_id is None:
        raise SystemExit("the claim found nothing to hand out")
    # The claim's own statement and values, EXPLAINed as `_claim` runs it (its captured text keeps server-side
    # placeholders that a second statement cannot bind).
    now = timezone.now()
    values = {"state": "leased", "expert_id": expert.pk, "leased_at": now, "lease_expires_at": now,
              "expert": expert.pk, "queue": queue.pk, "now": now}  # fmt: skip
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + assignment.CLAIM_SQL, values)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return {
        "median_ms": round(statistics.median(times), 3),
        "min_ms": round(min(times), 3),
        "next_item_median_ms": round(statistics.median(next_times), 3),
        "plan": plan,
    }


def run(args) -> dict:
    from django.db import connection

    from labeling.models import Slot
    from tests.helpers.history import add_history

    made = set_up(args)
    expert, queue = made["expert"], made["queue"]
    figures, held = {}, 0
    try:
        for size in sorted(args.histories):
            began = time.perf_counter()
            add_history(queue=queue, expert=expert, count=size - held)
            held = size
            log(f"history {size}: added in {time.perf_counter() - began:.1f} s")
            assert Slot.objects.filter(expert=expert).count() == size
            figures[size] = measure(expert, queue, args.claims)
            log(f"history {size}: claim median {figures[size]['median_ms']} ms")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {SLOT_TABLE} RESET (autovacuum_enabled)")
    base = figures[min(figures)]["median_ms"]
    for result in figures.values():
        result["ratio_to_smallest"] = round(result["median_ms"] / base, 2)
    return {
        "workload": "claim-history",
        "git": git_state(),
        "machine": machine(),
        "config": {k: v for k, v in vars(args).items() if k not in ("redis_url",)},
        "histories": figures,
    }


def print_report(report: dict) -> None:
    for size, result in report["histories"].items():
        print(f"\n=== expert history {size}: claim median {result['median_ms']} ms "
              f"(min {result['min_ms']}), ×{result['ratio_to_smallest']} of the smallest history; "
              f"next item (resume + claim) {result['next_item_median_ms']} ms")  # fmt: skip
        print(result["plan"])


def main() -> None:
    parser = workload_parser(__doc__)
    parser.add_argument("--histories", default="0,50000", type=lambda s: [int(n) for n in s.split(",")])
    parser.add_argument("--others", type=int, default=0, help="done slots of another expert (default 0)")
    parser.add_argument("--open", type=int, default=1_000, help="open items in the queue (default 1,000)")
    parser.add_argument("--claims", type=int, default=20, help="claims timed per history size (default 20)")
    add_database_options(parser, database="expertloop_bench_claim")
    args = parser.parse_args()
    if args.claims < 1:
        parser.error("--claims must be at least 1: a median of no claims is not a figure")
    with fresh_database(args.database, keep=args.keep_db):
        django_setup(server_env(args.database))
        report = run(args)
    save_and_print(f"claim-history-{new_stamp()}.json", report, print_report)


if __name__ == "__main__":
    main()
