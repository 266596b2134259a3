"""Every test runs with a guard on row locks: a statement that locks rows (`FOR UPDATE`, `FOR NO KEY UPDATE`, `FOR
SHARE`, `FOR KEY SHARE`) and joins another table must say which table's rows it locks (`OF …`).

Without `OF`, PostgreSQL locks the joined rows too, and Django joins silently: a filter across a relation,
`select_related`, or a model's `Meta.ordering` under `.first()`. A dataset build that locked its version so locked
the project's row, and the project's ingest waited for the build to end. In Django, `select_for_update(of=("self",))`
on a model queryset; a `values()` queryset ignores `of`, so it must not join.
"""

import re

from django.db import connections
from django.db.backends.signals import connection_created

_ROW_LOCK = re.compile(r"\bFOR (?:NO KEY UPDATE|UPDATE|KEY SHARE|SHARE)\b(?! OF\b)")

refused: list[str] = []


def locks_joined_rows(sql: str) -> bool:
    return " JOIN " in sql and _ROW_LOCK.search(sql) is not None


def _guard(execute, sql, params, many, context):
    if isinstance(sql, str) and locks_joined_rows(sql):
        refused.append(sql)
        raise AssertionError(f"This statement locks the rows of every table it joins; name them with OF: {sql}")
    return execute(sql, params, many, context)


def _install(connection, **kwargs) -> None:
    if _guard not in connection.execute_wrappers:
        connection.execute_wrappers.append(_guard)


def install() -> None:
    """Guard this thread's connections and every connection opened from now on, in any thread."""
    connection_created.connect(_install, dispatch_uid="tests-row-lock-guard")
    for connection in connections.all(initialized_only=True):
        _install(connection)
