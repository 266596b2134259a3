"""Stream an explore filter's outputs as JSONL or CSV, in memory that does not grow with the result.

Outputs are read in the filter's order (newest first unless `sort` says otherwise) with a server-side cursor, `chunk`
rows at a time, and written as they come:

- **JSONL**: one JSON object per output with the COLUMNS, nested fields (input, output, context, metadata,
  tags) as JSON, `occurred_at` in ISO 8601 and `feedback_score` a number or null.
- **CSV**: the same columns; a nested value is compact JSON text (keys sorted), a text value stays text,
  a missing one is an empty cell. Cells are escaped by `exports.csv_rows`, the dataset exports' writer:
  a cell a spreadsheet would run as a formula gets a leading `'`.

Like `exports`, the streams read and write nothing: this is the place that knows the export formats. What is
written is the audit event `record_export` leaves: who exported which filter, as what (the file carries end
users' ids and comments).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
from django.db import transaction

from labeling.models import AuditEvent, Project
from labeling.rules.explore import ExploreFilter, filter_query
from labeling.rules.moments import utc_moment
from labeling.selectors.explore import filter_outputs, sorted_outputs

from .exports import batched, csv_rows
from .privacy import hold_erasures_off

COLUMNS = (
    "external_id", "occurred_at", "model", "end_user_id", "session_id", "input", "output", "context", "metadata",
    "tags", "feedback_score", "feedback_comment",
)  # fmt: skip
NESTED = ("input", "output", "context", "metadata", "tags")
# Rows per read: fewer than a dataset export's, since an output carries its whole conversation and context.
ROW_CHUNK = 500

_encoder = msgspec.json.Encoder(order="sorted")


def _outputs(project: Project, spec: ExploreFilter, chunk: int) -> Iterator[dict[str, Any]]:
    # Not a generator: the query is built now, so a bad filter (InvalidFilter) reaches the caller before the
    # response starts, never in the middle of a stream. Rows are read when the stream is.
    outputs = sorted_outputs(filter_outputs(project, spec), spec.sort).values(*COLUMNS)  # as the list shows them
    return map(_with_iso_time, outputs.iterator(chunk_size=chunk))


def _with_iso_time(row: dict[str, Any]) -> dict[str, Any]:
    row["occurred_at"] = utc_moment(row["occurred_at"])
    return row


def jsonl_chunks(project: Project, spec: ExploreFilter, *, chunk: int = ROW_CHUNK) -> Iterator[bytes]:
    """The filter's outputs as JSON lines, in its order."""
    rows = _outputs(project, spec, chunk)
    return batched((_encoder.encode(row).decode() + "\n" for row in rows), rows=chunk)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    for column in NESTED:
        value = row[column]
        row[column] = "" if value is None else value if isinstance(value, str) else _encoder.encode(value).decode()
    return row


def csv_chunks(project: Project, spec: ExploreFilter, *, chunk: int = ROW_CHUNK) -> Iterator[bytes]:
    """The filter's outputs as CSV with a header row, in its order, formula-escaped."""
    return csv_rows(COLUMNS, map(_flat, _outputs(project, spec, chunk)), chunk=chunk)


@dataclass(frozen=True)
class OutputExport:
    extension: str
    content_type: str
    chunks: Any  # (project, spec, *, chunk) -> Iterator[bytes]


FORMATS = {
    "jsonl": OutputExport("jsonl", "application/x-ndjson", jsonl_chunks),
    "csv": OutputExport("csv", "text/csv; charset=utf-8", csv_chunks),
}


@transaction.atomic
def record_export(*, project: Project, spec: ExploreFilter, fmt: str, actor=None) -> None:
    """Audit an export as it starts: `outputs.exported` with the format and the filter."""
    # An erasure running meanwhile waits for this event and scrubs the end user from its filter, or has committed
    # before (the export then finds none of theirs).
    hold_erasures_off(project.pk)
    AuditEvent.objects.create(
        project=project, actor=actor, action="outputs.exported", details={"format": fmt, "filter": filter_query(spec)}
    )
