"""Fixtures of the integration tests: real worker processes, and a server that never answers."""

import socket
import threading

import pytest

from tests.helpers.processes import start_worker, stop_worker


@pytest.fixture
def worker():
    """A real Celery worker process on this run's Redis queue and test database."""
    process = start_worker()
    yield process
    stop_worker(process)
    process.log.unlink(missing_ok=True)


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
