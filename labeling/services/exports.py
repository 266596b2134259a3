"""Stream a ready dataset version in any of its download formats, in memory that does not grow with its size.

Rows are read from the database with a server-side cursor, ROW_CHUNK at a time, in position order,
and each writer yields bytes as it goes:

- **JSONL** is the stored canonical lines, each followed by "\\n": the body's SHA-256 is the version's
  `sha256`. Nested fields (input, label, annotations, metadata, tags) are JSON objects and lists.
- **CSV** has the flat COLUMNS; the nested fields are JSON text (compact, keys sorted); a missing
  expected_output is an empty cell. A text cell that a spreadsheet would run as a formula (it starts
  with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`.
- **Parquet** has the same COLUMNS with the explicit `parquet_schema(shape)`: strings, `rubric_version`
  int64, the two timestamps as timestamp[us, UTC], and the nested fields as Arrow types: input
  `list<struct<role, content>>`, tags `list<string>`, label a struct with one field per question (a struct of
  `value`, typed by the question's kind, and `method`), annotations a list of structs whose `answers` is a struct
  per question the same way, an older label's answers typed by its own rubric version (see `export_rows.RowShape`).
  `metadata` stays JSON text: it is free-form per row (any keys, any value types), so no one Arrow type holds every
  row's; JSON text keeps it whole. It is written one row group of PARQUET_ROW_GROUP rows at a time.
- Parquet and `hf` are not streamed by a web request: a worker renders them once to a file (`version_files.py`),
  so no web process imports pyarrow.
- The eval formats (`openai-chat`, `openai-preference`, `openai-evals`, `langsmith`, `langfuse`, `braintrust`,
  `hf`) are in `eval_formats.py`.

These read rows and write nothing to the database: they are here beside the services because they are
the one place that knows the export formats.
"""

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from labeling.models import DatasetVersion

from . import eval_formats
from .export_rows import FLUSH_BYTES, ROW_CHUNK, Drain, RowShape, batched, stored_lines

PARQUET_ROW_GROUP = 2000  # nested values as Python dicts: a smaller group keeps the peak of memory low
COLUMNS = (
    "id", "split", "output", "expected_output", "gold_status", "rubric_version", "model", "occurred_at", "labeled_at",
    "input", "label", "annotations", "metadata", "tags",
)  # fmt: skip
JSON_COLUMNS = ("input", "label", "annotations", "metadata", "tags")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_encoder = msgspec.json.Encoder(order="sorted")


def jsonl_chunks(*, version: DatasetVersion) -> Iterator[bytes]:
    """The canonical JSONL: each stored line and a newline, in position order."""
    return batched(line + "\n" for line in stored_lines(version))


def flat_row(line: str) -> dict[str, Any]:
    """A stored line as flat columns: nested fields become compact JSON text."""
    row = msgspec.json.decode(line)
    flat = {column: row.get(column) for column in COLUMNS}
    for column in JSON_COLUMNS:
        flat[column] = _encoder.encode(flat[column]).decode()
    return flat


def escape_formula(value: Any) -> Any:
    """Text a spreadsheet would evaluate gets a leading `'`, so it is shown, never run."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_rows(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], *, chunk: int = ROW_CHUNK) -> Iterator[bytes]:
    """Flat rows as CSV with a header row, every cell formula-escaped, flushed every `chunk` rows (or
    FLUSH_BYTES): the one CSV writer of every export, so every export follows the same injection rule."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for count, row in enumerate(rows, start=1):
        writer.writerow([escape_formula(row[column]) for column in columns])
        if count % chunk == 0 or buffer.tell() >= FLUSH_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def csv_chunks(*, version: DatasetVersion) -> Iterator[bytes]:
    """The version as CSV with a header row, formula-escaped, flushed every ROW_CHUNK rows."""
    return csv_rows(COLUMNS, map(flat_row, stored_lines(version)))


def parquet_schema(shape: RowShape):
    """The Parquet columns and their types for a version of this shape (pyarrow is imported on first use)."""
    import pyarrow as pa

    timestamp = pa.timestamp("us", tz="UTC")
    types = {
        "id": pa.string(), "split": pa.string(), "output": pa.string(), "expected_output": pa.string(),
        "gold_status": pa.string(),
        "rubric_version": pa.int64(), "model": pa.string(), "occurred_at": timestamp, "labeled_at": timestamp,
        "metadata": pa.string(), **shape.arrow_types(),
    }  # fmt: skip
    nullable = {"expected_output", "gold_status", "label"}
    return pa.schema([pa.field(column, types[column], nullable=column in nullable) for column in COLUMNS])


