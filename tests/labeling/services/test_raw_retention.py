"""Raw retention: the nightly task deletes a project's old raw outputs, keeps gold and dataset ones, audits each run."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.models import AuditEvent, Item, Label, Membership, Output, Queue, ResolutionStatus, UsageEvent
from labeling.services.assignment import next_item
from labeling.services.datasets import build_version, create_dataset
from labeling.services.labels import submit_label
from labeling.services.privacy import purge_expired_outputs as purge_outputs
from labeling.services.resolution import resolve_item
from labeling.services.retention import refresh_retention
from labeling.services.routing import route_outputs
from labeling.tasks import purge_expired_outputs
from tests.factories import OutputFactory, UserFactory
from tests.labeling.services.test_retention import KOLKATA, V_NOW, Judge, add_event, from_scratch, local, stored_cells
from tests.labeling.services.test_retention import verdict_project as verdict_project  # noqa: F401  (a fixture)


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


def test_the_purge_empties_old_event_properties_and_leaves_retention_exactly_as_it_was(verdict_project, other_project):
    """Events past the period keep their existence, end user and time (what retention reads), not their properties."""
    project = verdict_project
    personal = {"email": "ann@example.com", "page": "/orders?q=ann@example.com"}
    UsageEvent.objects.filter(project=project).update(properties=personal)
    elsewhere = add_event(other_project, "ann", local("2026-11-05 09:00", KOLKATA))
    UsageEvent.objects.filter(pk=elsewhere.pk).update(properties=personal)
    # Every output has a gold answer (the one without gets a rating's), so the purge keeps them all: only events are
    # at stake here.
    rating = {"helpful": {"value": 2, "method": "median", "spread": 0, "votes": [2]}}
    for output in Output.objects.filter(project=project, items__isnull=True):
        Judge(project)(output, rating)
    refresh_retention(project=project, now=V_NOW)
    before = stored_cells(project)
    assert {segment for segment, _, _ in before} == {"all", "pass", "fail"}

    project.raw_retention_days = 10
    project.save(update_fields=["raw_retention_days"])
    assert purge_outputs(project=project, now=local("2026-11-25 00:00", KOLKATA)) == 0  # cutoff: 11-15 00:00 IST

    events = UsageEvent.objects.filter(project=project).order_by("occurred_at")
    assert [(event.end_user_id, event.properties) for event in events] == [
        ("lt", {}), ("ed", {}), ("fw", {}), ("mq", personal), ("nt", personal)
    ]  # fmt: skip
    assert UsageEvent.objects.get(pk=elsewhere.pk).properties == personal  # another project, no period
    audit = AuditEvent.objects.get(project=project, action="retention.outputs_deleted")
    assert (audit.details["deleted"], audit.details["event_properties_emptied"]) == (0, 3)

    # Retention, refreshed as it is hourly and rebuilt from scratch, is the same cell by cell.
    refresh_retention(project=project, now=V_NOW)
    assert stored_cells(project) == before  # no cell rewritten
    assert from_scratch(project, V_NOW) == {key: values for key, (_, values) in before.items()}

    assert purge_outputs(project=project, now=local("2026-11-25 00:00", KOLKATA)) == 0  # the next night
    runs = AuditEvent.objects.filter(project=project, action="retention.outputs_deleted").order_by("pk")
    assert [run.details["event_properties_emptied"] for run in runs] == [3, 0]
