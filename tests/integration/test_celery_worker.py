"""The post-ingest task travels through real Redis to a real Celery worker process."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from labeling.models import Output
from tests.conftest import output_record

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def _env_for_test_database(**extra) -> dict:
    """The environment of this test run, pointed at the test database pytest-django made."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings", **extra}


@pytest.fixture
def worker():
    import redis

    redis.Redis.from_url(settings.REDIS_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "expertloop", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=_env_for_test_database(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_worker_routes_the_outputs_a_batch_created(worker, api, project):
    response = api.post("/api/v1/outputs", {"outputs": [output_record(i) for i in range(5)]})
    assert response.json()["created"] == 5

    routed = _wait_for(lambda: Output.objects.filter(project=project, routed_at__isnull=False).count() == 5)

    worker.terminate()
    log = worker.communicate(timeout=15)[0]
    assert routed, "The worker did not route the outputs:\n" + log[-3000:]
    assert "Task labeling.route_outputs" in log and "succeeded" in log


def test_a_broker_that_is_down_never_runs_the_task_inline(project):
    """REDIS_URL set but unreachable: the batch is stored, the task is not run in-process, an error is logged."""
    script = (
        "import django; django.setup();"
        "from labeling.models import Project, Output;"
        "from labeling.services.ingest import ingest_outputs;"
        f"p = Project.objects.get(pk={project.pk});"
        'r = ingest_outputs(project=p, body=b\'{"outputs": [{"external_id": "down-1", "output": "x"}]}\');'
        "print('created', r.created, 'routed', Output.objects.filter(routed_at__isnull=False).count())"
    )
    env = _env_for_test_database(REDIS_URL="redis://127.0.0.1:1/0")

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert "created 1 routed 0" in result.stdout
    assert "Broker error, not sent (a sweep will catch up): route_outputs" in result.stderr
    assert Output.objects.get(project=project, external_id="down-1").routed_at is None


def test_the_periodic_sweep_routes_what_a_lost_task_missed(project):
    from django.utils import timezone

    from labeling.models import Item, Queue
    from labeling.tasks import route_pending_outputs
    from tests.factories import OutputFactory

    Queue.objects.create(project=project, slug="all", name="All")
    old = timezone.now() - timezone.timedelta(minutes=10)
    OutputFactory.create_batch(3, project=project, received_at=old)
    fresh = OutputFactory(project=project)

    assert route_pending_outputs.apply().get() == 3
    assert route_pending_outputs.apply().get() == 0  # idempotent
    assert Item.objects.count() == 3
    assert Output.objects.unrouted().get() == fresh  # too young: its own task may still be on the way
