"""Redis that hangs instead of dying (SIGSTOP: the port still accepts connections, nothing answers), as a frozen
host or a network partition does: a real gunicorn keeps answering ingest and the pages that ask for work, and
what they asked for waits in the outbox. The redis-server is the test's own, stopped and resumed by PID.

A killed Redis refuses connections at once (tests/integration/test_redis_outage.py); a hung one lets every
publish wait for its socket timeout, once per try.
"""

import http.client
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings

from labeling.models import OutboxMessage, Output
from labeling.services.datasets import create_dataset
from tests.helpers.labeling import label_outputs
from tests.helpers.processes import wait_for
from tests.helpers.servers import Gunicorn, database_url, free_port, session_cookie

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

# The product's own client (clients/python) gives up on a request after 10 s by default and sends it again.
CLIENT_TIMEOUT_SECONDS = 10
CSRF_TOKEN = "c" * 32


def _answers(client: redis.Redis) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False


@pytest.fixture
def hung_redis():
    """A redis-server of this test's own; `.freeze()` stops it (SIGSTOP), `.thaw()` resumes it."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert wait_for(lambda: _answers(redis.Redis(port=port, socket_connect_timeout=1)), 10)
    process.url = f"redis://127.0.0.1:{port}/0"
    process.freeze = lambda: os.kill(process.pid, signal.SIGSTOP)
    process.thaw = lambda: os.kill(process.pid, signal.SIGCONT)
    yield process
    process.thaw()
    process.kill()
    process.wait(timeout=10)


def _request(port: int, method: str, path: str, body: str = "", **headers) -> tuple[int, str]:
    """One request with the client's timeout: (status, body), or (0, why) when no answer came in time."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT_SECONDS)
    try:
        conn.request(method, path, body=body or None, headers={"Host": "127.0.0.1", **headers})
        response = conn.getresponse()
        return response.status, response.read().decode()
    except TimeoutError:
        return 0, f"no answer within the client's {CLIENT_TIMEOUT_SECONDS} s"
    finally:
        conn.close()


def test_ingest_and_build_now_are_answered_while_redis_hangs_and_their_work_waits(
    hung_redis, project, lead, full_key, tmp_path: Path
):
    label_outputs(project, 2)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    cookie = session_cookie(lead)
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": hung_redis.url,
        "REDIS_BREAKER_RESET_SECONDS": "1",  # each process tries Redis again every second
    }
    api = {"Authorization": f"Bearer {full_key.secret}", "Content-Type": "application/json"}
    page = {
        "Cookie": f"{cookie}; {settings.CSRF_COOKIE_NAME}={CSRF_TOKEN}",
        "X-CSRFToken": CSRF_TOKEN,
        "Content-Type": "application/x-www-form-urlencoded",
    }

    def batch(n: int) -> str:
        return json.dumps({"outputs": [{"external_id": f"hung-{n}", "output": "It ships tomorrow."}]})

    with Gunicorn(env=env, workers=1, threads=4, log_path=tmp_path / "gunicorn.log") as web:
        assert _request(web.port, "POST", "/api/v1/outputs", batch(0), **api)[0] == 200  # connected to Redis
        hung_redis.freeze()
        answers = [_request(web.port, "POST", "/api/v1/outputs", batch(1), **api)]
        time.sleep(1.5)  # the breaker closes again: the next request tries Redis
        build = f"/p/{project.slug}/datasets/{dataset.slug}/build"
        answers.append(_request(web.port, "POST", build, **page))
        time.sleep(1.5)
        answers.append(_request(web.port, "POST", "/api/v1/outputs", batch(2), **api))
        hung_redis.thaw()
        log = web.output()

    assert [status for status, _ in answers] == [200, 302, 200], (answers, log[-3000:])
    assert set(Output.objects.filter(project=project).values_list("external_id", flat=True)) >= {
        "hung-0", "hung-1", "hung-2",
    }  # fmt: skip
    # Nothing asked for is lost: the work the hung Redis did not take waits in the outbox for the sweep.
    waiting = list(OutboxMessage.objects.pending().values_list("task", flat=True))
    assert waiting.count("labeling.route_outputs") == 2 and "labeling.build_dataset" in waiting, waiting
