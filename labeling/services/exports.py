"""Stream a ready dataset version as JSONL, CSV or Parquet, in memory that does not grow with its size.

Rows are read from the database with a server-side cursor, ROW_CHUNK at a time, in position order,
and each writer yields bytes as it goes:

- **JSONL** is the stored canonical lines, each followed by "\\n": the body's SHA-256 is the version's
  `sha256`. Nested fields (input, label, annotations, metadata, tags) are JSON objects and lists.
- **CSV** has the flat COLUMNS; the nested fields are JSON text (compact, keys sorted); a missing
  expected_output is an empty cell. A text cell that a spreadsheet would run as a formula (it starts
  with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`.
- **Parquet** has the same COLUMNS with the explicit `parquet_schema()`: strings, `rubric_version`
  int64, the two timestamps as timestamp[us, UTC], and the nested fields as JSON text, like CSV. It is
  written one row group of PARQUET_ROW_GROUP rows at a time.

These read rows and write nothing to the database: they are here beside the services because they are
the one place that knows the export formats.
"""

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import msgspec

from labeling.models import DatasetVersion

from .datasets import ROW_CHUNK

PARQUET_ROW_GROUP = 5000
FLUSH_BYTES = 256 * 1024
COLUMNS = (
    "id", "split", "output", "expected_output", "rubric_version", "model", "occurred_at", "labeled_at",
    "input", "label", "annotations", "metadata", "tags",
)  # fmt: skip
JSON_COLUMNS = ("input", "label", "annotations", "metadata", "tags")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_encoder = msgspec.json.Encoder(order="sorted")


def _lines(version: DatasetVersion) -> Iterator[str]:
    # iterator() streams through a server-side cursor on PostgreSQL: ROW_CHUNK rows in memory at a time.
    rows = version.rows.order_by("position").values_list("line", flat=True)
    return rows.iterator(chunk_size=ROW_CHUNK)


def batched(pieces: Iterable[str], *, rows: int = ROW_CHUNK, size: int = FLUSH_BYTES) -> Iterator[bytes]:
    """Join pieces into chunks of at most `rows` pieces, sooner when a chunk reaches `size` characters."""
    batch, length = [], 0
    for piece in pieces:
        batch.append(piece)
        length += len(piece)
        if len(batch) >= rows or length >= size:
            yield "".join(batch).encode()
            batch, length = [], 0
    if batch:
        yield "".join(batch).encode()


def jsonl_chunks(*, version: DatasetVersion) -> Iterator[bytes]:
    """The canonical JSONL: each stored line and a newline, in position order."""
    return batched(line + "\n" for line in _lines(version))


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
    return csv_rows(COLUMNS, map(flat_row, _lines(version)))


@cache
def parquet_schema():
    """The Parquet columns and their types (pyarrow is imported on first use: it is slow to load)."""
    import pyarrow as pa

    timestamp = pa.timestamp("us", tz="UTC")
    types = {
        "id": pa.string(), "split": pa.string(), "output": pa.string(), "expected_output": pa.string(),
        "rubric_version": pa.int64(), "model": pa.string(), "occurred_at": timestamp, "labeled_at": timestamp,
    }  # fmt: skip
    return pa.schema(
        [pa.field(column, types.get(column, pa.string()), nullable=column == "expected_output") for column in COLUMNS]
    )


class _Drain(io.RawIOBase):
    """A write-only file that keeps what was written until drained; tell() counts every byte ever written,
    which the Parquet writer needs for the offsets in its footer."""

    def __init__(self):
        super().__init__()
        self._chunks: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._written += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._written

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def parquet_chunks(*, version: DatasetVersion) -> Iterator[bytes]:
    """The version as Parquet, one row group of PARQUET_ROW_GROUP rows per write, drained after each."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    sink = _Drain()
    writer = pq.ParquetWriter(sink, schema)
    try:
        columns: dict[str, list] = {column: [] for column in COLUMNS}
        for count, line in enumerate(_lines(version), start=1):
            flat = flat_row(line)
            flat["occurred_at"], flat["labeled_at"] = _timestamp(flat["occurred_at"]), _timestamp(flat["labeled_at"])
            for column in COLUMNS:
                columns[column].append(flat[column])
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

    def etag(self, version: DatasetVersion) -> str:
        """A strong ETag: the version's checksum, which names its content, and the format."""
        return f'"{version.sha256}{self.etag_suffix}"'


FORMATS = {
    "jsonl": ExportFormat("jsonl", "application/x-ndjson", jsonl_chunks, ""),
    "csv": ExportFormat("csv", "text/csv; charset=utf-8", csv_chunks, "-csv"),
    "parquet": ExportFormat("parquet", "application/vnd.apache.parquet", parquet_chunks, "-parquet"),
}
