"""The nightly retention sweep, sent through real Redis to a real Celery worker process."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import AuditEvent, Output
from labeling.tasks import purge_expired_outputs
from tests.factories import OutputFactory
from tests.helpers.processes import stop_worker, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_a_worker_deletes_expired_raw_outputs_and_audits_the_run(worker, project):  # noqa: F811
    project.raw_retention_days = 7
    project.save()
    OutputFactory(project=project, external_id="old", occurred_at=timezone.now() - timedelta(days=8))
    OutputFactory(project=project, external_id="young", occurred_at=timezone.now() - timedelta(days=6))

    purge_expired_outputs.delay()
    audited = wait_for(lambda: AuditEvent.objects.filter(action="retention.outputs_deleted").exists())

    stop_worker(worker)
    log = worker.log.read_text()
    assert audited, "The worker did not run the purge:\n" + log[-3000:]
    assert list(Output.objects.values_list("external_id", flat=True)) == ["young"]
    assert AuditEvent.objects.get(action="retention.outputs_deleted").details["deleted"] == 1
    assert "Task labeling.purge_expired_outputs" in log and "succeeded" in log
