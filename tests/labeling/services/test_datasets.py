"""Dataset versions: canonical rows, stable splits, checksums, immutability, no version when nothing changed."""

import hashlib
import json

import pytest
from django.db import connection

from labeling.exceptions import InvalidSpec
from labeling.models import (
    Dataset,
    DatasetLine,
    DatasetRow,
    DatasetVersion,
    Item,
    Label,
    Output,
    Resolution,
    VersionStatus,
)
from labeling.services.datasets import build_version, create_dataset, split_of, version_diff
from labeling.services.datasets.rows import selected_keys
from labeling.services.labels import submit_label
from labeling.services.resolution import adjudicate, resolve_item
from tests.helpers.labeling import TIE, bulk_labeled_items, label_outputs
from tests.helpers.plans import analyze, rows_handled


def test_a_build_freezes_resolved_items_into_canonical_rows(project):
    label_outputs(project, 12)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})

    version = build_version(dataset_id=dataset.pk)

    assert (version.number, version.status, version.row_count) == (1, VersionStatus.READY, 12)
    lines = list(version.rows.order_by("position").values_list("line__text", flat=True))
    assert version.sha256 == hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()
    row = json.loads(lines[0])
    assert set(row) == {
        "id", "split", "input", "output", "expected_output", "gold_status", "label", "annotations", "metadata", "tags",
        "model", "rubric_version", "occurred_at", "labeled_at",
    }  # fmt: skip
    assert row["gold_status"] == "resolved"
    assert row["id"] == "out-00000" and row["input"] == [{"role": "user", "content": "Where is my parcel?"}]
    assert row["label"] == {
        "correct": {"value": True, "method": "unanimous"},
        "helpful": {"value": 4.5, "method": "median"},
    }
    assert len(row["annotations"]) == 2 and all(a["annotator"].startswith("annotator-") for a in row["annotations"])
    assert "lab0" not in lines[0]  # experts are pseudonymised
    assert sum(version.split_counts.values()) == 12 and set(version.split_counts) <= {"train", "test"}


def test_nothing_changed_makes_no_new_version_and_new_labels_make_version_two(project):
    label_outputs(project, 5)
    dataset = create_dataset(project=project, spec={"name": "Eval"})
    first = build_version(dataset_id=dataset.pk)

    assert build_version(dataset_id=dataset.pk) is None
    label_outputs(project, 3, start=100)
    second = build_version(dataset_id=dataset.pk)

    assert [v.number for v in dataset.versions.order_by("number")] == [1, 2]
    assert (first.row_count, second.row_count) == (5, 8)
    assert version_diff(old=first, new=second) == {
        "added": ["out-00100", "out-00101", "out-00102"], "removed": [], "changed": [],
    }  # fmt: skip
    first.refresh_from_db()
    assert first.rows.count() == 5  # version 1 is frozen


def test_a_diff_details_only_its_first_changed_rows_and_counts_the_rest(project, lead):
    """What changed is given for the first `details` changed ids, in order; the others are counted, so an answer about
    a version where every row changed stays bounded."""
    items = label_outputs(project, 3, answers=TIE)
    dataset = create_dataset(project=project, spec={"name": "Eval", "only_resolved": False})
    first = build_version(dataset_id=dataset.pk)
    for item in items:
        adjudicate(lead=lead, item=item, answers={"correct": True})
    second = build_version(dataset_id=dataset.pk)

    diff = version_diff(old=first, new=second, details=2)

    assert diff["changed"] == ["out-00000", "out-00001", "out-00002"] and diff["changed_rows_left_out"] == 1
    assert [entry["id"] for entry in diff["changed_rows"]] == ["out-00000", "out-00001"]
    assert diff["changed_rows"][0]["gold"]["correct"] == {
        "before": None, "after": {"value": True, "method": "adjudicated"}
    }  # fmt: skip
    assert "gold_status" in diff["changed_rows"][0]["fields"]


def test_an_item_never_changes_split_as_the_dataset_grows():
    splits = {"train": 80, "test": 20}
    decided = {f"id-{i}": split_of(f"id-{i}", splits) for i in range(2000)}
    assert decided == {f"id-{i}": split_of(f"id-{i}", splits) for i in range(2000)}
    assert 0.75 < sum(split == "train" for split in decided.values()) / 2000 < 0.85


def test_ties_stay_out_until_adjudicated_and_the_gold_correction_becomes_expected_output(project, lead):
    label_outputs(project, 2, answers=({"correct": True, "helpful": 4}, {"correct": False, "helpful": 2}))
    dataset = create_dataset(project=project, spec={"name": "Eval"})
    assert build_version(dataset_id=dataset.pk).row_count == 0

    item = project.items.order_by("pk").first()
    adjudicate(lead=lead, item=item, answers={"correct": False, "fix": "Parcels arrive in 3 days."})
    version = build_version(dataset_id=dataset.pk)

    row = json.loads(version.rows.get().line.text)
    assert row["expected_output"] == "Parcels arrive in 3 days."
    assert row["label"]["correct"] == {"value": False, "method": "adjudicated"}
    # The lead's answer survives a rebuild from scratch: resolve again, build again, same checksum.
    resolve_item(item_id=item.pk)
    assert build_version(dataset_id=dataset.pk) is None


