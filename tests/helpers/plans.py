"""How many rows the plans of some statements handle: a bound on work that holds whatever the clock and the load, for
tests that pin a plan's shape (no statement that reads a history, or rescans a subquery per row) on PostgreSQL."""

import json
import re
from datetime import date, datetime

from django.db import connection, transaction
from psycopg.types.json import Jsonb


def analyze(*models) -> None:
    """Bring the planner's statistics of these models' tables up to date (what autoanalyze does, later)."""
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {model._meta.db_table}")


def rows_handled(action) -> int:
    """Rows the plans of the statements `action` runs handled, summed over their nodes (rows returned or removed
    by a filter, × loops): the action runs and is rolled back, then each of its statements is EXPLAINed
    (ANALYZE), rolled back too."""
    run: list[tuple[str, object]] = []  # (sql, params): some statements bind on the server and log "$1" placeholders

    def capture(execute, sql, params, many, context):
        run.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture), transaction.atomic():
        action()
        transaction.set_rollback(True)
    statements = [(sql, params) for sql, params in run if sql.lstrip().startswith(("SELECT", "UPDATE", "WITH"))]

    def handled(node: dict) -> int:
        rows = node["Actual Rows"] + node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Join Filter", 0)
        return rows * node["Actual Loops"] + sum(handled(child) for child in node.get("Plans", ()))

    def explained(statement: str, params) -> int:
        with connection.cursor() as cursor, transaction.atomic():
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
            plan = cursor.fetchone()[0]
            transaction.set_rollback(True)
        return handled((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])

    total = 0
    for sql, params in statements:
        # The plan for these values, and the generic plan a prepared statement may settle on (rules.prepared): the
        # worse of the two counts.
        numbered, values = _numbered(sql, params)
        types = ", ".join(_parameter_type(value) for value in values)
        with connection.cursor() as cursor:
            cursor.execute(f"PREPARE rows_handled ({types}) AS {numbered}")
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                generic = explained(f"EXECUTE rows_handled ({', '.join(['%s'] * len(values))})", values)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("DEALLOCATE rows_handled")
        total += max(explained(sql, params), generic)
    return total


def _parameter_type(value) -> str:
    # bool before int (a bool is an int), datetime before date; Django passes ints as psycopg's Int4/Int8, subclasses
    # of int, and a list (`__any`, `unnest`) as an array of its items' type.
    if isinstance(value, list | tuple):
        return (_parameter_type(value[0]) if value else "text") + "[]"
    if isinstance(value, Jsonb):
        return "jsonb"
    kinds = (
        (bool, "boolean"), (int, "bigint"), (str, "text"), (datetime, "timestamptz"), (date, "date"),
        (type(None), "unknown"),
    )  # fmt: skip
    return next(name for kind, name in kinds if isinstance(value, kind))


def _numbered(sql: str, params) -> tuple[str, list]:
    """The statement with $1, $2 … for its %s or %(name)s placeholders (and % for %%), and the values in that order."""
    values: list = []
    numbers: dict[str, int] = {}

    def number(match: re.Match) -> str:
        if match.group(0) == "%%":
            return "%"  # a literal % (the modulo operator), which PREPARE, run without parameters, reads as is
        name = match.group(1)
        if name is None:
            values.append(params[len(values)])
            return f"${len(values)}"
        if name not in numbers:
            values.append(params[name])
            numbers[name] = len(values)
        return f"${numbers[name]}"

    return re.sub(r"%%|%(?:\(([a-z_]+)\))?s", number, sql), values
