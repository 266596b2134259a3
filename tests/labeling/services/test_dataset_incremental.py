"""Incremental dataset versions: a build copies its predecessor's unchanged lines and writes only what changed,
and its bytes are exactly those of a build from scratch.

Every test keeps a twin dataset of the same definition that is always built with `full=True`, and compares
the incremental version with the twin's newest version: the same lines in the same order, the same SHA-256
(recomputed from the lines), the same split counts and rubric versions. `rows_copied` shows which path was
taken, so a silent fallback to full builds fails.

The tests run on SQLite too (the demo's database, where copies are an INSERT … SELECT per run and the figures are
read back streamed); those of PostgreSQL's statements alone are marked `postgres_only`.
"""

import hashlib
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labeling.models import Dataset, DatasetLine, DatasetVersion, Item, Label, Output, Resolution, VersionStatus
from labeling.services.datasets import (
    build_version,
    create_dataset,
    definition_fingerprint,
    request_build,
    version_diff,
)
from labeling.services.datasets.rows import selected_keys
from labeling.services.labels import submit_label
from labeling.services.privacy import erase_end_user
from labeling.services.resolution import adjudicate, resolve_item
from labeling.services.rubrics import publish_rubric
from tests.helpers.labeling import TIE, label_outputs
from tests.helpers.rubrics import QUESTIONS
from tests.outbox import enqueued, run_as_worker

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="runs are copied by one statement, and hashed, on PostgreSQL only"
)


def _twins(project, **spec) -> tuple[Dataset, Dataset]:
    """The dataset under test and its twin (same definition, another name), both with a first version."""
    dataset = create_dataset(project=project, spec={"name": "Eval", **spec})
    twin = create_dataset(project=project, spec={"name": "Eval from scratch", **spec})
    build_version(dataset_id=dataset.pk)
    build_version(dataset_id=twin.pk, full=True)
    return dataset, twin


def _lines(version: DatasetVersion) -> list[str]:
    return list(version.rows.order_by("position").values_list("line__text", flat=True))


def _assert_same_as_full_build(version: DatasetVersion, twin: Dataset) -> None:
    """The version's bytes and figures are those of the twin's build from scratch (made now if anything changed)."""
    built = build_version(dataset_id=twin.pk, full=True)
    full = built or twin.versions.ready().order_by("-number").first()
    assert full.rows_copied == 0
    lines = _lines(version)
    assert lines == _lines(full)
    assert version.sha256 == hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()
    assert (version.sha256, version.row_count, version.split_counts, version.rubric_versions) == (
        full.sha256,
        full.row_count,
        full.split_counts,
        full.rubric_versions,
    )
    assert version.row_count == len(lines) and sum(version.split_counts.values()) == len(lines)
    assert _answered(version) == _answered(full)


def _answered(version: DatasetVersion) -> list[tuple[str, list[int]]]:
    """Each row's rubric versions its labels answered, in position order."""
    return list(version.rows.order_by("position").values_list("external_id", "annotation_versions"))


def _stored_lines(dataset: Dataset) -> int:
    return DatasetLine.objects.filter(dataset=dataset).count()


def _line_ids(version: DatasetVersion) -> dict[str, int]:
    return dict(version.rows.values_list("external_id", "line_id"))


def _row(version: DatasetVersion, external_id: str) -> dict:
    return json.loads(version.rows.get(external_id=external_id).line.text)


