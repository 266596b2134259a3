"""What a dataset row holds, and in which order the rows come: the key cursor (`selected_keys`), the row maker
(`RowMaker`), and the fingerprints that say when a row made earlier may be copied (`definition_fingerprint`, the
source digest of each key, `row_code`)."""

import hashlib
import inspect
from collections.abc import Iterable, Iterator
from functools import cache
from itertools import batched
from typing import Any

import msgspec
from django.db import connection
from django.db.models import Count, F, Func, StringAgg, TextField, Value
from django.db.models.functions import MD5, Cast, Coalesce

from labeling.models import Dataset, Item, ItemStatus, Label, Output, Resolution, ResolutionStatus, Rubric
from labeling.rules import gold as rules_gold
from labeling.rules.annotators import annotator_pseudonym as _pseudonym
from labeling.rules.dataset_filters import PYTHON_FILTERS, RowFilter

from ..export_rows import ROW_CHUNK

_encoder = msgspec.json.Encoder(order="sorted")


def split_of(external_id: str, splits: dict[str, int]) -> str:
    """The split an output belongs to, by a hash of its external_id alone: stable as the dataset grows."""
    bucket = int.from_bytes(hashlib.sha256(external_id.encode()).digest()[:8], "big") % 100
    for name, share in sorted(splits.items()):
        if bucket < share:
            return name
        bucket -= share
    return sorted(splits)[-1]


@cache
def row_code() -> str:
    """The SHA-256 of the code and encoder that shape a row: a deploy that changes them changes every
    definition, so its first build starts from scratch and no copied line keeps an old format.

    Computed once when the module is imported (see its end): `inspect.getsource` reads the file by the
    line numbers of the loaded code, which are wrong once the file has been edited under the process.
    """
    # Of the gold rule, only what a row holds: a new rule elsewhere in rules.gold changes no row.
    shaping = (
        selected_keys,
        _keys_postgresql,
        _keys_orm,
        RowMaker,
        _row,
        _asked,
        _messages,
        _content,
        _is_text_part,
        split_of,
        _pseudonym,
        rules_gold.gold_entries,
    )
    source = "".join(inspect.getsource(part) for part in shaping) + _KEYS_PG  # the keys' order is in its SQL
    return hashlib.sha256(f"{source}{_encoder.order}{msgspec.__version__}".encode()).hexdigest()


def definition_fingerprint(dataset: Dataset) -> str:
    """The SHA-256 of what decides a version's bytes besides each row's own sources (`selected_keys`).

    It covers the definition (project, queues, question keys, only_resolved, filters, splits), the server's
    secret (through an annotator pseudonym: a new SECRET_KEY renames every annotator), and the code and
    encoder that shape a row (`row_code`). Rubrics are left out: a published rubric is never edited, and a
    label's rubric is part of its row's source digest.
    """
    definition = {
        "code": row_code(),
        "project": dataset.project_id,
        "queues": sorted(dataset.queues.values_list("pk", flat=True)),
        "questions": sorted(set(dataset.questions or [])),
        "only_resolved": dataset.only_resolved,
        "filters": dataset.filters or {},
        "splits": dataset.splits,
        "annotators": _pseudonym(dataset.project_id, 0),
    }
    return hashlib.sha256(_encoder.encode(definition)).hexdigest()


# (external_id, split, JSONL line, rubric version, source digest, the rubric versions its labels answered): a row as
# it is stored.
type StoredRow = tuple[str, str, bytes, int, str, list[int]]


# Reading the selection as tuples (JSON columns as text, decoded by msgspec) rather than model instances
# keeps a 70,000-row build at a third of the time: see bench/README.md, "W4 weekly close".
_ITEM_FIELDS = (
    "pk", "input_text", "output_text", "metadata_text", "tags_text", "output__model", "output__occurred_at",
    "automatic_text", "adjudicated_text", "resolution__status",
)  # fmt: skip
_decode = msgspec.json.decode


def _as_text(field: str) -> Cast:
    return Cast(F(field), output_field=TextField())


