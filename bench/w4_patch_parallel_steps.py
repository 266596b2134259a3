"""Try (`w4_close.py --compare w4_patch_parallel_steps`): the close's steps after resolve that read nothing the
others write run in two lanes, each on its own thread and database connection, and the report waits for both.

Lane 1: datasets, metrics, usage. Lane 2: retention, changes, themes. Every step reads the gold answers resolve
wrote and writes its own rows (under its own locks), so the order between lanes does not change what is stored. The
process's CPU is the same; only the close's wall time can shrink, by what one core's idle time was. Not in the
product: an experiment for the issue-19 figures ("close ≤ 5 s at 1M").
"""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial

from django.db import connection, transaction

from labeling.services import cycles


def _unwrapped(name: str):
    function = getattr(cycles, name)
    return getattr(function, "__wrapped__", function)  # the bench's step clock is not thread-safe


def _lane(steps, timings: dict) -> None:
    try:
        for name, call in steps:
            began = time.perf_counter()
            call()
            timings[name] = round(time.perf_counter() - began, 3)
    finally:
        connection.close()  # this thread's connection


def _close(project, cycle, *, week, closed_by, now):
    timings: dict[str, float] = {}
    began = time.perf_counter()
    resolved = cycles.resolve_stale_items(project_id=project.pk, through_week=week)
    timings["resolve"] = round(time.perf_counter() - began, 3)
    outcome: dict = {}

    def datasets():
        outcome["datasets"] = _unwrapped("_rebuild_datasets")(project)

    lanes = [
        [
            ("datasets", datasets),
            ("metrics", lambda: _unwrapped("refresh_week_metrics")(project=project, week=week)),
            ("usage", lambda: cycles.refresh_project_week(project=project, week=week, now=now)),
        ],
        [
            ("retention", lambda: _unwrapped("refresh_retention")(project=project, now=now)),
            ("changes", lambda: cycles.refresh_week_changes(project=project, week=week, now=now)),
            ("themes", lambda: cycles.refresh_week_themes(project=project, week=week)),
        ],
    ]
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(_lane, steps, timings) for steps in lanes]:
            future.result()
    timings["(both lanes, wall)"] = round(time.perf_counter() - began, 3)
    began = time.perf_counter()
    report = cycles.build_report(project=project, week=week, now=now, status=cycles.CycleStatus.CLOSED)
    timings["report"] = round(time.perf_counter() - began, 3)
    steps = [{"step": step, "seconds": seconds} for step, seconds in timings.items()]
    report["close"] = {"resolved_items": resolved, "datasets": outcome.get("datasets", []), "steps": steps}
    # From here as `cycles._close` does: freeze the report, open the next cycle, audit, digests.
    with transaction.atomic():
        won = cycles.ReviewCycle.objects.filter(pk=cycle.pk, status=cycles.CycleStatus.OPEN).update(
            status=cycles.CycleStatus.CLOSED, report=report, closed_at=now, closed_by=closed_by, **cycles._NO_FAILURE
        )
        cycles.get_cycle(project=project, week=week + timedelta(days=7))
        if won:
            cycles.AuditEvent.objects.create(
                project=project,
                actor=closed_by,
                action="cycle.closed",
                details={"week": cycles.week_label(week), **timings},
            )
            transaction.on_commit(partial(cycles.send_digests, cycle_id=cycle.pk), robust=True)
            cycle.refresh_from_db()
            cycles.webhook_events.cycle_closed(cycle)
            cycles.alerts.request_evaluation(project_id=project.pk)
    cycle.refresh_from_db()
    return cycle


cycles._close = _close
