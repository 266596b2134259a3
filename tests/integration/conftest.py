"""Fixtures of the integration tests: real worker processes, and a server that never answers."""

import socket
import subprocess
import sys
import threading

import pytest
from django.conf import settings

from tests.helpers.processes import ROOT, env_for_test_database, stop


@pytest.fixture
def worker():
    """A real Celery worker process on this run's Redis queue and test database."""
    import redis

    redis.Redis.from_url(settings.REDIS_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "expertloop", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env_for_test_database(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    yield process
    stop(process)


@pytest.fixture
def black_hole():
    """A port that accepts connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    held, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()