def _json(text: str | None) -> Any:
    return None if text is None else _decode(text)


def _selected_items(dataset: Dataset):
    """The complete items the dataset takes, before the filters read in Python (`RowMaker`, by `RowFilter`)."""
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
    if filters.get("models"):
        items = items.filter(output__model__in=filters["models"])
    return items


def _as_key_text(*fields: str) -> list:
    """The fields as text, separated by "|" (a NULL is an empty field)."""
    parts = []
    for field in fields:
        parts += [Coalesce(_as_text(field), _text("")), _text("|")]
    return parts[:-1]


class _Joined(Func):
    """Text parts joined with `||` in one flat expression. Django's Concat nests a pair per part, which SQLite's
    parser (the demo) refuses past a few dozen levels ("parser stack overflow"). Every part here is text and never
    NULL (`_as_key_text` coalesces), so `||` and CONCAT agree."""

    arg_joiner = " || "
    template = "(%(expressions)s)"
    output_field = TextField()


def _text(value: str) -> Value:
    return Value(value, output_field=TextField())


def selected_keys(dataset: Dataset) -> Iterator[tuple[int, str, str]]:
    """(item pk, external_id, source digest) of each row, in canonical order: by external_id; of two items of
    one output (two queues), the one with the most labels speaks for it.

    The cursor selects and sorts keys only; the JSON columns are fetched per chunk by `RowMaker` (sorting
    items with their JSON made a sort on disk past ~70,000 rows). The source digest fingerprints what a
    row's bytes are made from besides the definition, read from keys and timestamps without the JSON:
      - the item (which of an output's items speaks for it) and its output; the output's redaction version
        (redaction rewrites input, output and metadata) and its feedback time (feedback under redaction
        rules adds counts to metadata); an output's other fields are never changed after ingest;
      - each label's id, expert (the annotator pseudonym), rubric (the rubric version and questions: a
        published rubric is never edited) and updated_at (set by every edit of its answers; labeled_at);
      - the resolution's updated_at (set by every write of its automatic or adjudicated answers).
    A digest that differs only ever costs a rebuilt row; one that stayed the same while the bytes changed
    would be a wrong copy, hence every writer of these sources sets one of the fields above.
    """
    if connection.vendor == "postgresql":
        keys = _keys_postgresql(dataset)
    else:
        keys = _keys_orm(dataset).iterator(chunk_size=ROW_CHUNK * 5)
    seen = None
    for key in keys:
        if key[1] != seen:  # the same output in two queues: the item with the most labels speaks for it
            seen = key[1]
            yield key


# On PostgreSQL the digest is two 64-bit hashes of the sources as stored (`hash_record_extended`), the labels' hashes
# XORed per item (a set: their order cannot matter), in hex: 32 characters, as the MD5 elsewhere. Hashing the
# sources' text instead (timestamps formatted, the labels' text aggregated and grouped by, then MD5) through a
# server-side cursor took 0.59 s for W4's 67,000 items and 79 ms for G's 8,300 at 104 weeks (bench/README.md). Each
# item's labels are aggregated in a LATERAL subquery, one probe of the label index per item. The project's labels
# grouped once and joined cost the same with fresh statistics (W4's 67,000 items: 0.43 s, this 0.42 s), but after a
# bulk import, with statistics that say the project has one item, PostgreSQL joined them in a nested loop that
# grouped every label again for each item (6,000 items: 12 s, against 36 ms). This statement is part of the code that
# shapes a row (`row_code`: it orders the rows), so a change to it makes the next build one from scratch.
_KEYS_PG = """
SELECT i.id, o.external_id,
       lpad(to_hex(hash_record_extended(ROW(i.id, i.output_id, o.redaction_version, o.feedback_at, r.updated_at), 0)),
            16, '0') || lpad(to_hex(coalesce(l.labels, 0)), 16, '0')
  FROM ({items}) AS i (id, output_id)
  JOIN {output} o ON o.id = i.output_id
  LEFT JOIN {resolution} r ON r.item_id = i.id
 CROSS JOIN LATERAL (
      SELECT count(*) AS n, bit_xor(hash_record_extended(ROW(id, expert_id, rubric_id, updated_at), 0)) AS labels
        FROM {label} WHERE item_id = i.id
  ) l
 ORDER BY o.external_id, l.n DESC, i.id
"""


