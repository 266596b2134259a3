"""The post-ingest task travels through real Redis to a real Celery worker process."""

import subprocess
import sys

import pytest

from labeling.models import OutboxMessage, Output
from tests.conftest import output_record
from tests.helpers.processes import ROOT, env_for_test_database, stop_worker, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_a_worker_routes_the_outputs_a_batch_created(worker, api, project):
    response = api.post("/api/v1/outputs", {"outputs": [output_record(i) for i in range(5)]})
    assert response.json()["created"] == 5

    routed = wait_for(lambda: Output.objects.filter(project=project, routed_at__isnull=False).count() == 5)

    stop_worker(worker)
    log = worker.log.read_text()
    assert routed, "The worker did not route the outputs:\n" + log[-3000:]
    assert "Task labeling.route_outputs" in log and "succeeded" in log


def test_a_broker_that_is_down_never_runs_the_task_inline(project):
    """REDIS_URL set but unreachable: the batch is stored, the task is not run in-process but kept in the
    outbox for the sweep, and the failed publish is logged."""
    script = (
        "import django; django.setup();"
        "from labeling.models import Project, Output;"
        "from labeling.services.ingest import ingest_outputs;"
        f"p = Project.objects.get(pk={project.pk});"
        'r = ingest_outputs(project=p, body=b\'{"outputs": [{"external_id": "down-1", "output": "x"}]}\');'
        "print('created', r.created, 'routed', Output.objects.filter(routed_at__isnull=False).count())"
    )
    env = env_for_test_database(REDIS_URL="redis://127.0.0.1:1/0")

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert "created 1 routed 0" in result.stdout
    assert "could not publish labeling.route_outputs" in result.stderr and "left for the sweep" in result.stderr
    output = Output.objects.get(project=project, external_id="down-1")
    assert output.routed_at is None
    [message] = OutboxMessage.objects.pending()
    assert (message.task, message.args, message.attempts) == (
        "labeling.route_outputs",
        [project.pk, [output.pk], False],
        1,
    )


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
