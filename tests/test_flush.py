"""The flush between transactional tests (tests/helpers/flush.py) leaves the tables as Django's TRUNCATE of them all
does, whatever refers to what."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.backends.postgresql.operations import DatabaseOperations

from labeling.models import Label
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


def test_a_flush_leaves_the_rows_a_truncate_of_every_table_leaves(monkeypatch):
    label_outputs(ProjectFactory(), 2)
    assert Label.objects.count() == 4

    call_command("flush", verbosity=0, interactive=False)
    after_deletes = rows_by_table()
    label_outputs(ProjectFactory(), 2)
    monkeypatch.setattr(DatabaseOperations, "sql_flush", flush._truncate_all)
    call_command("flush", verbosity=0, interactive=False)

    assert after_deletes == rows_by_table()
    assert after_deletes["labeling_label"] == after_deletes["labeling_output"] == 0