def _keys_postgresql(dataset: Dataset) -> Iterator[tuple[int, str, str]]:
    items, params = _selected_items(dataset).order_by().values("pk", "output_id").query.sql_with_params()
    tables = {model.__name__.lower(): model._meta.db_table for model in (Item, Label, Output, Resolution)}
    # A client-side cursor: PostgreSQL runs no query of a server-side one in parallel (0.51 s against 0.37 s at W4's
    # size). libpq holds the result in one compact block (~130 bytes a key: a few MB for 67,000, ~130 MB for a
    # million); Python tuples are made a chunk at a time, and the connection is free for the row maker's queries.
    with connection.cursor() as cursor:
        cursor.execute(_KEYS_PG.format(items=items, **tables), params)
        while rows := cursor.fetchmany(ROW_CHUNK * 5):
            yield from rows


def _keys_orm(dataset: Dataset):
    """The keys with the digest as the MD5 of the sources' text (SQLite, the demo)."""
    # One pass over the labels, joined by item and grouped, rather than two correlated subqueries per item.
    # In label order where the database can say so. Without it (SQLite before 3.44) the order is the scan's: a
    # different order only changes the digest, which rebuilds the row, never copies a stale one.
    ordered = {"order_by": "labels__pk"} if connection.features.supports_aggregate_order_by_clause else {}
    label_fields = ("labels__pk", "labels__expert_id", "labels__rubric_id", "labels__updated_at")
    label_keys = StringAgg(_Joined(*_as_key_text(*label_fields)), _text(";"), **ordered)
    source = _Joined(
        *_as_key_text("pk", "output_id", "output__redaction_version", "output__feedback_at", "resolution__updated_at"),
        _text("|"),
        Coalesce(label_keys, _text("")),
    )
    return (
        _selected_items(dataset)
        .annotate(label_count=Count("labels"), source_digest=MD5(source))
        .order_by("output__external_id", "-label_count", "pk")
        .values_list("pk", "output__external_id", "source_digest")
    )