def test_changed_gold_edited_labels_and_new_rows_are_built_and_the_rest_copied(project, lead):
    items = label_outputs(project, 12)
    dataset, twin = _twins(project)
    first = dataset.versions.get()
    assert (first.row_count, first.rows_copied) == (12, 0) and first.definition_sha256

    adjudicate(lead=lead, item=items[3], answers={"correct": False, "fix": "It ships on Monday."})
    edited = Label.objects.filter(item=items[7]).order_by("pk").first()
    submit_label(expert=edited.expert, item=items[7], rubric=edited.rubric, answers={"correct": True, "helpful": 1})
    resolve_item(item_id=items[7].pk)
    label_outputs(project, 3)
    with CaptureQueriesContext(connection) as queries:
        second = build_version(dataset_id=dataset.pk)

    assert (second.number, second.row_count, second.rows_copied) == (2, 15, 10)
    # out-00000..02 | out-00003 built | 04..06 | out-00007 built | 08..11, then three new rows built: three runs
    # of copied lines, copied by one statement on PostgreSQL and by an INSERT … SELECT per run elsewhere.
    copies = [q["sql"] for q in queries.captured_queries if "INSERT INTO labeling_datasetrow" in q["sql"]]
    if connection.vendor == "postgresql":
        assert len(copies) == 1 and "unnest" in copies[0]
    else:
        assert len(copies) == 3
    # A copied row points at its predecessor's line: the version stored only its 5 built lines.
    first, copied = _line_ids(dataset.versions.get(number=1)), _line_ids(second)
    shared = {external_id for external_id, line_id in copied.items() if first.get(external_id) == line_id}
    assert shared == set(first) - {"out-00003", "out-00007"}
    assert _stored_lines(dataset) == 12 + 5
    # The diff reads only the lines the two versions do not share; the twin's versions, both built from scratch,
    # share none and hold the same bytes where nothing changed: the same diff, from their text.
    diff = {"added": ["out-00012", "out-00013", "out-00014"], "removed": [], "changed": ["out-00003", "out-00007"]}
    assert version_diff(old=dataset.versions.get(number=1), new=second) == diff
    assert _row(second, "out-00003")["expected_output"] == "It ships on Monday."
    assert _row(second, "out-00007")["label"]["helpful"] == {"value": 3.0, "method": "median"}
    _assert_same_as_full_build(second, twin)
    twin_first, twin_second = twin.versions.order_by("number")
    assert not set(_line_ids(twin_first).values()) & set(_line_ids(twin_second).values())
    assert version_diff(old=twin_first, new=twin_second) == diff


def test_nothing_changed_makes_no_version_without_building_or_copying_a_row(project):
    label_outputs(project, 6)
    dataset, _ = _twins(project)

    with CaptureQueriesContext(connection) as queries:
        assert build_version(dataset_id=dataset.pk) is None

    assert not [q for q in queries.captured_queries if "INSERT INTO labeling_datasetrow" in q["sql"]]
    assert not [q for q in queries.captured_queries if "COPY" in q["sql"]]
    assert list(dataset.versions.values_list("number", flat=True)) == [1]


def test_an_item_that_leaves_the_selection_is_removed_in_place(project):
    """only_resolved: an edit that turns agreement into a tie takes the row out; its neighbours are copied."""
    items = label_outputs(project, 8)
    dataset, twin = _twins(project)

    label = Label.objects.filter(item=items[4]).order_by("pk").last()
    submit_label(expert=label.expert, item=items[4], rubric=label.rubric, answers=TIE[1])
    resolve_item(item_id=items[4].pk)
    second = build_version(dataset_id=dataset.pk)

    assert (second.row_count, second.rows_copied) == (7, 7)
    assert not second.rows.filter(external_id="out-00004").exists()
    assert list(second.rows.order_by("position").values_list("position", flat=True)) == list(range(7))
    _assert_same_as_full_build(second, twin)


def test_a_new_rubric_version_is_built_into_the_rows_that_use_it(project):
    items = label_outputs(project, 6)
    dataset, twin = _twins(project)
    rubric = publish_rubric(project=project, questions=[*QUESTIONS[:2], {**QUESTIONS[2], "required": True}])

    for label in Label.objects.filter(item__in=items[:2]).order_by("pk"):
        submit_label(expert=label.expert, item=label.item, rubric=rubric, answers={"correct": True, "tone": "friendly"})
    for item in items[:2]:
        resolve_item(item_id=item.pk)
    label_outputs(project, 2, answers=({"correct": False, "tone": "curt"}, {"correct": False, "tone": "curt"}))
    second = build_version(dataset_id=dataset.pk)

    assert (second.row_count, second.rows_copied, second.rubric_versions) == (8, 4, [1, 2])
    assert _row(second, "out-00000")["rubric_version"] == 2 and _row(second, "out-00005")["rubric_version"] == 1
    assert _row(second, "out-00007")["label"]["tone"] == {"value": "curt", "method": "unanimous"}
    _assert_same_as_full_build(second, twin)