def test_an_undecided_tie_is_no_gold_label_in_a_row(project):
    """The gold rule (`labeling.rules.gold`): a tie is left out of `label`, as metrics and retention leave it out.

    Before the rule had one home, rows kept `{"value": null, "method": "tie"}` entries.
    """
    label_outputs(project, 1, answers=({"correct": True, "helpful": 4}, {"correct": False, "helpful": 2}))
    dataset = create_dataset(project=project, spec={"name": "Everything", "only_resolved": False})

    row = json.loads(build_version(dataset_id=dataset.pk).rows.get().line.text)

    assert set(row["label"]) == {"helpful"} and row["label"]["helpful"]["method"] == "median"
    assert [annotation["answers"]["correct"] for annotation in row["annotations"]] == [True, False]


def test_a_twin_delivery_ends_with_one_version_and_an_interrupted_build_is_finished(project):
    label_outputs(project, 4)
    dataset = create_dataset(project=project, spec={"name": "Eval"})
    # A build that died after claiming its number: the version is left `building`, with no rows.
    DatasetVersion.objects.create(dataset=dataset, number=1, status=VersionStatus.BUILDING)

    finished = build_version(dataset_id=dataset.pk)
    twin = build_version(dataset_id=dataset.pk)

    assert finished.number == 1 and finished.status == VersionStatus.READY and twin is None
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"name": "../../etc/passwd"}, None),
        ({"name": "\x00\x00"}, "needs a name"),
        ({"name": "'\"; drop table"}, None),
        ({"name": "Eval", "splits": {"train": 90, "test": 20}}, "adding up to 100"),
        ({"name": "Eval", "splits": {"Train Set": 100}}, "Split names"),
        ({"name": "Eval", "queues": ["nope"]}, "No such queue"),
        ({"name": "Eval", "colour": "red"}, "unknown field"),
    ],
)
def test_dataset_names_are_slugified_and_bad_specs_refused(project, spec, message):
    if message is None:
        dataset = create_dataset(project=project, spec=spec)
        assert dataset.slug and all(c.isalnum() or c == "-" for c in dataset.slug)
        assert "/" not in dataset.slug and "." not in dataset.slug
    else:
        with pytest.raises(InvalidSpec, match=message):
            create_dataset(project=project, spec=spec)
        assert not Dataset.objects.exists()


def test_rows_are_not_written_for_a_failed_or_unchanged_build(project):
    dataset = create_dataset(project=project, spec={"name": "Empty"})
    first = build_version(dataset_id=dataset.pk)
    assert first.row_count == 0 and build_version(dataset_id=dataset.pk) is None
    assert DatasetRow.objects.count() == 0


def test_deleting_a_version_or_its_dataset_deletes_its_rows(project):
    """DatasetRow.version has no database constraint (its check ran per row at COMMIT): Django's cascade deletes."""
    label_outputs(project, 3)
    dataset = create_dataset(project=project, spec={"name": "Eval"})
    first = build_version(dataset_id=dataset.pk)
    label_outputs(project, 1)
    second = build_version(dataset_id=dataset.pk)
    assert DatasetRow.objects.filter(version=first).count() == 3

    first.delete()
    assert not DatasetRow.objects.filter(version_id=first.pk).exists()
    assert DatasetRow.objects.filter(version=second).count() == 4
    dataset.delete()
    assert not DatasetRow.objects.filter(version_id=second.pk).exists()
    assert not DatasetLine.objects.exists()  # the lines go with their dataset


def test_a_build_reads_the_gold_of_labels_edited_since_their_item_was_resolved(project):
    """An edited label marks its item's gold stale and asks a task to resolve it again. A build made before that task
    ran (a queue behind, a worker down, or migration 0024's items waiting for the close) wrote the old gold beside the
    new answers: a row saying "unanimous: correct" over two experts who now disagree, and `gold_status` "resolved"."""
    [agreed] = label_outputs(project, answers=({"correct": True}, {"correct": True}))
    [tied] = label_outputs(project, answers=({"correct": True}, {"correct": False}), start=10)
    for item, answers in ((agreed, {"correct": False}), (tied, {"correct": True})):
        label = Label.objects.filter(item=item).order_by("pk").last()
        submit_label(expert=label.expert, item=item, rubric=label.rubric, answers=answers)  # its task never runs here
    everything = create_dataset(project=project, spec={"name": "Everything", "only_resolved": False})
    resolved = create_dataset(project=project, spec={"name": "Resolved"})

    rows = {row["id"]: row for row in map(json.loads, _lines(build_version(dataset_id=everything.pk)))}

    assert rows["out-00000"]["gold_status"] == "needs_adjudication" and "correct" not in rows["out-00000"]["label"]
    assert rows["out-00010"]["gold_status"] == "resolved"
    assert rows["out-00010"]["label"]["correct"] == {"value": True, "method": "unanimous"}
    assert [json.loads(line)["id"] for line in _lines(build_version(dataset_id=resolved.pk))] == ["out-00010"]


def _lines(version) -> list[str]:
    return list(version.rows.order_by("position").values_list("line__text", flat=True))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")
def test_a_builds_keys_read_each_items_labels_once_even_with_stale_statistics(project, other_project):
    """A project's 1,500 labeled items came after the last ANALYZE (a bulk import; autoanalyze not yet run): the
    statistics know only another project's items, and the planner believes this one has a single item. The keys
    statement still handles rows in proportion to the items and labels, where a nested loop that aggregated the
    project's labels again for each item handled millions (6,000 items took 12 s)."""
    bulk_labeled_items(other_project, 300)
    analyze(Output, Item, Label, Resolution)
    items, labels = bulk_labeled_items(project, 1_500)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})

    handled = rows_handled(lambda: list(selected_keys(dataset)))

    assert handled <= 20 * (items + labels), handled
