"""Two lanes of steps: side by side on two connections when a second one sees the same rows, else one after the
other on the caller's."""

import os
import signal
import threading
import time

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection

from labeling.models import Project
from labeling.services.lanes import run_lanes
from tests.factories import ProjectFactory
from tests.helpers.concurrency import backend_pid
from tests.helpers.processes import wait_for


def backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", [pid])
        return cursor.fetchone()[0]


def gather_workers() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_lane_one_runs_at_the_same_time_on_a_connection_of_its_own_and_closes_it():
    ProjectFactory(slug="committed")
    lane_two_started = threading.Event()
    workers_before = gather_workers()

    def lane_one_waits_for_lane_two():
        # One after the other, lane 1 would run first and wait here in vain.
        assert lane_two_started.wait(timeout=10), "lane 2 did not start while lane 1 ran"
        return backend_pid(), gather_workers(), list(Project.objects.values_list("slug", flat=True))

    def lane_two():
        lane_two_started.set()
        return backend_pid(), gather_workers()

    results, steps = run_lanes([("one", lane_one_waits_for_lane_two)], [("two", lane_two)])

    (lane_one_pid, lane_one_workers, seen), (lane_two_pid, lane_two_workers) = results["one"], results["two"]
    assert lane_one_pid != lane_two_pid == backend_pid()
    assert seen == ["committed"]
    # The lanes are the parallelism: no gather workers beside them, and the caller's connection is as it was.
    assert (lane_one_workers, lane_two_workers) == ("0", "0") and workers_before == gather_workers() != "0"
    assert [(step["step"], step["lane"]) for step in steps] == [("one", 1), ("two", 2)]
    # The lane closed its connection; the server process ends a moment after the client says goodbye.
    assert wait_for(lambda: not backend_alive(lane_one_pid), timeout=10), "lane 1's connection was left open"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_when_the_server_refuses_lane_one_a_connection_the_lanes_run_one_after_the_other_on_the_callers(caplog):
    # A role allowed one connection, as a server at its connection limit: the caller's is the one.
    role = f"lanes_one_connection_{connection.settings_dict['NAME']}"[:63]
    with connection.cursor() as cursor:
        cursor.execute(f'DROP ROLE IF EXISTS "{role}"')  # left by an interrupted run
        cursor.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
    user = connection.settings_dict["USER"]
    connection.close()
    connection.settings_dict["USER"] = role
    try:
        caller = backend_pid()  # the role's one connection
        order = []

        def step(name):
            def run():
                order.append(name)
                return backend_pid()

            return run

        results, steps = run_lanes([("one", step("one"))], [("two", step("two"))])
    finally:
        connection.close()
        connection.settings_dict["USER"] = user
        with connection.cursor() as cursor:
            cursor.execute(f'DROP ROLE "{role}"')

    assert order == ["one", "two"] and results == {"one": caller, "two": caller}
    assert [(step["step"], step["lane"]) for step in steps] == [("one", 1), ("two", 2)]
    assert "lane 1 got no connection of its own" in caplog.text and "too many connections" in caplog.text


@pytest.mark.django_db
def test_inside_a_transaction_the_lanes_run_one_after_the_other_on_the_callers_connection_and_see_its_rows():
    order = []
    ProjectFactory(slug="not-committed")

    def step(name):
        def run():
            order.append(name)
            return list(Project.objects.values_list("slug", flat=True))

        return run

    results, steps = run_lanes([("a", step("a")), ("b", step("b"))], [("c", step("c"))])

    assert order == ["a", "b", "c"]
    assert results == {name: ["not-committed"] for name in "abc"}
    assert [step["step"] for step in steps] == ["a", "b", "c"] and all(step["seconds"] >= 0 for step in steps)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("failing_lane", [1, 2])
def test_side_by_side_a_failing_lane_stops_but_the_other_runs_to_its_end_before_the_error_is_raised(failing_lane):
    ran = []

    def fails():
        raise LookupError(f"lane {failing_lane} failed")

    def step(name):
        return lambda: ran.append(name)

    lane_one = [("one", fails), ("one more", step("one more"))] if failing_lane == 1 else [("one", step("one"))]
    lane_two = [("two", fails), ("two more", step("two more"))] if failing_lane == 2 else [("two", step("two"))]
    with pytest.raises(LookupError, match=f"lane {failing_lane} failed"):
        run_lanes(lane_one, lane_two)

    assert ran == (["two"] if failing_lane == 1 else ["one"])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_when_both_lanes_fail_lane_twos_error_is_raised():
    def fails(message):
        def run():
            raise LookupError(message)

        return run

    with pytest.raises(LookupError, match="lane 2"):
        run_lanes([("one", fails("lane 1"))], [("two", fails("lane 2"))])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_soft_time_limit_while_waiting_for_lane_one_is_raised_only_once_lane_one_is_done():
    # Celery's soft time limit is a signal whose handler raises in the task's thread: here, while that thread waits
    # for lane 1. The caller's week lock must outlive lane 1's writes, so the error waits for lane 1's end.
    lane_two_done, lane_one_done = threading.Event(), threading.Event()

    def lane_one():
        assert lane_two_done.wait(timeout=10)
        time.sleep(0.2)  # the calling thread is waiting for this one by now
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.5)  # without the wait, the error would reach the caller meanwhile
        ProjectFactory(slug="written-by-lane-one")
        lane_one_done.set()

    def soft_time_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGUSR1, soft_time_limit)
    try:
        with pytest.raises(SoftTimeLimitExceeded):
            try:
                run_lanes([("one", lane_one)], [("two", lane_two_done.set)])
            finally:
                lane_one_was_done = lane_one_done.is_set()
    finally:
        signal.signal(signal.SIGUSR1, previous)

    assert lane_one_was_done
    assert Project.objects.filter(slug="written-by-lane-one").exists()


@pytest.mark.django_db
def test_one_after_the_other_a_failing_lane_one_stops_before_lane_two():
    ran = []

    def fails():
        raise LookupError("lane 1 failed")

    with pytest.raises(LookupError, match="lane 1 failed"):
        run_lanes([("one", fails)], [("two", lambda: ran.append("two"))])

    assert ran == []


def test_two_steps_of_one_name_are_refused():
    with pytest.raises(ValueError, match="name of its own"):
        run_lanes([("metrics", lambda: None)], [("metrics", lambda: None)])