def test_a_row_with_a_label_of_an_older_version_keeps_that_version_when_its_line_is_copied(project):
    """An item one expert labeled on v1 (answering `tone`) and the other on v2 (which dropped it) is a row of v2; its
    v1 label's version is the version's too, so the typed downloads keep `tone`. A later build copies the row by
    INSERT … SELECT and still knows it: the same figures as a build from scratch."""
    label_outputs(project, 2, answers=({"correct": True, "tone": "friendly"}, {"correct": True, "tone": "curt"}))
    dataset, twin = _twins(project)
    v2 = publish_rubric(project=project, questions=[QUESTIONS[0], QUESTIONS[1]])  # `tone` dropped
    mixed, relabeled = Item.objects.filter(project=project).order_by("output__external_id")
    submit_label(expert=mixed.labels.order_by("pk").last().expert, item=mixed, rubric=v2, answers={"correct": True})
    for label in relabeled.labels.all():
        submit_label(expert=label.expert, item=relabeled, rubric=v2, answers={"correct": False})
    for item in (mixed, relabeled):
        resolve_item(item_id=item.pk)

    second = build_version(dataset_id=dataset.pk)
    assert second.rubric_versions == [1, 2]
    _assert_same_as_full_build(second, twin)
    label_outputs(project, 1, answers=({"correct": True}, {"correct": True}), rubric=v2)
    third = build_version(dataset_id=dataset.pk)

    # Every row is a row of v2, yet v1 answered `tone` on the first.
    assert [_row(third, f"out-{n:05d}")["rubric_version"] for n in range(3)] == [2, 2, 2]
    assert [a["answers"] for a in _row(third, "out-00000")["annotations"]] == [
        {"correct": True, "tone": "friendly"},
        {"correct": True},
    ]
    assert (third.rubric_versions, third.rows_copied) == ([1, 2], 2)
    assert _answered(third) == [("out-00000", [1, 2]), ("out-00001", [2]), ("out-00002", [2])]
    _assert_same_as_full_build(third, twin)


def test_a_row_whose_answered_versions_were_not_recorded_is_built_again_not_copied(project):
    """A row copied by a server older than `annotation_versions` (a rolling deploy) holds null there: the next build
    makes the row again instead of carrying the null on, so the version keeps the rubric version only it answered."""
    label_outputs(project, 3, answers=({"correct": True, "tone": "friendly"}, {"correct": True, "tone": "curt"}))
    dataset, twin = _twins(project)
    v2 = publish_rubric(project=project, questions=[QUESTIONS[0], QUESTIONS[1]])  # `tone` dropped
    for item in Item.objects.filter(project=project):
        for label in item.labels.order_by("pk")[1:] if item.output.external_id == "out-00000" else item.labels.all():
            submit_label(expert=label.expert, item=item, rubric=v2, answers={"correct": True})
        resolve_item(item_id=item.pk)
    second = build_version(dataset_id=dataset.pk)
    assert _answered(second) == [("out-00000", [1, 2]), ("out-00001", [2]), ("out-00002", [2])]
    second.rows.filter(external_id="out-00000").update(annotation_versions=None)

    label_outputs(project, 1, answers=({"correct": True}, {"correct": True}), rubric=v2)
    third = build_version(dataset_id=dataset.pk)

    assert (third.row_count, third.rows_copied, third.rubric_versions) == (4, 2, [1, 2])
    assert _answered(third)[0] == ("out-00000", [1, 2])
    _assert_same_as_full_build(third, twin)


def test_a_row_stored_without_its_rubric_version_is_left_out_of_the_figures_and_built_again(project):
    """A row stored before rows recorded their `rubric_version` holds null there: the version's figures read from its
    rows leave it out instead of failing, and the next build makes the row again (as a full build would) rather
    than copying the null on."""
    from labeling.services.datasets.storage import _figures_streamed

    label_outputs(project, 3)
    dataset, twin = _twins(project)
    first = dataset.versions.get()
    first.rows.filter(external_id="out-00001").update(rubric_version=None)

    assert _figures_streamed(first.pk, 3)["rubric_versions"] == [1]
    label_outputs(project, 1)
    second = build_version(dataset_id=dataset.pk)

    assert (second.row_count, second.rows_copied, second.rubric_versions) == (4, 2, [1])
    assert second.rows.get(external_id="out-00001").rubric_version == 1
    _assert_same_as_full_build(second, twin)