class RowMaker:
    """Builds the canonical rows of one dataset from keys, fetching their columns per chunk."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.rubrics = {
            pk: (version, questions)
            for pk, version, questions in Rubric.objects.filter(project_id=dataset.project_id).values_list(
                "pk", "version", "questions"
            )
        }
        self.pseudonyms: dict[int, str] = {}
        # Only the filters read per row in Python that are set: a dataset without them checks nothing per row.
        self.row_filters = {name: value for name, value in (dataset.filters or {}).items() if name in PYTHON_FILTERS}
        self.row_filter = RowFilter(self.row_filters) if self.row_filters else None
        self.keys = set(dataset.questions or [])
        # Each rubric version's asked keys once, not once per answer of every label (W4: ~1 s of 67,000 rows).
        self.asked = {pk: _asked(rubric, self.keys) for pk, rubric in self.rubrics.items()}

    def rows(self, keys: Iterable[tuple[int, str, str]]) -> Iterator[StoredRow]:
        """The stored form of the rows of these keys (in their order), less those the filters read in Python leave
        out (tags, metadata, text_any)."""
        for chunk in batched(keys, ROW_CHUNK):
            for key, row in self._rows_of_chunk(chunk):
                answered = sorted({annotation["rubric_version"] for annotation in row["annotations"]})
                yield row["id"], row["split"], _encoder.encode(row), row["rubric_version"], key[2], answered

    def _rows_of_chunk(self, chunk: tuple[tuple[int, str, str], ...]) -> Iterator[tuple[tuple, dict[str, Any]]]:
        item_ids = [item_id for item_id, _, _ in chunk]
        columns = {
            row[0]: row[1:]
            for row in Item.objects.filter(pk__in=item_ids)
            .annotate(
                input_text=_as_text("output__input"),
                output_text=_as_text("output__output"),
                metadata_text=_as_text("output__metadata"),
                tags_text=_as_text("output__tags"),
                automatic_text=_as_text("resolution__automatic"),
                adjudicated_text=_as_text("resolution__adjudicated"),
            )
            .values_list(*_ITEM_FIELDS)
        }
        labels: dict[int, list[tuple]] = {}
        for item_id, expert_id, rubric_id, answers, updated_at in (
            Label.objects.filter(item_id__in=item_ids)
            .order_by("pk")
            .annotate(answers_text=_as_text("answers"))
            .values_list("item_id", "expert_id", "rubric_id", "answers_text", "updated_at")
        ):
            labels.setdefault(item_id, []).append((expert_id, rubric_id, _decode(answers), updated_at))
        for key in chunk:
            item_id, external_id, _ = key
            *json_columns, model, occurred_at, automatic, adjudicated, gold_status = columns[item_id]
            input_, output, metadata, tags = map(_json, json_columns)
            if self.row_filter is not None and not self.row_filter.keeps(tags=tags, metadata=metadata, answer=output):
                continue
            for expert_id, *_ in labels[item_id]:
                if expert_id not in self.pseudonyms:
                    self.pseudonyms[expert_id] = _pseudonym(self.dataset.project_id, expert_id)
            yield (
                key,
                _row(
                    self.dataset,
                    keys=self.keys,
                    rubrics=self.rubrics,
                    asked=self.asked,
                    pseudonyms=self.pseudonyms,
                    labels=labels[item_id],
                    external_id=external_id,
                    input_=input_,
                    output=output,
                    metadata=metadata,
                    tags=tags,
                    model=model,
                    occurred_at=occurred_at,
                    gold_status=gold_status,
                    gold_entries=rules_gold.gold_entries(_json(automatic), _json(adjudicated))
                    if automatic is not None
                    else {},
                ),
            )


def _row(dataset: Dataset, *, keys, rubrics, asked, pseudonyms, labels, external_id, input_, output, metadata, tags,
         model, occurred_at, gold_status, gold_entries) -> dict[str, Any]:  # fmt: skip
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
        # Whether the gold is settled: "needs_adjudication" (a tie, or a lead sent it back) and null (not resolved
        # yet) rows keep their label for reading, but never become training examples (see eval_formats).
        "gold_status": gold_status,
        "label": gold,
        # Each label's answers to the questions its own rubric version asked (of those the dataset keeps), beside
        # that version: a label of v2 on an item another expert labeled on v3 keeps its answer to a question v3
        # dropped, as it would on a row of v2 labels alone, and never passes for an answer to v3's questions.
        "annotations": [
            {
                "annotator": pseudonyms[expert_id],
                "rubric_version": rubrics[rubric_id][0],
                "answers": {key: value for key, value in answers.items() if key in asked[rubric_id]},
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


def _asked(rubric: tuple[int, list[dict]], keys: set[str]) -> frozenset[str]:
    """The question keys a rubric version asked, of those the dataset keeps (`keys`; empty: all)."""
    return frozenset(q["key"] for q in rubric[1] if not keys or q["key"] in keys)


def _messages(value) -> list[dict[str, str]]:
    """The input as a list of {role, content} messages, whatever shape it was sent in (one type per field)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return [{"role": str(message.get("role", "")), "content": _content(message.get("content"))} for message in value]


def _content(value) -> str:
    """A message's content as one string: text as is, a list of text parts as their texts one per line, null as ""
    (an empty content, which the OpenAI formats leave out); a list with other parts (an image) stays whole as JSON
    text, which the OpenAI formats leave out too (see `eval_formats.openai_ready`)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(_is_text_part(part) for part in value):
        return "\n".join(part["text"] for part in value)
    return _encoder.encode(value).decode()


def _is_text_part(part) -> bool:
    return isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)


row_code()  # now, while the file on disk is the code this process runs
