"""Stream every label of a range of cycle weeks as JSONL or CSV, for analysis, in memory that does not grow.

One line (or CSV row) per label, with `selectors.labels.EXPORT_FIELDS`: the output's external_id, the queue's
slug, the item's id, its cycle week (`2026-W47`), the annotator's pseudonym (the datasets'), the answers, the
rubric version answered, `labeled_at` (the last edit, ISO 8601), `seconds_spent`, and the item's gold answers
({question: {value, method}}; empty while undecided). In CSV, `answers` and `gold` are compact JSON text and
cells are escaped by `exports.csv_rows`, the writer of every export.

Like `exports`, these read and write nothing: this is the place that knows the export formats.
"""

from collections.abc import Iterator
from datetime import date

import msgspec

from labeling.models import Project
from labeling.selectors.labels import EXPORT_FIELDS, LABEL_CHUNK, labels_of_weeks

from .export_rows import batched
from .exports import csv_rows

FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
_JSON_FIELDS = ("answers", "gold")
_encoder = msgspec.json.Encoder(order="sorted")


def label_chunks(project: Project, *, first: date, last: date, format: str) -> Iterator[bytes]:
    """The labels of the weeks `first`…`last` in `format` (a key of FORMATS), as chunks of bytes."""
    rows = labels_of_weeks(project, first=first, last=last, chunk=LABEL_CHUNK)
    if format == "csv":
        return csv_rows(EXPORT_FIELDS, map(_flat, rows), chunk=LABEL_CHUNK)
    return batched((_encoder.encode(row).decode() + "\n" for row in rows), rows=LABEL_CHUNK)


def _flat(row: dict) -> dict:
    for name in _JSON_FIELDS:
        row[name] = _encoder.encode(row[name]).decode()
    return row
