"""What PostgreSQL's planner expects of a query, read without running it: a count past which counting
exactly would cost more than the answer is worth."""

import json

from django.db import connection


def estimated_rows(queryset) -> int:
    """PostgreSQL's own estimate of how many rows a query returns (EXPLAIN, nothing is read)."""
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])
