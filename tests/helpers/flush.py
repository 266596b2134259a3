"""Between transactional tests (live server, browser, Celery worker), the tables that hold rows are emptied with
DELETE, not every table with one TRUNCATE.

Django's flush truncates every table of the project after each such test: on PostgreSQL that gives each of the ~60
tables and their indexes new files, 0.2-0.5 s even when all of them are empty, and a third of the suite's tests are
transactional. A probe of which tables hold rows takes a few milliseconds, and deleting a test's few rows less than
one. The tables end as empty as before; sequences are not reset either way (pytest-django asks for no reset).
Every foreign key is DEFERRABLE INITIALLY DEFERRED (Django makes them so), so the order of the deletes does not
matter; a test asserts it (tests/test_flush.py).
"""

from django.db.backends.postgresql.operations import DatabaseOperations

_truncate_all = DatabaseOperations.sql_flush


def _delete_from_tables_with_rows(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    if reset_sequences or not tables:
        return _truncate_all(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    quote = self.quote_name
    with self.connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(f"SELECT %s WHERE EXISTS (SELECT FROM {quote(t)})" for t in tables), tables)
        with_rows = [table for (table,) in cursor.fetchall()]
    if not with_rows:
        return []
    return ["SET CONSTRAINTS ALL DEFERRED", *(f"DELETE FROM {quote(table)}" for table in with_rows)]


def install() -> None:
    DatabaseOperations.sql_flush = _delete_from_tables_with_rows