def test_the_output_with_two_items_is_spoken_for_by_the_one_with_more_labels(project):
    """An output in a second queue: once that item has more labels, its row replaces the first one's."""
    (item,) = label_outputs(project, 1, answers=({"correct": True, "helpful": 2},))
    label_outputs(project, 3, answers=({"correct": True, "helpful": 2},))
    dataset, twin = _twins(project)
    second_queue = label_outputs(project, 1, queue="triple", answers=({"correct": False},) * 3)[0]
    Item.objects.filter(pk=second_queue.pk).update(output=item.output)  # the same output, now in two queues

    version = build_version(dataset_id=dataset.pk)

    # out-00004 lost its item to out-00000, now told by three labels; out-00001..03 are copied.
    assert (version.row_count, version.rows_copied) == (4, 3)
    assert len(_row(version, "out-00000")["annotations"]) == 3
    _assert_same_as_full_build(version, twin)


def test_a_build_on_top_of_an_erasure_copy_matches_a_full_build(project):
    label_outputs(project, 4, end_user_id="ana")
    label_outputs(project, 6, end_user_id="bo")
    dataset, twin = _twins(project)

    erase_end_user(project=project, end_user_id="ana")
    successor = dataset.versions.get(number=2)
    assert successor.status == VersionStatus.READY and successor.rows_copied == 6
    label_outputs(project, 2, end_user_id="bo", start=100)
    third = build_version(dataset_id=dataset.pk)

    assert (third.number, third.row_count, third.rows_copied) == (3, 8, 6)
    assert dataset.versions.get(number=1).status == VersionStatus.WITHDRAWN
    # The withdrawn version's rows went, and with them ana's lines; bo's are shared by versions 2 and 3.
    assert _stored_lines(dataset) == 6 + 2
    assert set(_line_ids(third).values()) >= set(_line_ids(successor).values())
    _assert_same_as_full_build(third, twin)


def test_redaction_and_feedback_rewrite_the_rows_of_their_outputs(project):
    from labeling.services.ingest import record_feedback
    from labeling.services.redaction import redact_stored_outputs, save_rule_set

    label_outputs(project, 3, texts=["Mail jane@example.com", "No address here", "Call us"])
    label_outputs(project, 2)
    dataset, twin = _twins(project)

    save_rule_set(project=project, builtins=["email"], custom=[], phone_region="US")
    redact_stored_outputs(project=project)  # rewrites every stored output under the new rules
    after_redaction = build_version(dataset_id=dataset.pk)
    assert after_redaction.rows_copied == 0 and "jane@example.com" not in "".join(_lines(after_redaction))
    _assert_same_as_full_build(after_redaction, twin)

    feedback = {"feedback": [{"external_id": "out-00001", "score": -1, "comment": "Write to ann@example.com"}]}
    record_feedback(project=project, body=json.dumps(feedback).encode())
    after_feedback = build_version(dataset_id=dataset.pk)

    assert (after_feedback.row_count, after_feedback.rows_copied) == (5, 4)
    assert _row(after_feedback, "out-00001")["metadata"]["redactions"] == {"email": 1}
    _assert_same_as_full_build(after_feedback, twin)


