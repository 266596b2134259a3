"""A process killed with SIGKILL in the middle of a long SQL statement leaves no backend behind.

PostgreSQL notices a dead client only when it next talks to it: without client_connection_check_interval the
orphan backend would run a dataset build's INSERT … SELECT (or a close's step) to its end, holding its row locks,
and the redelivered task would wait behind it. The child here is a plain Python process on the app's settings and
connection, set up as a Celery worker is (the task statement timeout), holding a row lock in a long statement.
"""

import os
import signal
import subprocess
import sys

import psycopg
import pytest
from django.db import connection

from tests.factories import ProjectFactory
from tests.helpers.processes import ROOT, env_for_test_database, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LOCK_AND_SLEEP = """
import sys
import django
from expertloop.db import use_task_statement_timeout
use_task_statement_timeout()  # as a Celery worker: statements may run for an hour
django.setup()
from django.db import connection, transaction
from labeling.models import Project
with transaction.atomic():
    Project.objects.select_for_update().get(pk=int(sys.argv[1]))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        print(cursor.fetchone()[0], flush=True)
        cursor.execute("SELECT pg_sleep(600)")
"""


def _backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 1


def _row_lock_free(project_pk: int) -> bool:
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"]) as other:
        try:
            other.execute("SELECT id FROM labeling_project WHERE id = %s FOR UPDATE NOWAIT", [project_pk])
        except psycopg.errors.LockNotAvailable:
            return False
        return True


def test_a_killed_worker_mid_statement_leaves_no_backend_holding_its_locks():
    project = ProjectFactory()
    child = subprocess.Popen(
        [sys.executable, "-c", LOCK_AND_SLEEP, str(project.pk)],
        cwd=ROOT, env=env_for_test_database(), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    backend_pid = None
    try:
        backend_pid = int(child.stdout.readline())
        assert wait_for(lambda: not _row_lock_free(project.pk)), "the child never held the row lock"
        assert _backend_alive(backend_pid)

        os.kill(child.pid, signal.SIGKILL)
        child.wait()

        assert wait_for(lambda: not _backend_alive(backend_pid), timeout=30), (
            "PostgreSQL still runs the killed process's statement"
        )
        assert _row_lock_free(project.pk)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if backend_pid is not None:  # the orphan of this test only: the flush after it would wait for its lock
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