def parquet_row(line: str, shape: RowShape) -> dict[str, Any]:
    """A stored line as Parquet values: nested fields typed by the shape, metadata as JSON text."""
    row = msgspec.json.decode(line)
    typed = {column: row.get(column) for column in COLUMNS}
    typed["occurred_at"], typed["labeled_at"] = _timestamp(row["occurred_at"]), _timestamp(row["labeled_at"])
    typed["label"] = shape.typed_label(row["label"], rubric_version=row["rubric_version"])
    typed["annotations"] = shape.typed_annotations(row["annotations"])
    typed["metadata"] = _encoder.encode(row["metadata"]).decode()
    return typed


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def parquet_chunks(*, version: DatasetVersion) -> Iterator[bytes]:
    """The version as Parquet, one row group of PARQUET_ROW_GROUP rows per write, drained after each."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    shape = RowShape.of(version)
    schema = parquet_schema(shape)
    sink = Drain()
    writer = pq.ParquetWriter(sink, schema)
    try:
        columns: dict[str, list] = {column: [] for column in COLUMNS}
        for count, line in enumerate(stored_lines(version), start=1):
            typed = parquet_row(line, shape)
            for column in COLUMNS:
                columns[column].append(typed[column])
            if count % PARQUET_ROW_GROUP == 0:
                writer.write_table(pa.Table.from_pydict(columns, schema=schema), row_group_size=PARQUET_ROW_GROUP)
                columns = {column: [] for column in COLUMNS}
                yield sink.drain()
        if columns["id"]:
            writer.write_table(pa.Table.from_pydict(columns, schema=schema), row_group_size=PARQUET_ROW_GROUP)
    finally:
        writer.close()
    yield sink.drain()


@dataclass(frozen=True)
class ExportFormat:
    extension: str
    content_type: str
    chunks: Any  # (*, version) -> Iterator[bytes]
    etag_suffix: str
    revision: int = 1
    # Rendered once to a file by a worker and served from it (`version_files.py`): the formats that need pyarrow.
    stored: bool = False
    # Which rows the format takes, when not every row (README, Downloads): an empty file's note says it.
    takes: str = ""

    def etag(self, version: DatasetVersion) -> str:
        """A strong ETag: the version's checksum, which names its stored rows, the format, and the format's revision,
        which names the code that derives the file from them (`.v<n>` from revision 2)."""
        revision = f".v{self.revision}" if self.revision > 1 else ""
        return f'"{version.sha256}{self.etag_suffix}{revision}"'


# A format's revision goes up whenever a deploy changes the bytes it makes from the same stored rows: a client that
# cached the old file by its ETag must not be answered 304. v2 of the eval formats and hf, v2 of CSV, v3 of Parquet:
# gold_status (a column; unsettled rows no longer trained on), text parts as text, hf's features.json and card. v3 of
# openai-chat: earlier assistant turns carry weight 0. v3 of hf: the card's "Questions" section. v4 of Parquet and
# hf: the typed fields of every rubric version the labels answered (an older label's answers no longer null).
EVAL_REVISION = 2
_OPENAI_VALID = ", and that OpenAI would take (see the README)"
TAKES = {
    "openai-chat": f"rows with an ideal answer (a settled passing output, or a correction){_OPENAI_VALID}",
    "openai-preference": (
        "settled rows whose verdict fails (or whose rubric has no verdict question) and whose correction differs "
        f"from the output{_OPENAI_VALID}"
    ),
    "openai-evals": f"rows with an ideal answer (a settled passing output, or a correction){_OPENAI_VALID}",
}
REVISIONS = {"openai-chat": 3, "hf": 4}
FORMATS = {
    "jsonl": ExportFormat("jsonl", "application/x-ndjson", jsonl_chunks, ""),  # the stored bytes themselves
    "csv": ExportFormat("csv", "text/csv; charset=utf-8", csv_chunks, "-csv", revision=2),
    # v2: nested fields became Arrow lists and structs (they were JSON text); v3: the gold_status column; v4: the
    # fields of older labels' rubric versions (`<key>@<kind>` for a key asked as another kind).
    "parquet": ExportFormat(
        "parquet", "application/vnd.apache.parquet", parquet_chunks, "-parquet", revision=4, stored=True
    ),
    **{
        name: ExportFormat(
            f"{name}.jsonl",
            "application/x-ndjson",
            chunks,
            f"-{name}",
            revision=REVISIONS.get(name, EVAL_REVISION),
            takes=TAKES.get(name, ""),
        )
        for name, chunks in eval_formats.JSONL_FORMATS.items()
    },
    "hf": ExportFormat(
        "hf.zip", "application/zip", eval_formats.hf_chunks, "-hf", revision=REVISIONS["hf"], stored=True
    ),
}
STORED_FORMATS = tuple(name for name, export in FORMATS.items() if export.stored)
