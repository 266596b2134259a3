"""The worker heartbeat travels beat's way (Redis → a real worker → the database), and /readyz reads it."""

import pytest

from labeling import tasks
from labeling.models import WorkerHeartbeat
from tests.helpers.processes import stop_worker, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_readyz_turns_ready_once_a_real_worker_ran_the_heartbeat(client, worker):  # noqa: F811
    before = client.get("/readyz")
    assert before.status_code == 503 and before.json()["components"]["worker"] == "never"

    tasks.worker_heartbeat.delay()
    beat = wait_for(WorkerHeartbeat.objects.exists)

    stop_worker(worker)
    log = worker.log.read_text()
    assert beat, "No heartbeat from the worker:\n" + log[-3000:]
    assert WorkerHeartbeat.objects.get().hostname.startswith("celery@")
    after = client.get("/readyz")
    assert after.status_code == 200 and after.json()["components"]["worker"] == "ok"
