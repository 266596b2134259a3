"""Migration 0063: the rows of versions built before it learn the rubric versions their labels answered (read from
their stored lines), and each version's `rubric_versions` becomes every version its labels answered, so the typed
downloads rendered again keep an older label's answers."""

import importlib

import pytest

from labeling.models import DatasetRow, DatasetVersion
from labeling.services.datasets import build_version, create_dataset
from labeling.services.labels import submit_label
from labeling.services.resolution import resolve_item
from labeling.services.rubrics import publish_rubric
from tests.helpers.labeling import label_outputs
from tests.helpers.migrations import migrate, migrate_to_latest
from tests.helpers.rubrics import BINARY

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BEFORE = [("labeling", "0062_gold_stale_items_with_one_answer_gold")]
AFTER = [("labeling", "0063_dataset_rows_know_every_rubric_version_answered")]


def test_rows_built_before_learn_their_labels_versions_from_their_lines(project, monkeypatch):
    # A line per chunk: the walk over the lines goes on past its first chunk.
    monkeypatch.setattr(importlib.import_module(f"labeling.migrations.{AFTER[0][1]}"), "LINES_PER_CHUNK", 1)
    (item,) = label_outputs(project, 1, answers=({"correct": True, "tone": "curt"}, {"correct": True}))
    v2 = publish_rubric(project=project, questions=[BINARY])  # `tone` dropped
    submit_label(expert=item.labels.order_by("pk").last().expert, item=item, rubric=v2, answers={"correct": True})
    resolve_item(item_id=item.pk)
    label_outputs(project, 1, answers=({"correct": False}, {"correct": False}))
    version = build_version(dataset_id=create_dataset(project=project, spec={"name": "Eval"}).pk)
    try:
        apps = migrate(BEFORE)
        assert apps.get_model("labeling", "DatasetVersion").objects.get(pk=version.pk).rubric_versions == [2]

        migrate(AFTER)

        answered = dict(DatasetRow.objects.filter(version=version).values_list("external_id", "annotation_versions"))
        assert answered == {"out-00000": [1, 2], "out-00001": [2]}
        assert DatasetVersion.objects.get(pk=version.pk).rubric_versions == [1, 2]
    finally:
        migrate_to_latest()
