"""Run a job's independent steps in two lanes, the first on a thread with a database connection of its own.

The weekly close's steps after resolve each read what resolve committed and write rows of their own, and each spends
its time either waiting on PostgreSQL or running Python. In two lanes, one lane's SQL runs while the other's Python
does: the close's wall time shrinks and its CPU does not grow. Python keeps one interpreter lock, so the lanes are
balanced by kind of work, not by time (bench/README.md, W4).

Side by side, the two lanes are the job's parallelism: their statements run without parallel query workers, which on
the two cores measured only queued for a core beside them (W4's close at 1M rows 4.8 -> 4.2 s, bench/README.md).

Another connection sees only committed rows. Inside a caller's transaction (an atomic block, a test's transaction)
and on SQLite (the demo: one writer at a time), the lanes run one after the other on the calling thread; so they do
when the server refuses the second connection (its connection limit reached): slower, not failed.
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager, nullcontext
from functools import partial
from typing import Any

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)

Step = tuple[str, Callable[[], Any]]


def can_run_side_by_side() -> bool:
    """Whether a second connection would see what this one sees: PostgreSQL, and no transaction open here."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def run_lanes(first: Sequence[Step], second: Sequence[Step]) -> tuple[dict[str, Any], list[dict]]:
    """Run the `first` lane's steps on a thread of their own while the `second` lane's run here, each lane in order
    (or both here, one lane after the other: see the module's docstring).

    Returns each step's result by name, and each step's timing (`{"step", "seconds", "lane"}`, lane 1 or 2) in the
    order the steps were given. A lane stops at its first error. Side by side, the other lane still runs to its end,
    then lane 2's error is raised (lane 1's, if it failed too, is logged), else lane 1's; one after the other, an
    error of lane 1 is raised at once.
    """
    results: dict[str, Any] = {}
    seconds: dict[str, float] = {name: 0.0 for name, _ in (*first, *second)}
    if len(seconds) != len(first) + len(second):
        raise ValueError("Each step of the lanes needs a name of its own.")
    lane_of = {name: lane for lane, steps in ((1, first), (2, second)) for name, _ in steps}
    errors: list[BaseException] = []

    def lane_one(*, side_by_side: bool) -> None:
        try:
            _run(first, results, seconds, side_by_side=side_by_side)
        except BaseException as exc:  # raised on the calling thread once lane 2 is done too
            errors.append(exc)

    thread = _start_on_own_connection(partial(lane_one, side_by_side=True)) if can_run_side_by_side() else None
    if thread is None:
        lane_one(side_by_side=False)
        if errors:
            raise errors[0]
    try:
        _run(second, results, seconds, side_by_side=thread is not None)
    except BaseException:
        _wait_for(thread)
        if errors:
            logger.error("lane 1 of the steps failed too", exc_info=errors[0])
        raise
    _wait_for(thread)
    if errors:
        raise errors[0]
    return results, [{"step": name, "seconds": took, "lane": lane_of[name]} for name, took in seconds.items()]


def _wait_for(thread: threading.Thread | None) -> None:
    """Join lane 1's thread, even when an exception interrupts the wait (a Celery soft time limit raises in the
    task's thread): the caller's locks (the week's) must outlive lane 1's writes, so the exception is raised once
    the thread is done."""
    interrupted = None
    while thread is not None:
        try:
            thread.join()
            break
        except BaseException as exc:
            interrupted = interrupted or exc
    if interrupted is not None:
        raise interrupted


def _start_on_own_connection(work: Callable[[], None]) -> threading.Thread | None:
    """Start `work` on a thread once that thread has a database connection of its own; None, with nothing started, when
    it could not get one (the server's or the role's connection limit reached, say): the caller then runs the lanes
    one after the other on its own connection, slower but not failed."""
    connected, refused = threading.Event(), []

    def run() -> None:
        try:
            connection.ensure_connection()
        except Exception as exc:  # whatever kept it from connecting, the caller's connection can do the work
            refused.append(exc)
        finally:
            connected.set()
        try:
            if not refused:
                work()
        finally:
            connection.close()  # this thread's connection: nothing else will ever use it

    thread = threading.Thread(target=run, name=f"{threading.current_thread().name}-lane")
    thread.start()
    try:
        connected.wait()
    except BaseException:
        _wait_for(thread)
        raise
    if refused:
        _wait_for(thread)
        logger.warning("lane 1 got no connection of its own (%s): the lanes run one after the other", refused[0])
        return None
    return thread


def _run(steps: Sequence[Step], results: dict, seconds: dict, *, side_by_side: bool) -> None:
    with _without_gather_workers() if side_by_side else nullcontext():
        for name, step in steps:
            started = time.perf_counter()
            try:
                results[name] = step()
            finally:
                seconds[name] = round(time.perf_counter() - started, 3)


@contextmanager
def _without_gather_workers():
    """This connection's statements run without parallel query workers until the block ends (see the module's
    docstring). Session-wide: the steps run many transactions."""
    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET max_parallel_workers_per_gather")
        except DatabaseError:  # the connection is gone (a step's error says why); Django drops it
            logger.warning("could not reset max_parallel_workers_per_gather", exc_info=True)
