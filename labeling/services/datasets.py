"""Define eval datasets and build their immutable, numbered versions.

A build runs in two steps. First, under the dataset's row lock, it claims a version number and marks
it `building` (at most one per dataset; a redelivered task finds it and carries on). Then, in one
transaction, it writes every row, hashing the canonical JSONL as it goes, and flips the version to
`ready`: a killed worker rolls the whole step back, so a version is never seen ready before it is
complete. When the rows hash to the same checksum as the last ready version, nothing changed: the
claimed number is released and no version is made. See README.md beside this file.
"""

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import batched
from typing import Any

import msgspec
from django.db import connection, transaction
from django.db.models import Count, F, Max, OuterRef, Subquery, TextField
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.text import slugify

from labeling.exceptions import DomainError, InvalidSpec
from labeling.models import (
    AuditEvent,
    Dataset,
    DatasetRow,
    DatasetVersion,
    Item,
    ItemStatus,
    Label,
    Project,
    Queue,
    ResolutionStatus,
    Rubric,
    VersionStatus,
    work_key,
)
from labeling.rules import gold as rules_gold
from labeling.rules.calendar import cycle_week

from . import outbox
from .queues import audit_actor

ROW_CHUNK = 2000
_encoder = msgspec.json.Encoder(order="sorted")


class DatasetSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    description: str = ""
    queues: list[str] = []  # queue slugs; empty = all
    questions: list[str] = []  # question keys; empty = all
    only_resolved: bool = True
    tags_any: list[str] = []
    since: datetime | None = None
    until: datetime | None = None
    splits: dict[str, int] = msgspec.field(default_factory=lambda: {"train": 80, "test": 20})
    auto_rebuild: bool = True