def test_every_source_of_a_rows_bytes_moves_its_digest_and_no_other_rows(project):
    # A digest that stayed put while a source moved would copy a stale line; here each source the digest's
    # docstring names moves in turn (at the database, as any writer would), the bytes sometimes unchanged.
    items = label_outputs(project, 8)
    dataset = create_dataset(project=project, spec={"name": "Eval"})
    first_label = Label.objects.filter(item=items[0]).order_by("pk").first()
    late_expert = get_user_model().objects.create_user(username="late-expert")
    moves = {
        items[0].pk: lambda: Label.objects.filter(pk=first_label.pk).update(updated_at=F("updated_at") + timedelta(1)),
        items[1].pk: lambda: Label.objects.filter(item=items[1]).update(
            rubric=publish_rubric(project=project, questions=QUESTIONS)
        ),
        items[2].pk: lambda: Resolution.objects.filter(item=items[2]).update(updated_at=timezone.now()),
        items[3].pk: lambda: Output.objects.filter(pk=items[3].output_id).update(feedback_at=timezone.now()),
        items[4].pk: lambda: Output.objects.filter(pk=items[4].output_id).update(
            redaction_version=Coalesce("redaction_version", 0) + 1
        ),
        items[5].pk: lambda: Label.objects.create(
            item=items[5], expert=late_expert, rubric=first_label.rubric, answers=first_label.answers
        ),
    }
    before = _digests(dataset)
    assert len(before) == 8 and len(set(before.values())) == 8
    for item_id, move in moves.items():
        move()
        after = _digests(dataset)
        assert {pk for pk in after if after[pk] != before[pk]} == {item_id}
        before = after


def _digests(dataset: Dataset) -> dict[int, str]:
    with transaction.atomic():
        return {pk: digest for pk, _, digest in selected_keys(dataset)}


def test_a_definition_change_or_full_true_builds_from_scratch(project):
    label_outputs(project, 5)
    dataset, twin = _twins(project)
    fingerprint = definition_fingerprint(dataset)

    for changed in (dataset, twin):
        Dataset.objects.filter(pk=changed.pk).update(questions=["correct"])
    dataset.refresh_from_db()
    assert definition_fingerprint(dataset) != fingerprint
    narrowed = build_version(dataset_id=dataset.pk)
    assert (narrowed.row_count, narrowed.rows_copied) == (5, 0)
    assert set(_row(narrowed, "out-00000")["label"]) == {"correct"}
    _assert_same_as_full_build(narrowed, twin)

    label_outputs(project, 1)
    request_build(dataset=dataset, full=True)  # "build from scratch", as the API asks for it
    (message,) = enqueued("labeling.build_dataset")
    assert run_as_worker(message) == 3
    rebuilt = dataset.versions.get(number=3)
    assert (rebuilt.row_count, rebuilt.rows_copied) == (6, 0)
    label_outputs(project, 1)
    assert build_version(dataset_id=dataset.pk).rows_copied == 6  # and incremental again after it


def test_models_metadata_and_text_filters_build_the_same_bytes_incrementally_and_a_changed_one_from_scratch(project):
    """The filters read in Python (metadata, text_any) leave rows out of the incremental build as of the full one; a
    changed filter is a changed definition: the next build is from scratch, and incremental again after it."""
    promise = "Your refund will arrive by 14 March."
    label_outputs(project, 3, model="regressed", metadata={"plan": "vip"}, texts=[promise] * 3)
    label_outputs(project, 2, model="regressed", metadata={"plan": "free"}, texts=[promise.upper()] * 2)
    label_outputs(project, 2, model="regressed", metadata={"plan": "vip"}, texts=["It ships Friday."] * 2)
    label_outputs(project, 2, model="older", metadata={"plan": "vip"}, texts=[promise] * 2)
    filters = {"models": ["regressed"], "metadata": {"plan": ["vip"]}, "text_any": ["refund will arrive"]}
    dataset, twin = _twins(project, **filters)
    assert dataset.versions.get().row_count == 3

    label_outputs(project, 2, model="regressed", metadata={"plan": "vip"}, texts=[promise] * 2)
    label_outputs(project, 1, model="regressed", metadata={"plan": "vip"}, texts=["No date yet."])
    grown = build_version(dataset_id=dataset.pk)
    assert (grown.row_count, grown.rows_copied) == (5, 3)
    _assert_same_as_full_build(grown, twin)

    fingerprint = definition_fingerprint(dataset)
    for changed in (dataset, twin):
        Dataset.objects.filter(pk=changed.pk).update(filters={**filters, "metadata": {"plan": ["vip", "free"]}})
    dataset.refresh_from_db()
    assert definition_fingerprint(dataset) != fingerprint
    widened = build_version(dataset_id=dataset.pk)
    assert (widened.row_count, widened.rows_copied) == (7, 0)
    _assert_same_as_full_build(widened, twin)

    label_outputs(project, 1, model="regressed", metadata={"plan": "free"}, texts=[promise])
    again = build_version(dataset_id=dataset.pk)
    assert (again.row_count, again.rows_copied) == (8, 7)
    _assert_same_as_full_build(again, twin)


