"""Database connection set-up that depends on the kind of process: web requests, or background work.

PostgreSQL enforces statement_timeout itself (settings: DB_STATEMENT_TIMEOUT for web and API requests,
DB_TASK_STATEMENT_TIMEOUT for Celery workers and management commands). A server that has stopped
answering altogether (a frozen host, a network partition, a stopped process) enforces nothing, so the
client also stops waiting a little after the statement timeout: the connection is closed and the query
raises OperationalError (a 503 for a request) instead of holding the process for ever.
"""

import psycopg
from django.conf import settings
from django.db.backends.signals import connection_created

# How long past the server's statement timeout the client still waits for its answer.
CLIENT_WAIT_MARGIN_SECONDS = 2
# What psycopg raises when Connection.wait(timeout=…) runs out (private name: looked up here, at import,
# so that a psycopg without it fails at start-up rather than in the middle of an outage).
_WaitTimeout = psycopg.errors._WaitTimeout

_background_process = False


def use_task_statement_timeout() -> None:
    """Give this process's new connections DB_TASK_STATEMENT_TIMEOUT instead of the web one.

    Celery workers and management commands call it: a weekly close or a migration may run statements
    far longer than any web request should wait.
    """
    global _background_process
    _background_process = True


class BoundedConnection(psycopg.Connection):
    """A psycopg connection that gives up on a server that does not answer within `wait_limit` seconds."""

    wait_limit: float | None = None

    def wait(self, gen, interval=0.1, timeout=None):
        try:
            return super().wait(gen, interval, timeout if timeout is not None else self.wait_limit)
        except _WaitTimeout:
            # The query's state on the server is unknown: this connection cannot be used again.
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"The database did not answer within {self.wait_limit:g} s; the connection was closed."
            ) from None


def _configure_connection(sender, connection, **kwargs) -> None:
    if connection.vendor != "postgresql" or not isinstance(connection.connection, psycopg.Connection):
        return
    timeout = settings.DB_TASK_STATEMENT_TIMEOUT if _background_process else settings.DB_STATEMENT_TIMEOUT
    if _background_process:
        with connection.cursor() as cursor:
            # Session-wide (is_local false): the connection is in autocommit mode here.
            cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{timeout}s"])
    if timeout:
        # Django opens connections with psycopg.connect() and offers no setting for the class: swap it on
        # the new object (a subclass adding no state, so the swap is safe).
        connection.connection.__class__ = BoundedConnection
        connection.connection.wait_limit = timeout + CLIENT_WAIT_MARGIN_SECONDS


# Every process imports this module (expertloop/__init__.py), before any connection is made.
connection_created.connect(_configure_connection, dispatch_uid="expertloop.configure_connection")
