"""Transaction-scoped PostgreSQL advisory locks on a project: each kind of work that must not overlap takes its own
key space (a 64-bit key, the space in its high half and the project's id in its low half), so none meets another's
or the project's row lock."""

from django.db import connection


def hold_project_lock(space: int, project_id: int, *, shared: bool = False) -> None:
    """Until the transaction ends, hold the advisory lock of `space` on the project; `shared` alongside other shared
    holders, which only an exclusive one waits for. Nothing on SQLite (the demo's), which has one writer at a time."""
    if connection.vendor != "postgresql":
        return
    take = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {take}(%s)", [space + project_id])