def test_a_full_build_asked_while_an_incremental_one_runs_still_builds_from_scratch(project, monkeypatch):
    """A lead asks a full rebuild to repair a wrongly copied line while an incremental build is in flight: the full
    task claims the same building version and waits for it, finds it built by copying (the bad line with it), and
    builds the next version from scratch."""
    from labeling.services.datasets import builds

    items = label_outputs(project, 6)
    dataset, twin = _twins(project)
    first = dataset.versions.get()
    DatasetLine.objects.filter(pk=first.rows.get(external_id="out-00002").line_id).update(
        text='{"id": "out-00002", "wrong": true}'
    )
    label = Label.objects.filter(item=items[4]).order_by("pk").first()
    submit_label(expert=label.expert, item=items[4], rubric=label.rubric, answers={"correct": True, "helpful": 1})
    resolve_item(item_id=items[4].pk)
    claim = builds._claim_build

    def claimed_while_an_incremental_build_fills_it(dataset_id, **kwargs):
        version = claim(dataset_id, **kwargs)
        monkeypatch.setattr(builds, "_claim_build", claim)
        build_version(dataset_id=dataset_id)  # the incremental task, which claimed this version first, commits
        return version

    monkeypatch.setattr(builds, "_claim_build", claimed_while_an_incremental_build_fills_it)
    rebuilt = build_version(dataset_id=dataset.pk, full=True)

    incremental = dataset.versions.get(number=2)
    assert (incremental.rows_copied, json.loads(incremental.rows.get(external_id="out-00002").line.text)) == (
        5, {"id": "out-00002", "wrong": True},
    )  # fmt: skip
    assert (rebuilt.number, rebuilt.status, rebuilt.row_count, rebuilt.rows_copied) == (3, VersionStatus.READY, 6, 0)
    assert _row(rebuilt, "out-00002")["id"] == "out-00002" and "wrong" not in _row(rebuilt, "out-00002")
    _assert_same_as_full_build(rebuilt, twin)


def test_a_twin_delivery_of_a_full_build_does_not_build_it_again(project, monkeypatch):
    from labeling.services.datasets import builds

    label_outputs(project, 4)
    dataset, _ = _twins(project)
    label_outputs(project, 1)
    claim = builds._claim_build

    def claimed_while_the_first_delivery_fills_it(dataset_id, **kwargs):
        version = claim(dataset_id, **kwargs)
        monkeypatch.setattr(builds, "_claim_build", claim)
        build_version(dataset_id=dataset_id, full=True)  # the first delivery, which claimed this version first
        return version

    monkeypatch.setattr(builds, "_claim_build", claimed_while_the_first_delivery_fills_it)
    twin_delivery = build_version(dataset_id=dataset.pk, full=True)

    assert (twin_delivery.number, twin_delivery.rows_copied) == (2, 0)
    assert list(dataset.versions.order_by("number").values_list("number", flat=True)) == [1, 2]


@pytest.mark.parametrize("status", [VersionStatus.FAILED, VersionStatus.WITHDRAWN])
def test_a_failed_or_withdrawn_predecessor_means_a_build_from_scratch(project, status):
    label_outputs(project, 4)
    dataset, twin = _twins(project)
    DatasetVersion.objects.create(dataset=dataset, number=2, status=status)

    label_outputs(project, 1)
    version = build_version(dataset_id=dataset.pk)

    assert (version.number, version.row_count, version.rows_copied) == (3, 5, 0)
    _assert_same_as_full_build(version, twin)


