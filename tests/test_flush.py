"""The flush between transactional tests (tests/helpers/flush.py) leaves the tables as Django's TRUNCATE of them all
does, whatever refers to what, and waits for a transaction still writing as the TRUNCATE did."""

import threading

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.backends.postgresql.operations import DatabaseOperations

from labeling.models import Label, Project
from tests.factories import ProjectFactory
from tests.helpers import flush
from tests.helpers.labeling import label_outputs

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_every_foreign_key_is_deferred_so_the_deletes_may_come_in_any_order():
    with connection.cursor() as cursor:
        cursor.execute("SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND NOT condeferred")
        immediate = [table for (table,) in cursor.fetchall()]

    assert immediate == []


def rows_by_table() -> dict[str, int]:
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with connection.cursor() as cursor:
        cursor.execute(
            " UNION ALL ".join(f"SELECT %s, count(*) FROM {connection.ops.quote_name(t)}" for t in tables), tables
        )
        return dict(cursor.fetchall())


def flush_as_between_tests() -> None:
    """As TransactionTestCase's teardown flushes (pytest-django's transactional tests): no sequence reset."""
    call_command("flush", verbosity=0, interactive=False, reset_sequences=False)


def test_a_flush_leaves_the_rows_a_truncate_of_every_table_leaves(monkeypatch):
    label_outputs(ProjectFactory(), 2)
    assert Label.objects.count() == 4
    executed = []
    connection.execute_wrappers.append(lambda execute, sql, *args: executed.append(sql) or execute(sql, *args))

    flush_as_between_tests()
    connection.execute_wrappers.pop()
    after_deletes = rows_by_table()
    label_outputs(ProjectFactory(), 2)
    monkeypatch.setattr(DatabaseOperations, "sql_flush", flush._truncate_all)
    flush_as_between_tests()

    assert 'DELETE FROM "labeling_label"' in executed and not any("TRUNCATE" in sql for sql in executed)
    assert after_deletes == rows_by_table()
    assert after_deletes["labeling_label"] == after_deletes["labeling_output"] == 0


def test_a_flush_waits_for_a_transaction_still_writing_and_deletes_what_it_wrote():
    written, release = threading.Event(), threading.Event()

    def write_and_hold():
        try:
            with transaction.atomic():
                ProjectFactory(slug="late")
                written.set()
                release.wait(10)
        finally:
            connections.close_all()

    writer = threading.Thread(target=write_and_hold)
    writer.start()
    assert written.wait(10)
    threading.Timer(0.5, release.set).start()  # commits while the flush waits on its lock

    flush_as_between_tests()
    writer.join(10)

    assert not Project.objects.filter(slug="late").exists()
