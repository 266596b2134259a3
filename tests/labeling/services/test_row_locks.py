"""A row lock takes the rows it names, not the rows a join brings in.

Django's `SELECT … FOR UPDATE` locks a row of every table in the query, and a model's `Meta.ordering` can join one
silently (`.first()` orders by it): a dataset build that locked its version also locked the project's row for the
whole build, and every ingest batch of the project (which takes that row `FOR KEY SHARE`) and the close's other lane
waited for the build to end.
"""

import json
from functools import partial

import pytest

from labeling.models import DatasetVersion, Item, Output, Project, QualityMetric, Queue, QueueWeek, VersionStatus
from labeling.rules import calendar
from labeling.services.datasets import build_version, create_dataset
from labeling.services.ingest import ingest_outputs, record_feedback
from labeling.services.metrics import refresh_week_metrics
from labeling.services.projects import ProjectSettings, settings_of, update_project_settings
from labeling.services.queues import QueueValues, create_queue
from labeling.services.redaction import redact_stored_outputs, save_rule_set
from labeling.services.routing import place_in_queue
from labeling.services.rubrics import publish_rubric
from tests.conftest import output_record
from tests.factories import OutputFactory
from tests.helpers.concurrency import held_halfway
from tests.helpers.labeling import label_outputs
from tests.helpers.row_locks import locks_joined_rows
from tests.helpers.rubrics import QUESTIONS


def _build(project, dataset) -> None:
    build_version(dataset_id=dataset.pk)


def _recompute_metrics(project, dataset) -> None:
    refresh_week_metrics(project=project, week=calendar.current_week(project))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("work", "table_it_writes"),
    [(_build, "labeling_datasetline"), (_recompute_metrics, "labeling_qualitymetric")],
    ids=["a dataset build", "a recompute of the week's metrics"],
)
def test_ingest_goes_on_while_work_on_its_project_is_in_flight(project, work, table_it_writes):
    label_outputs(project, 3)
    dataset = create_dataset(project=project, spec={"name": "Eval"})

    with held_halfway(partial(work, project, dataset), table_it_writes):
        result = ingest_outputs(project=project, body=json.dumps({"outputs": [output_record(7)]}).encode())

    assert result.created == 1
    assert Output.objects.filter(project=project, external_id="conv-7").exists()
    if work is _build:
        assert dataset.versions.get().status == VersionStatus.READY  # it finished once the table was free
    else:
        assert QualityMetric.objects.filter(project=project).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_weeks_metrics_go_on_while_routing_places_outputs_in_their_queue(project):
    """A placement holds its queue's row for its whole transaction (a quota backfill can run for seconds); the
    metric rows that point at the queue do not wait for it."""
    label_outputs(project, 3)
    queue = Queue.objects.get(project=project)
    new_outputs = [OutputFactory(project=project) for _ in range(3)]
    place = partial(place_in_queue, project=project, queue_id=queue.pk, outputs=new_outputs, within_quota=False)

    with held_halfway(place, "labeling_item"):
        refresh_week_metrics(project=project, week=calendar.current_week(project))

    assert QueueWeek.objects.filter(project=project, queue=queue).exists()
    assert Item.objects.filter(queue=queue, output__in=new_outputs).count() == 3  # placed once the table was free


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_routing_places_outputs_while_a_redaction_rewrites_them(project):
    """A redaction batch holds its outputs' rows until it commits; items made meanwhile for those outputs (whose
    foreign key takes each output's row `FOR KEY SHARE`) do not wait for it: the rewrite changes no key."""
    outputs = [OutputFactory(project=project, output=f"Write to jane{n}@example.com.") for n in range(3)]
    save_rule_set(project=project, builtins=["email"], custom=[], phone_region="US")
    queue = create_queue(project=project, values=QueueValues(slug="all", name="All"))
    redact = partial(redact_stored_outputs, project=project)

    with held_halfway(redact, "labeling_output"):
        placed = place_in_queue(project=project, queue_id=queue.pk, outputs=outputs, within_quota=False)

    assert placed == 3
    assert all("[EMAIL]" in output.output for output in Output.objects.filter(pk__in=[o.pk for o in outputs]))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_routing_places_outputs_while_their_late_feedback_is_stored(project):
    """A feedback batch holds its outputs' rows until it commits; a placement of those outputs (which takes them
    `FOR KEY SHARE`, so that no deletion takes them meanwhile) does not wait for it."""
    outputs = [OutputFactory(project=project, external_id=f"fb-{n}") for n in range(3)]
    queue = create_queue(project=project, values=QueueValues(slug="all", name="All"))
    body = json.dumps({"feedback": [{"external_id": o.external_id, "score": -1} for o in outputs]}).encode()

    with held_halfway(partial(record_feedback, project=project, body=body), "labeling_output"):
        placed = place_in_queue(project=project, queue_id=queue.pk, outputs=outputs, within_quota=False)

    assert placed == 3
    assert set(Output.objects.filter(project=project).values_list("feedback_score", flat=True)) == {-1}


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_guard_on_row_locks_tells_a_lock_on_joined_rows_from_one_that_names_its_table():
    """Every test runs under this guard (tests/helpers/row_locks.py); here it is shown to see what it must."""
    ordered_by_the_project = DatasetVersion.objects.filter(pk=1).order_by("dataset__project__slug")

    joined = str(ordered_by_the_project.select_for_update().query)
    named = str(ordered_by_the_project.select_for_update(of=("self",)).query)
    without_join = str(DatasetVersion.objects.filter(pk=1).order_by("pk").select_for_update().query)

    assert " JOIN " in joined and locks_joined_rows(joined)
    assert not locks_joined_rows(named) and named.endswith('FOR UPDATE OF "labeling_datasetversion"')
    assert not locks_joined_rows(without_join)
    assert locks_joined_rows("SELECT 1 FROM a JOIN b ON a.id = b.a_id FOR NO KEY UPDATE SKIP LOCKED")
    assert locks_joined_rows("SELECT 1 FROM a JOIN b ON a.id = b.a_id FOR KEY SHARE")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ingest_and_labels_go_on_while_a_lead_saves_the_projects_settings(project, lead):
    """A settings save holds the project's row until it commits; the rows inserted meanwhile that point at the project
    (an ingest batch's outputs, a queue, the items routing makes, the experts' memberships and labels) do not wait
    for it."""
    publish_rubric(project=project, questions=QUESTIONS)
    values = ProjectSettings(**{**vars(settings_of(project)), "name": "Support bot, renamed"})
    saving = partial(update_project_settings, project=project, values=values, changed_by=lead)

    with held_halfway(saving, "labeling_auditevent"):  # the name saved, its audit event waiting
        result = ingest_outputs(project=project, body=json.dumps({"outputs": [output_record(7)]}).encode())
        (labeled,) = label_outputs(project, 1, resolve=False)

    assert result.created == 1
    assert labeled.labels.count() == 2
    assert Project.objects.get(pk=project.pk).name == "Support bot, renamed"  # saved once the table was free
