"""Migration 0066: rows an older server stored without `annotation_versions` during the deploy of 0063-0064 get them
from their lines (0064's rule run again), and every ready version whose `rubric_versions` that widens stores the wider
figure and has its typed files (whose columns it decides) marked pending, with a render asked for through the outbox.
PostgreSQL runs 0064's SQL, SQLite (the demo) its Python path: the test runs on both."""

import importlib

import pytest
from django.utils import timezone

from labeling.models import DatasetRow, DatasetVersion, OutboxMessage, VersionFile, VersionFileState
from labeling.services.datasets import build_version, create_dataset
from labeling.services.labels import submit_label
from labeling.services.resolution import resolve_item
from labeling.services.rubrics import publish_rubric
from tests.helpers.labeling import label_outputs
from tests.helpers.migrations import migrate, migrate_to_latest
from tests.helpers.rubrics import BINARY

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("labeling", "0065_double_quotes_in_stored_quoted_metadata_keys")]
AFTER = [("labeling", "0066_record_rubric_versions_rows_stored_during_the_0064_deploy")]


def _two_ready_versions_an_old_server_left_narrow(project) -> tuple[DatasetVersion, DatasetVersion]:
    """Two ready versions whose first row's labels answered rubric v1 and v2 (the rest v2), stored as a server older
    than 0063 stored them: no row knows its `annotation_versions`, each version's `rubric_versions` names v2 only,
    and their typed files were rendered from that (the first version's Parquet since swept to save disk)."""
    (mixed,) = label_outputs(project, 1, answers=({"correct": True, "tone": "curt"}, {"correct": True}))
    v2 = publish_rubric(project=project, questions=[BINARY])  # `tone` dropped
    submit_label(expert=mixed.labels.order_by("pk").last().expert, item=mixed, rubric=v2, answers={"correct": True})
    resolve_item(item_id=mixed.pk)
    label_outputs(project, 1, answers=({"correct": False}, {"correct": False}))
    dataset = create_dataset(project=project, spec={"name": "Eval"})
    first = build_version(dataset_id=dataset.pk)
    label_outputs(project, 1, answers=({"correct": True}, {"correct": True}))
    second = build_version(dataset_id=dataset.pk)
    assert (second.rows_copied, first.rubric_versions, second.rubric_versions) == (2, [1, 2], [1, 2])

    DatasetRow.objects.update(annotation_versions=None)
    DatasetVersion.objects.update(rubric_versions=[2])
    VersionFile.objects.update(state=VersionFileState.READY)
    VersionFile.objects.filter(version=first, format="parquet").update(state=VersionFileState.ON_REQUEST)
    OutboxMessage.objects.update(published_at=timezone.now())  # the builds' requests were sent
    return first, second


def _state() -> tuple:
    """What the migration may write: rows, versions, files and outbox messages."""
    return (
        sorted(DatasetRow.objects.values_list("pk", "annotation_versions")),
        sorted(DatasetVersion.objects.values_list("pk", "rubric_versions")),
        sorted(VersionFile.objects.values_list("pk", "state", "requested_at")),
        sorted(OutboxMessage.objects.values_list("pk", "dedupe_key", "published_at")),
    )


def test_the_rows_left_unrecorded_are_filled_and_each_widened_version_renders_its_files_again(project, monkeypatch):
    migration = importlib.import_module(f"labeling.migrations.{AFTER[0][1]}")
    monkeypatch.setattr(migration, "LINES_PER_CHUNK", 1)  # a line per statement (or read): the walk goes on
    first, second = _two_ready_versions_an_old_server_left_narrow(project)
    try:
        migrate(BEFORE)
        asked_before = timezone.now()
        apps = migrate(AFTER)

        answered = {
            (number, external_id): versions
            for number, external_id, versions in DatasetRow.objects.values_list(
                "version__number", "external_id", "annotation_versions"
            )
        }
        assert answered == {
            (1, "out-00000"): [1, 2],
            (1, "out-00001"): [2],
            (2, "out-00000"): [1, 2],
            (2, "out-00001"): [2],
            (2, "out-00002"): [2],
        }
        assert [DatasetVersion.objects.get(pk=v.pk).rubric_versions for v in (first, second)] == [[1, 2], [1, 2]]
        files = {  # the columns 0066 knows (a later migration adds others)
            (version_id, fmt): (state, requested_at >= asked_before)
            for version_id, fmt, state, requested_at in VersionFile.objects.values_list(
                "version_id", "format", "state", "requested_at"
            )
        }
        assert files == {
            (first.pk, "parquet"): (VersionFileState.ON_REQUEST, False),  # swept: made from the new figure when asked
            (first.pk, "hf"): (VersionFileState.PENDING, True),
            (second.pk, "parquet"): (VersionFileState.PENDING, True),
            (second.pk, "hf"): (VersionFileState.PENDING, True),
        }
        assert sorted(OutboxMessage.objects.pending().values_list("task", "args", "dedupe_key")) == [
            ("labeling.render_version_files", [v.pk], f"render_version_files:{v.pk}") for v in (first, second)
        ]

        repaired = _state()
        migration.record_rows_left_unrecorded(apps, None)  # run again: nothing left to fill or widen
        assert _state() == repaired
        migrate(BEFORE)  # reversed: nothing undone
        assert _state() == repaired
    finally:
        migrate_to_latest()

    # The repaired rows are copied by the next build, whose figure is the wide one.
    label_outputs(project, 1, answers=({"correct": True}, {"correct": True}))
    third = build_version(dataset_id=first.dataset_id)
    assert (third.rows_copied, third.rubric_versions) == (3, [1, 2])
