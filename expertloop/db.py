"""Database set-up that depends on the kind of process: web requests, or background work."""

from django.conf import settings
from django.db.backends.signals import connection_created


def use_task_statement_timeout() -> None:
    """Give this process's new connections DB_TASK_STATEMENT_TIMEOUT instead of the web one.

    Celery workers and management commands call it: a weekly close or a migration may run statements
    far longer than any web request should wait.
    """
    connection_created.connect(_set_task_statement_timeout, dispatch_uid="expertloop.task_statement_timeout")


def _set_task_statement_timeout(sender, connection, **kwargs) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        # Session-wide (is_local false): the connection is in autocommit mode here.
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{settings.DB_TASK_STATEMENT_TIMEOUT}s"])
