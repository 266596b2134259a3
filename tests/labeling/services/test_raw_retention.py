"""Raw retention: the nightly task deletes a project's old raw outputs, keeps gold and dataset ones, audits each run."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.models import AuditEvent, Item, Label, Membership, Output, Queue, ResolutionStatus
from labeling.services.assignment import next_item
from labeling.services.datasets import build_version, create_dataset
from labeling.services.labels import submit_label
from labeling.services.resolution import resolve_item
from labeling.services.routing import route_outputs
from labeling.tasks import purge_expired_outputs
from tests.factories import OutputFactory, UserFactory


@pytest.fixture
def old_and_new(project, other_project, rubric):
    """gold (old, agreed), tied (old, tie, in a dataset), half (old, one label of two), raw (old), recent."""
    project.raw_retention_days = 30
    project.save()
    old, recent = timezone.now() - timedelta(days=40), timezone.now() - timedelta(days=10)
    made = {
        name: OutputFactory(project=project, external_id=name, occurred_at=old) for name in ("gold", "tied", "half")
    }
    made["raw"] = OutputFactory(project=project, external_id="raw", occurred_at=old)
    made["recent"] = OutputFactory(project=project, external_id="recent", occurred_at=recent)
    made["elsewhere"] = OutputFactory(project=other_project, external_id="elsewhere", occurred_at=old)
    queue = Queue.objects.create(project=project, slug="all", name="All", overlap=2)
    route_outputs(project_id=project.pk, output_ids=[o.pk for o in made.values() if o.project_id == project.pk])
    first, second = UserFactory(username="ann"), UserFactory(username="ben")
    for user in (first, second):
        Membership.objects.create(project=project, user=user, role="expert")
    # Items are handed in routing order: the first expert labels gold, tied and half; the second
    # agrees on gold and disagrees on tied.
    for expert, answers in ((first, (True, True, True)), (second, (True, False))):
        for answer in answers:
            item = next_item(expert=expert, queue=queue)
            submit_label(expert=expert, item=item, rubric=rubric, answers={"correct": answer})
    for item in Item.objects.filter(output__external_id__in=["gold", "tied"]):
        resolve_item(item_id=item.pk)
    build_version(dataset_id=create_dataset(project=project, spec={"name": "All", "only_resolved": False}).pk)
    return made


def test_the_nightly_task_deletes_only_old_raw_outputs_and_audits_the_run(project, old_and_new):
    assert Item.objects.get(output__external_id="gold").resolution.status == ResolutionStatus.RESOLVED
    assert Item.objects.get(output__external_id="tied").resolution.status != ResolutionStatus.RESOLVED

    assert purge_expired_outputs() == 2

    left = set(Output.objects.values_list("external_id", flat=True))
    assert left == {"gold", "tied", "recent", "elsewhere"}  # gold, in a dataset, too young, no retention set
    assert not Label.objects.filter(item__output__external_id="half").exists()  # its label went with it
    audit = AuditEvent.objects.get(project=project, action="retention.outputs_deleted")
    assert (audit.details["days"], audit.details["deleted"], audit.details["kept"]) == (30, 2, 2)

    assert purge_expired_outputs() == 0  # the next night: nothing more, and that run is audited too
    runs = AuditEvent.objects.filter(action="retention.outputs_deleted").order_by("pk")
    assert [run.details["deleted"] for run in runs] == [2, 0]
    assert not AuditEvent.objects.filter(project__slug="sql-assistant").exists()


def test_a_project_without_a_retention_period_keeps_everything(project, old_and_new):
    project.raw_retention_days = None
    project.save()
    assert purge_expired_outputs() == 0
    assert Output.objects.count() == 6 and not AuditEvent.objects.filter(action="retention.outputs_deleted").exists()


def test_a_retention_period_is_at_least_a_day(project):
    project.raw_retention_days = 0
    with pytest.raises(IntegrityError), transaction.atomic():
        project.save()


def test_the_purge_is_on_beats_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["purge-expired-outputs"]
    assert entry["task"] == purge_expired_outputs.name


def test_a_project_spec_sets_the_retention_period(db):
    from labeling.exceptions import InvalidSpec
    from labeling.services.projects import create_project

    assert create_project(spec={"slug": "kept", "name": "Kept", "raw_retention_days": 90}).raw_retention_days == 90
    with pytest.raises(InvalidSpec, match="raw_retention_days"):
        create_project(spec={"slug": "never", "name": "Never", "raw_retention_days": 0})
