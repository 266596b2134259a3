"""Run calls at the same time, as concurrent requests or tasks would, each on its own database connection."""

import threading
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from functools import partial
from typing import Any

from django.db import connection, transaction

from tests.helpers.processes import wait_for


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[Exception]]:
    """Start `target()` on a thread with a database connection of its own (closed when it ends); return the thread
    and the list its exception goes to. Needs `django_db(transaction=True)`."""
    errors: list[Exception] = []

    def run() -> None:
        try:
            target()
        except Exception as exc:  # reported to the test
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def run_at_once(target: Callable[..., Any], calls: Iterable[tuple]) -> tuple[list[Any], list[Exception]]:
    """Call `target(*args)` for each args in `calls`, one thread each (`in_thread`), released together; return the
    results and the exceptions (a thread's exception is otherwise lost). Needs `django_db(transaction=True)`."""
    calls = list(calls)
    start = threading.Barrier(len(calls))
    results = []

    def call(args: tuple) -> None:
        start.wait()
        results.append(target(*args))

    started = [in_thread(partial(call, args)) for args in calls]
    for thread, _ in started:
        thread.join()
    return results, [error for _, errors in started for error in errors]


def backend_pid() -> int:
    """This thread's PostgreSQL backend (what `pg_terminate_backend` or `pg_locks` name)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def waits_on_a_lock(pid: int) -> bool:
    """Whether the backend waits for a lock now: pg_locks is read live (pg_stat_activity would be a snapshot for
    the rest of this transaction)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", [pid])
        return cursor.fetchone()[0]


def in_thread_noting_its_pid(target: Callable[[], Any]) -> tuple[threading.Thread, list[Exception], list[int]]:
    """`in_thread`, and the list its backend's pid goes to once its connection is open."""
    pid: list[int] = []

    def run() -> None:
        pid.append(backend_pid())
        target()

    return (*in_thread(run), pid)


def comes_to_wait_on_a_lock(pid: list[int]) -> bool:
    """Whether the backend of `in_thread_noting_its_pid` waits for a lock within `wait_for`'s time."""
    return wait_for(lambda: bool(pid) and waits_on_a_lock(pid[0]))


def waiting_on_a_lock(target: Callable[[], Any]) -> tuple[threading.Thread, list[Exception]]:
    """`target()` on a thread of its own, returned (with its errors) once it waits for a lock."""
    thread, errors, pid = in_thread_noting_its_pid(target)
    assert comes_to_wait_on_a_lock(pid)
    return thread, errors


def waits_for_uncommitted(change: Callable[[], Any], work: Callable[[], Any]) -> list[Exception]:
    """Make `change()` on a thread of its own and hold it uncommitted; run `work()` (which read the state before it)
    until it waits for one of the change's locks; then commit the change, let the work finish, and return the
    work's errors (the change must raise none)."""
    changed, release = threading.Event(), threading.Event()

    def change_and_hold() -> None:
        with transaction.atomic():
            change()
            changed.set()
            release.wait(20)

    changer, change_errors = in_thread(change_and_hold)
    assert changed.wait(20)
    worker, work_errors = waiting_on_a_lock(work)
    release.set()
    changer.join(20)
    worker.join(20)
    assert change_errors == []
    return work_errors


@contextmanager
def held_halfway(work, table_it_writes: str):
    """Run `work()` on a thread of its own until it waits for `table_it_writes`, which another connection holds;
    yield while it waits, holding whatever it has locked so far, then let it finish and raise what it raised."""
    holding, release = threading.Event(), threading.Event()

    def hold_the_table():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {table_it_writes} IN SHARE MODE")
            holding.set()
            release.wait(30)

    holder, holder_errors = in_thread(hold_the_table)
    assert holding.wait(20)
    worker, work_errors, worker_pid = in_thread_noting_its_pid(work)
    try:
        assert comes_to_wait_on_a_lock(worker_pid)
        with connection.cursor() as cursor:
            # The work cannot end while the table is held: whatever waited for it would end in this error.
            cursor.execute("SET lock_timeout = '5s'")
        yield
        assert worker.is_alive()  # still in flight while the test's own writes went in
    finally:
        release.set()
        holder.join(30)
        worker.join(60)
    assert not holder_errors and not work_errors
