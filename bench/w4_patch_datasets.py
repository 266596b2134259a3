"""W4 experiment: the dataset build without model instances and bulk_create — same lines, same SHA-256.

    .venv/bin/python bench/w4_close.py --reuse --patch w4_patch_datasets

Imported by the close's child process before it runs (`--patch`), it replaces
`labeling.services.datasets._fill` with `fast_fill`, which selects the same items in the same order and
writes the same canonical lines, but:
  1. reads items and outputs as tuples (`values_list`), not Item/Output/Resolution instances;
  2. reads each chunk's labels as tuples and the project's rubrics once, instead of prefetching Label
     instances with a Rubric instance each (whose `questions` JSON is decoded once per label);
  3. computes each expert's pseudonym once per build, not once per label;
  4. writes each chunk with COPY instead of `bulk_create` (no DatasetRow instances, no text-format array
     parameters, no RETURNING);
  5. counts each item's labels with a correlated subquery (an index-only probe) instead of
     `annotate(Count)`, whose GROUP BY sorts the whole joined row set;
  6. reads the JSON columns as text (`::text`) and decodes them with msgspec instead of `json.loads`.
The bench checks the version's SHA-256 against the unpatched build (`figures.dataset_sha256`).
"""

import hashlib
from collections import Counter
from itertools import batched

import msgspec
from django.db import connection
from django.db.models import Count, F, OuterRef, Subquery, TextField
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from labeling.models import Dataset, DatasetRow, Item, ItemStatus, Label, ResolutionStatus, Rubric, VersionStatus
from labeling.services import datasets
from labeling.services.datasets import ROW_CHUNK, _encoder, _messages, _pseudonym, _Unchanged, split_of
from labeling.services.routing import cycle_week

ITEM_FIELDS = (
    "pk", "output__external_id", "input_text", "output_text", "metadata_text", "tags_text",
    "output__model", "output__occurred_at", "automatic_text", "adjudicated_text",
)  # fmt: skip
_decode = msgspec.json.decode


def _text(field: str) -> Cast:
    return Cast(F(field), output_field=TextField())


def _json(text: str | None):
    return None if text is None else _decode(text)


def selected_items(dataset: Dataset):
    """dataset_rows' selection and order, as tuples of ITEM_FIELDS."""
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
    label_count = Label.objects.filter(item=OuterRef("pk")).order_by().values("item").annotate(n=Count("pk"))
    return (
        items.annotate(
            label_count=Coalesce(Subquery(label_count.values("n")), 0),
            input_text=_text("output__input"),
            output_text=_text("output__output"),
            metadata_text=_text("output__metadata"),
            tags_text=_text("output__tags"),
            automatic_text=_text("resolution__automatic"),
            adjudicated_text=_text("resolution__adjudicated"),
        )
        .order_by("output__external_id", "-label_count", "pk")
        .values_list(*ITEM_FIELDS)
    )


def rows(dataset: Dataset):
    """The same dicts as datasets.dataset_rows, in the same order."""
    project_rubrics = Rubric.objects.filter(project_id=dataset.project_id).values_list("pk", "version", "questions")
    rubrics = {pk: (version, questions) for pk, version, questions in project_rubrics}
    pseudonyms: dict[int, str] = {}
    tags_any = set((dataset.filters or {}).get("tags_any") or [])
    keys = set(dataset.questions or [])
    seen = None
    for chunk in batched(selected_items(dataset).iterator(chunk_size=ROW_CHUNK), ROW_CHUNK):
        labels: dict[int, list[tuple]] = {}
        for item_id, expert_id, rubric_id, answers, updated_at in (
            Label.objects.filter(item_id__in=[row[0] for row in chunk])
            .order_by("pk")
            .annotate(answers_text=_text("answers"))
            .values_list("item_id", "expert_id", "rubric_id", "answers_text", "updated_at")
        ):
            labels.setdefault(item_id, []).append((expert_id, rubric_id, _decode(answers), updated_at))
        for row in chunk:
            item_id, external_id, model, occurred_at = row[0], row[1], row[6], row[7]
            input_, output, metadata, tags, automatic, adjudicated = map(_json, row[2:6] + row[8:10])
            if external_id == seen:
                continue
            seen = external_id
            if tags_any and not tags_any.intersection(tags or []):
                continue
            item_labels = labels.get(item_id, [])
            version, questions = max((rubrics[label[1]] for label in item_labels), key=lambda rubric: rubric[0])
            questions = [q for q in questions if not keys or q["key"] in keys]
            wanted = {q["key"] for q in questions}
            gold = {}
            if automatic is not None:
                entries = {**automatic, **(adjudicated or {})}
                gold = {
                    key: {"value": e["value"], "method": e["method"]} for key, e in entries.items() if key in wanted
                }
            correction_keys = [q["key"] for q in questions if q["kind"] == "correction"]
            expected = next(
                (gold[key]["value"] for key in correction_keys if key in gold and isinstance(gold[key]["value"], str)),
                None,
            )
            annotations = []
            for expert_id, rubric_id, answers, _ in item_labels:
                if expert_id not in pseudonyms:
                    pseudonyms[expert_id] = _pseudonym(dataset.project_id, expert_id)
                annotations.append(
                    {
                        "annotator": pseudonyms[expert_id],
                        "rubric_version": rubrics[rubric_id][0],
                        "answers": {key: value for key, value in answers.items() if key in wanted},
                    }
                )
            yield {
                "id": external_id,
                "split": split_of(external_id, dataset.splits),
                "input": _messages(input_),
                "output": output if isinstance(output, str) else _encoder.encode(output).decode(),
                "expected_output": expected,
                "label": gold,
                "annotations": annotations,
                "metadata": metadata or {},
                "tags": tags or [],
                "model": model,
                "rubric_version": version,
                "occurred_at": occurred_at.isoformat(),
                "labeled_at": max(label[3] for label in item_labels).isoformat(),
            }


def fast_fill(version) -> None:
    dataset = Dataset.objects.select_related("project").get(pk=version.dataset_id)
    DatasetRow.objects.filter(version=version).delete()
    digest, splits, rubric_versions, position = hashlib.sha256(), Counter(), set(), 0
    columns = "version_id, position, external_id, split, line"
    with connection.cursor() as cursor:
        for chunk in batched(rows(dataset), ROW_CHUNK):
            # One COPY per chunk: the connection is free between chunks for the next FETCH and labels query.
            with cursor.cursor.copy(f"COPY {DatasetRow._meta.db_table} ({columns}) FROM STDIN") as copy:
                for row in chunk:
                    line = _encoder.encode(row)
                    digest.update(line)
                    digest.update(b"\n")
                    splits[row["split"]] += 1
                    rubric_versions.add(row["rubric_version"])
                    copy.write_row((version.pk, position, row["id"], row["split"], line.decode()))
                    position += 1
    checksum = digest.hexdigest()
    previous = dataset.versions.ready().order_by("-number").first()
    if previous and previous.sha256 == checksum:
        raise _Unchanged
    version.status, version.sha256, version.row_count = VersionStatus.READY, checksum, position
    version.split_counts, version.rubric_versions = dict(sorted(splits.items())), sorted(rubric_versions)
    version.cycle_week, version.built_at = cycle_week(dataset.project, timezone.now()), timezone.now()
    version.save()


datasets._fill = fast_fill
