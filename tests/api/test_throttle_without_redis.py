"""The API throttle with its Redis gone: requests are answered, quickly, and still throttled per process."""

import signal
import socket
import subprocess
import time

import pytest

from labeling.resilience import cache_breaker
from tests.conftest import Api

pytestmark = [pytest.mark.redis, pytest.mark.django_db]
URL = "/api/v1/outputs"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dead_redis(tmp_path):
    """A redis-server of our own that answered once, then was killed (SIGKILL) by its PID."""
    import redis

    port = _free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
            break
        except redis.RedisError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)
    yield process, url
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait()


@pytest.fixture
def black_hole():
    """A port that accepts connections and never answers (a hung Redis, a dropped network path)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


@pytest.fixture(autouse=True)
def closed_breaker():
    cache_breaker.close()
    yield
    cache_breaker.close()


def _use_cache(settings, url, rate):
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": url}}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": rate}}


def _timed_statuses(caller, n):
    results = []
    for _ in range(n):
        started = time.monotonic()
        status = caller.get(f"{URL}/none").status_code
        results.append((status, time.monotonic() - started))
    return results


def test_with_redis_killed_the_throttle_counts_in_the_process(client, full_key, settings, dead_redis):
    process, url = dead_redis
    _use_cache(settings, url, "3/hour")  # an hour: no window boundary mid-test
    caller = Api(client, full_key.secret)
    assert caller.get(f"{URL}/none").status_code == 404  # counted in Redis

    process.send_signal(signal.SIGKILL)
    process.wait()
    results = _timed_statuses(caller, 4)

    assert [status for status, _ in results] == [404, 404, 404, 429]  # a fresh local budget of 3
    assert max(seconds for _, seconds in results) < 1.0
    response = caller.get(f"{URL}/none")
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0


def test_a_redis_that_never_answers_costs_one_short_wait_then_none(client, full_key, settings, black_hole):
    _use_cache(settings, black_hole, "100/min")
    caller = Api(client, full_key.secret)

    results = _timed_statuses(caller, 5)

    assert [status for status, _ in results] == [404] * 5
    first, rest = results[0][1], [seconds for _, seconds in results[1:]]
    assert first < settings.REDIS_CACHE_SOCKET_TIMEOUT * 2 + 0.5  # the socket timeout, not a hang
    assert max(rest) < 0.2  # the circuit is open: Redis is not asked again for a while
