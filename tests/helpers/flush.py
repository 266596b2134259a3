"""Between transactional tests (live server, browser, Celery worker), every table is emptied with DELETE under a lock,
not with one TRUNCATE of them all.

Django's flush truncates every table of the project after each such test: on PostgreSQL that gives each of the ~60
tables and their indexes new files, 0.2-0.5 s even when all of them are empty, and a third of the suite's tests are
transactional. A DELETE of a test's few rows, and of nothing in an empty table, takes microseconds. Like the TRUNCATE
(ACCESS EXCLUSIVE), the lock first waits for every transaction still writing to the tables (a Celery worker's, a
live server thread's) to end, so what they wrote is deleted too, not left for the next test. Every foreign key is
DEFERRABLE INITIALLY DEFERRED (Django makes them so), so the order of the deletes does not matter; tests/test_flush.py
checks that. Sequences are not reset either way (pytest-django asks for no reset). Unlike TRUNCATE, DELETE leaves dead
rows for autovacuum: a test's few.
"""

from django.db.backends.postgresql.operations import DatabaseOperations

_truncate_all = DatabaseOperations.sql_flush


def _delete_under_a_lock(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    if reset_sequences or not tables:
        return _truncate_all(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    quoted = [self.quote_name(table) for table in tables]
    return [
        "SET CONSTRAINTS ALL DEFERRED",
        f"LOCK TABLE {', '.join(quoted)} IN SHARE ROW EXCLUSIVE MODE",  # waits for open writers, as TRUNCATE did
        *(f"DELETE FROM {table}" for table in quoted),
    ]


def install() -> None:
    DatabaseOperations.sql_flush = _delete_under_a_lock