@postgres_only
def test_runs_are_copied_in_batches_of_statements_with_the_same_bytes(project, monkeypatch):
    from labeling.services.datasets import storage

    items = label_outputs(project, 9)
    dataset, twin = _twins(project)
    for item in items[2::3]:  # out-00002, 05, 08 change: runs 0-1, 3-4, 6-7
        label = Label.objects.filter(item=item).order_by("pk").first()
        submit_label(expert=label.expert, item=item, rubric=label.rubric, answers={"correct": True, "helpful": 3})
        resolve_item(item_id=item.pk)
    monkeypatch.setattr(storage._CopyRuns, "RUNS_PER_STATEMENT", 2)

    with CaptureQueriesContext(connection) as queries:
        version = build_version(dataset_id=dataset.pk)

    copies = [q for q in queries.captured_queries if "INSERT INTO labeling_datasetrow" in q["sql"]]
    assert (version.rows_copied, len(copies)) == (6, 2)
    _assert_same_as_full_build(version, twin)


@pytest.mark.parametrize(
    "in_database",
    [pytest.param(True, marks=postgres_only), False],
    ids=["hashed-in-database", "streamed-past-the-bound"],
)
def test_the_checksum_is_that_of_the_stored_bytes_whether_hashed_in_the_database_or_streamed(
    project, monkeypatch, in_database
):
    """Multi-byte UTF-8 lines, an incremental build: both ways of reading the figures back hash what a full build
    hashes. Past CHECKSUM_IN_DATABASE_MAX_BYTES (lowered here) the lines are streamed to Python instead."""
    from labeling.services.datasets import storage

    texts = ["Ça arrive vendredi", "小包は金曜日に届きます", "Parcel 🚚 on its way", "Zürich\u00a0— “quoted”"]
    items = label_outputs(project, 4, texts=texts)
    dataset, twin = _twins(project)
    label = Label.objects.filter(item=items[1]).order_by("pk").first()
    submit_label(expert=label.expert, item=items[1], rubric=label.rubric, answers={"correct": True, "helpful": 2})
    resolve_item(item_id=items[1].pk)
    label_outputs(project, 1, texts=["Ünïcödé last"])
    if not in_database:
        monkeypatch.setattr(storage, "CHECKSUM_IN_DATABASE_MAX_BYTES", 100)

    with CaptureQueriesContext(connection) as queries:
        version = build_version(dataset_id=dataset.pk)

    hashed_there = [q for q in queries.captured_queries if "sha256(" in q["sql"]]
    assert (version.row_count, version.rows_copied, len(hashed_there)) == (5, 3, 1 if in_database else 0)
    _assert_same_as_full_build(version, twin)


@postgres_only
def test_the_checksum_hashed_in_the_database_is_that_of_the_lines_streamed_to_python(project):
    from labeling.exceptions import DomainError
    from labeling.services.datasets.storage import _checksum_in_database, _figures_streamed

    label_outputs(project, 3, texts=["naïve", "😀 emoji", "plain"])
    dataset = create_dataset(project=project, spec={"name": "Eval"})
    version = build_version(dataset_id=dataset.pk, full=True)
    empty = DatasetVersion.objects.create(dataset=dataset, number=2, status=VersionStatus.BUILDING)

    assert _checksum_in_database(version.pk, 3) == _figures_streamed(version.pk, 3)["sha256"] == version.sha256
    assert _checksum_in_database(empty.pk, 0) == hashlib.sha256(b"").hexdigest()
    with pytest.raises(DomainError):
        _checksum_in_database(version.pk, 4)  # the stored rows are not those written


@postgres_only
def test_lines_that_do_not_reach_the_hash_in_position_order_are_streamed_instead(project):
    """The in-database hash proves its input came in position order (0…n-1, each row's arrival); a version whose
    positions skip a number fails that proof, and its figures are streamed to Python in position order."""
    from labeling.services.datasets.storage import _checksum_in_database, _figures_streamed, _Tally, read_back

    label_outputs(project, 3, texts=["one", "two", "three"])
    dataset = create_dataset(project=project, spec={"name": "Eval"})
    version = build_version(dataset_id=dataset.pk, full=True)
    version.rows.filter(position=2).update(position=5)
    tally = _Tally()
    for split, rubric_version, line in version.rows.values_list("split", "rubric_version", "line__text"):
        tally.add(split, rubric_version, rows=1, octets=len(line.encode()))

    assert _checksum_in_database(version.pk, 3) is None
    assert read_back(version.pk, 3, tally) == _figures_streamed(version.pk, 3)
    assert read_back(version.pk, 3, tally)["sha256"] == version.sha256
