"""Migrations 0063-0064: the rows of versions built before them learn the rubric versions their labels answered (read
from their stored lines), and each version's `rubric_versions` becomes every version its labels answered, so the typed
downloads rendered again keep an older label's answers. On PostgreSQL the rows are filled by SQL; SQLite (the demo)
reads the lines in Python: both give the same rows here. The migration runs as each database runs it (`migration`:
the SQL on PostgreSQL, the Python path on SQLite), and the Python path is also called directly (`python`), so that
PostgreSQL checks it against the SQL."""

import importlib
import json

import pytest
from django.db import connection

from labeling.models import DatasetLine, DatasetRow, DatasetVersion
from labeling.services.datasets import build_version, create_dataset
from labeling.services.labels import submit_label
from labeling.services.resolution import resolve_item
from labeling.services.rubrics import publish_rubric
from tests.helpers.labeling import label_outputs
from tests.helpers.migrations import migrate, migrate_to_latest
from tests.helpers.rubrics import BINARY

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("labeling", "0062_gold_stale_items_with_one_answer_gold")]
ADDED = [("labeling", "0063_add_datasetrow_annotation_versions")]
AFTER = [("labeling", "0064_dataset_rows_know_every_rubric_version_answered")]


PATHS = ["migration", "python"]


def _relabel_one(item, rubric, answers) -> None:
    """The item's last expert answers again on `rubric`: its labels answered two versions."""
    submit_label(expert=item.labels.order_by("pk").last().expert, item=item, rubric=rubric, answers=answers)
    resolve_item(item_id=item.pk)


@pytest.mark.parametrize("path", PATHS)
def test_rows_built_before_learn_their_labels_versions_from_their_lines(project, monkeypatch, path):
    migration = importlib.import_module(f"labeling.migrations.{AFTER[0][1]}")
    monkeypatch.setattr(migration, "LINES_PER_CHUNK", 1)  # a line per statement (or read): the walk goes on
    (mixed,) = label_outputs(project, 1, answers=({"correct": True, "tone": "curt"}, {"correct": True}))
    v2 = publish_rubric(project=project, questions=[BINARY])  # `tone` dropped
    _relabel_one(mixed, v2, {"correct": True})
    label_outputs(project, 1, answers=({"correct": False}, {"correct": False}))
    dataset = create_dataset(project=project, spec={"name": "Eval"})
    first = build_version(dataset_id=dataset.pk)
    for _ in range(7):
        v9 = publish_rubric(project=project, questions=[BINARY])
    (late,) = label_outputs(project, 1, answers=({"correct": True}, {"correct": True}), rubric=v9)
    _relabel_one(late, publish_rubric(project=project, questions=[BINARY]), {"correct": True})  # on v10
    second = build_version(dataset_id=dataset.pk)
    assert second.rows_copied == 2  # the first two rows' lines are shared by both versions
    try:
        apps = migrate(BEFORE)
        Version = apps.get_model("labeling", "DatasetVersion")
        assert [Version.objects.get(pk=v.pk).rubric_versions for v in (first, second)] == [[2], [2, 10]]

        if path == "migration":
            migrate(AFTER)
        else:
            apps = migrate(ADDED)
            assert not DatasetRow.objects.filter(annotation_versions__isnull=False).exists()
            migration.record_answered_versions_in_python(
                *(apps.get_model("labeling", name) for name in ("DatasetRow", "DatasetLine", "DatasetVersion"))
            )

        answered = {
            (number, external_id): versions
            for number, external_id, versions in DatasetRow.objects.filter(version__dataset=dataset).values_list(
                "version__number", "external_id", "annotation_versions"
            )
        }
        assert answered == {
            (1, "out-00000"): [1, 2],
            (1, "out-00001"): [2],
            (2, "out-00000"): [1, 2],
            (2, "out-00001"): [2],
            (2, "out-00002"): [9, 10],  # numbers in order, 10 after 9
        }
        assert [DatasetVersion.objects.get(pk=v.pk).rubric_versions for v in (first, second)] == [[1, 2], [1, 2, 9, 10]]
    finally:
        migrate_to_latest()


@pytest.mark.postgres  # the SQL path's
def test_run_again_the_sql_parses_only_the_lines_of_rows_still_null(project):
    """A stopped run is run again: only the lines with a row still null are read (a line whose rows are all filled
    no longer parses here, and nothing fails); run once more, it writes no row and no version."""
    migration = importlib.import_module(f"labeling.migrations.{AFTER[0][1]}")
    label_outputs(project, 2, answers=({"correct": True}, {"correct": True}))
    build_version(dataset_id=create_dataset(project=project, spec={"name": "Eval"}).pk)
    written: list[int] = []

    def counted(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.lstrip().startswith(("UPDATE", "WITH")):
            written.append(context["cursor"].rowcount)
        return result

    try:
        migrate(BEFORE)
        apps = migrate(AFTER)
        stopped, filled = DatasetRow.objects.order_by("position")
        assert [stopped.annotation_versions, filled.annotation_versions] == [[1], [1]]
        DatasetRow.objects.filter(pk=stopped.pk).update(annotation_versions=None)  # not reached by the stopped run
        DatasetLine.objects.filter(pk=filled.line_id).update(text="not JSON")
        with connection.execute_wrapper(counted):
            migration.record_answered_versions(apps, None)
            assert written == [1, 0]  # one range of lines (its one null row), then the versions
            migration.record_answered_versions(apps, None)
        assert written == [1, 0, 0, 0]
        assert list(DatasetRow.objects.order_by("position").values_list("annotation_versions", flat=True)) == [[1], [1]]
    finally:
        migrate_to_latest()


# Odd stored lines, and what both paths take from them: a version is a JSON integer, an annotation an object.
ODD_LINES = [
    (
        {
            "rubric_version": 3,
            "annotations": [{"rubric_version": True}, {"rubric_version": 2.0}, {"rubric_version": 1}],
        },
        [1, 3],
    ),
    ({"rubric_version": 3, "annotations": ["text", 7, None, [4], {"rubric_version": 2}]}, [2, 3]),
    ({"rubric_version": 2.5, "annotations": {"rubric_version": 4}}, []),
    ({"rubric_version": False, "annotations": [{}, {"rubric_version": "5"}, {"rubric_version": None}]}, []),
]


@pytest.mark.parametrize("path", PATHS)
def test_both_paths_take_the_same_versions_from_odd_lines(project, path):
    """Booleans, `2.0` and strings are no versions, and an annotation that is not an object is skipped: the SQL and
    the Python reading agree, whatever a line holds."""
    migration = importlib.import_module(f"labeling.migrations.{AFTER[0][1]}")
    label_outputs(project, len(ODD_LINES), answers=({"correct": True}, {"correct": True}))
    build_version(dataset_id=create_dataset(project=project, spec={"name": "Eval"}).pk)
    try:
        migrate(BEFORE)
        line_ids = DatasetRow.objects.order_by("position").values_list("line_id", flat=True)
        for line_id, (line, _) in zip(line_ids, ODD_LINES, strict=True):
            DatasetLine.objects.filter(pk=line_id).update(text=json.dumps(line))
        if path == "migration":
            migrate(AFTER)
        else:
            apps = migrate(ADDED)
            migration.record_answered_versions_in_python(
                *(apps.get_model("labeling", name) for name in ("DatasetRow", "DatasetLine", "DatasetVersion"))
            )
        answered = DatasetRow.objects.order_by("position").values_list("annotation_versions", flat=True)
        assert json.dumps(list(answered)) == json.dumps([versions for _, versions in ODD_LINES])  # `true` is not 1
    finally:
        migrate_to_latest()