@transaction.atomic
def create_dataset(*, project: Project, spec: object, actor=None) -> Dataset:
    """Create a dataset definition; the slug is made from the name (only a-z, 0-9 and dashes)."""
    try:
        parsed = msgspec.convert(spec, DatasetSpec, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidSpec(f"Invalid dataset: {exc}") from None
    name = parsed.name.replace("\x00", "").strip()
    slug = slugify(name)[:64].strip("-")
    problems = []
    if not name or not slug:
        problems.append("A dataset needs a name with at least one letter or digit.")
    if slug and Dataset.objects.filter(project=project, slug=slug).exists():
        problems.append(f"A dataset named {slug!r} exists already.")
    if not parsed.splits or any(share <= 0 for share in parsed.splits.values()) or sum(parsed.splits.values()) != 100:
        problems.append("Split shares must be positive whole numbers adding up to 100, e.g. train 80, test 20.")
    if any(not slugify(split) or slugify(split) != split for split in parsed.splits):
        problems.append("Split names are lowercase letters, digits and dashes.")
    queues = list(Queue.objects.filter(project=project, slug__in=parsed.queues))
    missing = set(parsed.queues) - {queue.slug for queue in queues}
    if missing:
        problems.append(f"No such queue(s) in this project: {', '.join(sorted(missing))}.")
    if problems:
        raise InvalidSpec("Invalid dataset: " + " ".join(problems), problems)
    filters = {"tags_any": parsed.tags_any} if parsed.tags_any else {}
    if parsed.since:
        filters["since"] = parsed.since.isoformat()
    if parsed.until:
        filters["until"] = parsed.until.isoformat()
    dataset = Dataset.objects.create(
        project=project,
        slug=slug,
        name=name[:200],
        description=parsed.description,
        questions=parsed.questions,
        only_resolved=parsed.only_resolved,
        filters=filters,
        splits=dict(sorted(parsed.splits.items())),
        auto_rebuild=parsed.auto_rebuild,
    )
    dataset.queues.set(queues)
    AuditEvent.objects.create(
        project=project,
        actor=audit_actor(actor),
        action="dataset.created",
        details={"dataset": dataset.pk, "slug": dataset.slug, "name": dataset.name},
    )
    return dataset


def split_of(external_id: str, splits: dict[str, int]) -> str:
    """The split an output belongs to, by a hash of its external_id alone: stable as the dataset grows."""
    bucket = int.from_bytes(hashlib.sha256(external_id.encode()).digest()[:8], "big") % 100
    for name, share in sorted(splits.items()):
        if bucket < share:
            return name
        bucket -= share
    return sorted(splits)[-1]


@transaction.atomic
def request_build(*, dataset: Dataset, actor=None) -> None:
    """Ask a worker to build a new version (through the outbox: sent once this transaction commits)."""
    AuditEvent.objects.create(
        project_id=dataset.project_id,
        actor=audit_actor(actor),
        action="dataset.build_requested",
        details={"dataset": dataset.pk, "slug": dataset.slug, "name": dataset.name},
    )
    Dataset.objects.filter(pk=dataset.pk).update(build_requested_at=timezone.now(), build_error="")
    outbox.enqueue(task="labeling.build_dataset", args=[dataset.pk], dedupe_key=work_key("build_dataset", dataset.pk))


class _Unchanged(Exception):
    """The selection hashes to the last version's checksum: roll the rows back."""


def build_version(*, dataset_id: int) -> DatasetVersion | None:
    """Build the dataset's next version; None when nothing changed. Safe to run twice, or after a crash."""
    version = _claim_build(dataset_id)
    if version is None:
        return None
    try:
        with transaction.atomic():
            version = DatasetVersion.objects.select_for_update().filter(pk=version.pk).first()
            if version is None or version.status != VersionStatus.BUILDING:
                return version  # a twin delivery finished it, or found nothing had changed
            _fill(version)
    except _Unchanged:
        DatasetVersion.objects.filter(pk=version.pk, status=VersionStatus.BUILDING).delete()
        Dataset.objects.filter(pk=dataset_id).update(build_requested_at=None)
        return None
    except Exception as exc:
        DatasetVersion.objects.filter(pk=version.pk).update(status=VersionStatus.FAILED, built_at=timezone.now())
        Dataset.objects.filter(pk=dataset_id).update(build_requested_at=None, build_error=str(exc)[:2000])
        raise
    Dataset.objects.filter(pk=dataset_id).update(build_requested_at=None)
    return version


@transaction.atomic
def _claim_build(dataset_id: int) -> DatasetVersion | None:
    dataset = Dataset.objects.select_for_update().filter(pk=dataset_id).first()
    if dataset is None:
        return None
    building = dataset.versions.filter(status=VersionStatus.BUILDING).first()
    if building:
        return building
    last = dataset.versions.aggregate(last=Max("number"))["last"] or 0
    return DatasetVersion.objects.create(dataset=dataset, number=last + 1, status=VersionStatus.BUILDING)


def _fill(version: DatasetVersion) -> None:
    dataset = Dataset.objects.select_related("project").get(pk=version.dataset_id)
    DatasetRow.objects.filter(version=version).delete()
    rows = ((row["id"], row["split"], _encoder.encode(row), row["rubric_version"]) for row in dataset_rows(dataset))
    written = _write_rows(version.pk, rows)
    previous = dataset.versions.ready().order_by("-number").first()
    if previous and previous.sha256 == written["sha256"]:
        raise _Unchanged
    for name, value in written.items():
        setattr(version, name, value)
    version.status = VersionStatus.READY
    version.cycle_week, version.built_at = cycle_week(dataset.project, timezone.now()), timezone.now()
    version.save()


@transaction.atomic
def copy_version_without(*, version: DatasetVersion, external_ids: set[str]) -> DatasetVersion:
    """Make the dataset's next version: a ready copy of `version`, in order, without the rows of these outputs.

    The caller holds the dataset's row lock, so no build claims the number meanwhile (erasure does).
    """
    last = version.dataset.versions.order_by("-number").values_list("number", flat=True).first()
    successor = DatasetVersion.objects.create(
        dataset_id=version.dataset_id,
        number=last + 1,
        status=VersionStatus.READY,
        cycle_week=version.cycle_week,
        built_at=timezone.now(),
    )
    kept = (
        DatasetRow.objects.filter(version=version)
        .exclude(external_id__in=external_ids)
        .order_by("position")
        .values_list("external_id", "split", "line")
    )
    rows = (
        (external_id, split, line.encode(), _decode(line)["rubric_version"])
        for external_id, split, line in kept.iterator(chunk_size=ROW_CHUNK)
    )
    DatasetVersion.objects.filter(pk=successor.pk).update(**_write_rows(successor.pk, rows))
    return successor


def _write_rows(version_id: int, rows: Iterable[tuple[str, str, bytes, int]]) -> dict[str, Any]:
    """Store (external_id, split, JSONL line, rubric version) rows as the version's, in order, and return the
    fields of the version they decide: `sha256` (of the JSONL file), `row_count`, `split_counts`, `rubric_versions`.
    """
    digest, splits, rubric_versions, position = hashlib.sha256(), Counter(), set(), 0
    for chunk in batched(rows, ROW_CHUNK):
        stored = []
        for external_id, split, line, rubric_version in chunk:
            digest.update(line)
            digest.update(b"\n")
            splits[split] += 1
            rubric_versions.add(rubric_version)
            stored.append((version_id, position, external_id, split, line.decode()))
            position += 1
        _copy_rows(stored)
    return {
        "sha256": digest.hexdigest(),
        "row_count": position,
        "split_counts": dict(sorted(splits.items())),
        "rubric_versions": sorted(rubric_versions),
    }


def _copy_rows(rows: list[tuple[int, int, str, str, str]]) -> None:
    """Store (version, position, external_id, split, line) rows: COPY on PostgreSQL, an INSERT elsewhere.

    COPY runs inside the build's transaction, so a killed build still leaves nothing behind; it spares
    the ORM's instances and its text-quoted array parameters, which were half of a big build's time.
    """
    if connection.vendor == "postgresql":
        columns = "version_id, position, external_id, split, line"
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {DatasetRow._meta.db_table} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    DatasetRow.objects.bulk_create(
        DatasetRow(version_id=version_id, position=position, external_id=external_id, split=split, line=line)
        for version_id, position, external_id, split, line in rows
    )


# Reading the selection as tuples (JSON columns as text, decoded by msgspec) rather than model instances
# keeps a 70,000-row build at a third of the time: see bench/README.md, "W4 weekly close".
_ITEM_FIELDS = (
    "pk", "output__external_id", "input_text", "output_text", "metadata_text", "tags_text",
    "output__model", "output__occurred_at", "automatic_text", "adjudicated_text",
)  # fmt: skip
_decode = msgspec.json.decode


def _as_text(field: str) -> Cast:
    return Cast(F(field), output_field=TextField())


def _json(text: str | None) -> Any:
    return None if text is None else _decode(text)


def _selected_items(dataset: Dataset):
    """The complete items the dataset takes, as tuples of _ITEM_FIELDS, ordered by external_id; of two
    items of one output (two queues), the one with the most labels first."""
    items = Item.objects.filter(project_id=dataset.project_id, status=ItemStatus.COMPLETE)
    queue_ids = list(dataset.queues.values_list("pk", flat=True))
    if queue_ids:
        items = items.filter(queue_id__in=queue_ids)
    if dataset.only_resolved:
        items = items.filter(resolution__status=ResolutionStatus.RESOLVED)
    filters = dataset.filters or {}
    if filters.get("since"):
        items = items.filter(output__occurred_at__gte=filters["since"])
    if filters.get("until"):
        items = items.filter(output__occurred_at__lt=filters["until"])
    # A correlated count probes the label index per item; Count("labels") would sort the whole join.
    label_count = Label.objects.filter(item=OuterRef("pk")).order_by().values("item").annotate(n=Count("pk"))
    return (
        items.annotate(
            label_count=Coalesce(Subquery(label_count.values("n")), 0),
            input_text=_as_text("output__input"),
            output_text=_as_text("output__output"),
            metadata_text=_as_text("output__metadata"),
            tags_text=_as_text("output__tags"),
            automatic_text=_as_text("resolution__automatic"),
            adjudicated_text=_as_text("resolution__adjudicated"),
        )
        .order_by("output__external_id", "-label_count", "pk")
        .values_list(*_ITEM_FIELDS)
    )


def dataset_rows(dataset: Dataset) -> Iterator[dict[str, Any]]:
    """The dataset's rows in canonical form, one per output, ordered by external_id."""
    rubrics = {
        pk: (version, questions)
        for pk, version, questions in Rubric.objects.filter(project_id=dataset.project_id).values_list(
            "pk", "version", "questions"
        )
    }
    pseudonyms: dict[int, str] = {}
    tags_any = set((dataset.filters or {}).get("tags_any") or [])
    keys = set(dataset.questions or [])
    seen = None
    for chunk in batched(_selected_items(dataset).iterator(chunk_size=ROW_CHUNK), ROW_CHUNK):
        labels: dict[int, list[tuple]] = {}
        for item_id, expert_id, rubric_id, answers, updated_at in (
            Label.objects.filter(item_id__in=[row[0] for row in chunk])
            .order_by("pk")
            .annotate(answers_text=_as_text("answers"))
            .values_list("item_id", "expert_id", "rubric_id", "answers_text", "updated_at")
        ):
            labels.setdefault(item_id, []).append((expert_id, rubric_id, _decode(answers), updated_at))
        for item_id, external_id, *json_columns, model, occurred_at, automatic, adjudicated in chunk:
            if external_id == seen:
                continue  # the same output in two queues: the item with the most labels speaks for it
            seen = external_id
            input_, output, metadata, tags = map(_json, json_columns)
            if tags_any and not tags_any.intersection(tags or []):
                continue
            for expert_id, *_ in labels[item_id]:
                if expert_id not in pseudonyms:
                    pseudonyms[expert_id] = _pseudonym(dataset.project_id, expert_id)
            yield _row(
                dataset,
                keys=keys,
                rubrics=rubrics,
                pseudonyms=pseudonyms,
                labels=labels[item_id],
                external_id=external_id,
                input_=input_,
                output=output,
                metadata=metadata,
                tags=tags,
                model=model,
                occurred_at=occurred_at,
                gold_entries=rules_gold.gold_entries(_json(automatic), _json(adjudicated))
                if automatic is not None
                else {},
            )


def _row(dataset: Dataset, *, keys, rubrics, pseudonyms, labels, external_id, input_, output, metadata, tags, model,
         occurred_at, gold_entries) -> dict[str, Any]:  # fmt: skip
    version, questions = max((rubrics[rubric_id] for _, rubric_id, _, _ in labels), key=lambda rubric: rubric[0])
    questions = [q for q in questions if not keys or q["key"] in keys]
    wanted = {q["key"] for q in questions}
    gold = {key: {"value": e["value"], "method": e["method"]} for key, e in gold_entries.items() if key in wanted}
    correction_keys = [q["key"] for q in questions if q["kind"] == "correction"]
    expected = next(
        (gold[key]["value"] for key in correction_keys if key in gold and isinstance(gold[key]["value"], str)), None
    )
    return {
        "id": external_id,
        "split": split_of(external_id, dataset.splits),
        "input": _messages(input_),
        "output": output if isinstance(output, str) else _encoder.encode(output).decode(),
        "expected_output": expected,
        "label": gold,
        "annotations": [
            {
                "annotator": pseudonyms[expert_id],
                "rubric_version": rubrics[rubric_id][0],
                "answers": {key: value for key, value in answers.items() if key in wanted},
            }
            for expert_id, rubric_id, answers, _ in labels
        ],
        "metadata": metadata or {},
        "tags": tags or [],
        "model": model,
        "rubric_version": version,
        "occurred_at": occurred_at.isoformat(),
        "labeled_at": max(updated_at for *_, updated_at in labels).isoformat(),
    }


def _messages(value) -> list[dict[str, str]]:
    """The input as a list of {role, content} messages, whatever shape it was sent in (one type per field)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return [
        {
            "role": str(message.get("role", "")),
            "content": message["content"]
            if isinstance(message.get("content"), str)
            else _encoder.encode(message.get("content")).decode(),
        }
        for message in value
    ]


def _pseudonym(project_id: int, user_id: int) -> str:
    """Stable per project, not reversible without the server's secret."""
    return (
        "annotator-" + salted_hmac("dataset-annotator", f"{project_id}:{user_id}", algorithm="sha256").hexdigest()[:10]
    )


def version_diff(*, old: DatasetVersion, new: DatasetVersion) -> dict[str, list[str]]:
    """External ids added, removed and changed between two versions of one dataset."""
    if old.dataset_id != new.dataset_id:
        raise DomainError("Both versions must belong to the same dataset.")
    # Hashes of the old lines, not the lines: memory stays small for large versions.
    rows = old.rows.values_list("external_id", "line").iterator(chunk_size=ROW_CHUNK)
    before = {external_id: hash(line) for external_id, line in rows}
    added, changed, after_ids = [], [], set()
    for external_id, line in new.rows.values_list("external_id", "line").iterator(chunk_size=ROW_CHUNK):
        after_ids.add(external_id)
        if external_id not in before:
            added.append(external_id)
        elif before[external_id] != hash(line):
            changed.append(external_id)
    removed = sorted(set(before) - after_ids)
    return {"added": sorted(added), "removed": removed, "changed": sorted(changed)}
