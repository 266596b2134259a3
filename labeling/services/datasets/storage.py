"""Rows as they are stored: written by COPY each with a line of its own (`write_rows`), copied from the version
before where their sources did not change (`write_incremental`), checksummed in order (`read_back`), deleted with
the lines only they held (`delete_rows`), and compared between two versions (`version_diff`)."""

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from itertools import batched
from typing import Any

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Sum

from labeling.exceptions import DomainError
from labeling.models import DatasetLine, DatasetRow, DatasetVersion
from labeling.rules.row_changes import row_changes

from ..export_rows import ROW_CHUNK
from .rows import RowMaker, StoredRow, selected_keys


class Unchanged(Exception):
    """The selection hashes to the last version's checksum: roll the rows back."""


def delete_rows(version_ids: list[int]) -> None:
    """Delete these versions' rows, and every line no other row points at: the lines only they held."""
    lines = list(DatasetRow.objects.filter(version_id__in=version_ids).values_list("line_id", flat=True).distinct())
    DatasetRow.objects.filter(version_id__in=version_ids).delete()
    for chunk in batched(lines, ROW_CHUNK * 5):
        DatasetLine.objects.filter(pk__in=chunk).exclude(
            Exists(DatasetRow.objects.filter(line_id=OuterRef("pk")))
        ).delete()


def write_rows(version: DatasetVersion, rows: Iterable[StoredRow]) -> dict[str, Any]:
    """Store rows as the version's, each with a line of its own, in order, and return the fields of the version
    they decide: `sha256` (of the JSONL file), `row_count`, `split_counts`, `rubric_versions` (every version the rows'
    labels answered).
    """
    digest, splits, rubric_versions, position = hashlib.sha256(), Counter(), set(), 0
    for chunk in batched(rows, ROW_CHUNK):
        stored = []
        for external_id, split, line, rubric_version, source_digest, answered in chunk:
            digest.update(line)
            digest.update(b"\n")
            splits[split] += 1
            rubric_versions.add(rubric_version)
            rubric_versions.update(answered)
            stored.append((version.pk, position, external_id, split, line, source_digest, rubric_version, answered))
            position += 1
        _copy_rows(version.dataset_id, stored)
    return _figures(digest.hexdigest(), position, splits, rubric_versions)


def _figures(sha256: str, row_count: int, splits: Counter, rubric_versions: set[int | None]) -> dict[str, Any]:
    return {
        "sha256": sha256,
        "row_count": row_count,
        "split_counts": dict(sorted(splits.items())),
        # A row stored before rows recorded their `rubric_version` (null, a line that named none) names no version.
        "rubric_versions": sorted(version for version in rubric_versions if version is not None),
    }


def write_incremental(version: DatasetVersion, maker: "RowMaker", predecessor: DatasetVersion) -> dict[str, Any]:
    """Store the version's rows, copying each line of `predecessor` whose source digest is unchanged, and
    return the version's fields as `write_rows` does, plus `rows_copied`.

    Rows are walked in canonical order; a row to copy extends the current run of consecutive positions, and runs
    are copied by `INSERT … SELECT` inside the database (`_CopyRuns`), pointing at the lines the predecessor's rows
    point at. Only new or changed rows are built (their columns fetched per chunk), each with a line of its own. The
    checksum is then computed from the stored rows in order, so it is that of the bytes stored: what a build from
    scratch hashes (see `read_back`).
    """
    # A row without `annotation_versions` (copied by a server older than the field, during a rolling deploy) or
    # `rubric_version` (stored before rows recorded it) is built again, not copied: a copy would carry the null on to
    # every later version, which would then leave out the rubric versions only it knows.
    positions = dict(
        DatasetRow.objects.filter(version=predecessor, annotation_versions__isnull=False, rubric_version__isnull=False)
        .exclude(source_digest="")
        .values_list("source_digest", "position")
        .iterator(chunk_size=ROW_CHUNK * 5)
    )
    runs = _CopyRuns(source_id=predecessor.pk, target_id=version.pk)
    position, tally = 0, _Tally()
    for chunk in batched(selected_keys(maker.dataset), ROW_CHUNK):
        built = {row[0]: row for row in maker.rows(key for key in chunk if key[2] not in positions)}
        stored = []
        for _, external_id, digest in chunk:
            source = positions.get(digest)
            if source is not None:
                runs.add(source=source, target=position)
            elif external_id in built:  # else left out by a filter read in Python
                _, split, line, rubric_version, _, answered = built[external_id]
                tally.add(split, rubric_version, rows=1, octets=len(line), answered=answered)
                stored.append((version.pk, position, external_id, split, line, digest, rubric_version, answered))
            else:
                continue
            position += 1
        _copy_rows(version.dataset_id, stored)
    if runs.copied == predecessor.row_count == position and runs.is_one_whole_copy():
        raise Unchanged  # the very lines of the version before, in its order: nothing to write
    runs.flush()
    written = tally.merge(runs.tally) if runs.tally is not None else None  # the copies' rows: PostgreSQL only
    return {**read_back(version.pk, position, written), "rows_copied": runs.copied}


class _CopyRuns:
    """Runs of consecutive lines copied from one version to another, copied inside the database.

    On PostgreSQL one `INSERT … SELECT` copies up to RUNS_PER_STATEMENT runs (joined to `unnest` of their
    bounds, each run an index range scan): with random external ids a week's new rows cut the lines into
    thousands of short runs, and a statement per run would cost a round trip each. Elsewhere, a statement
    per run.
    """

    RUNS_PER_STATEMENT = 500

    def __init__(self, *, source_id: int, target_id: int) -> None:
        self.source_id, self.target_id = source_id, target_id
        self.start = self.target = self.length = 0
        self.pending: list[tuple[int, int, int]] = []  # (first source position, end, shift to the target)
        self.copied = self.runs = 0
        # What the copies stored, as their statements return it (PostgreSQL only): see `read_back`.
        self.tally = _Tally() if connection.vendor == "postgresql" else None

    def add(self, *, source: int, target: int) -> None:
        if self.length and source == self.start + self.length and target == self.target + self.length:
            self.length += 1
        else:
            self._close_run()
            self.start, self.target, self.length = source, target, 1
        self.copied += 1

    def is_one_whole_copy(self) -> bool:
        """Nothing but one run from position 0 to position 0 (not written yet)."""
        return not self.runs and self.start == 0 and self.target == 0

    def flush(self) -> None:
        self._close_run()
        self._execute()

    def _close_run(self) -> None:
        if self.length:
            self.pending.append((self.start, self.start + self.length, self.target - self.start))
            self.runs += 1
            self.length = 0
        if len(self.pending) >= self.RUNS_PER_STATEMENT:
            self._execute()

    def _execute(self) -> None:
        table, columns = DatasetRow._meta.db_table, ROW_COLUMNS
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql" and self.pending:
                starts, stops, shifts = zip(*self.pending, strict=True)
                cursor.execute(
                    f"WITH copied AS (INSERT INTO {table} ({columns}) SELECT %s, old.position + run.shift, "
                    "old.external_id, old.split, old.line_id, old.octets, old.source_digest, old.rubric_version, "
                    "old.annotation_versions "
                    "FROM unnest(%s::integer[], %s::integer[], %s::integer[]) AS run (start, stop, shift) "
                    f"JOIN {table} old ON old.version_id = %s AND old.position >= run.start "
                    "AND old.position < run.stop RETURNING split, rubric_version, octets, annotation_versions) "
                    "SELECT split, rubric_version, annotation_versions, count(*), sum(octets) FROM copied "
                    "GROUP BY split, rubric_version, annotation_versions",
                    [self.target_id, list(starts), list(stops), list(shifts), self.source_id],
                )
                for split, rubric_version, answered, rows, octets in cursor.fetchall():
                    self.tally.add(split, rubric_version, rows=rows, octets=octets, answered=_numbers(answered))
            else:
                for start, stop, shift in self.pending:
                    cursor.execute(
                        f"INSERT INTO {table} ({columns}) SELECT %s, position + %s, external_id, split, line_id, "
                        f"octets, source_digest, rubric_version, annotation_versions FROM {table} "
                        "WHERE version_id = %s AND position >= %s AND position < %s",
                        [self.target_id, shift, self.source_id, start, stop],
                    )
        self.pending = []


# Past this many bytes of JSONL (lines and newlines) a version's checksum is hashed in Python as its lines stream
# back: PostgreSQL hashes one bytea made by string_agg, and no bytea may pass 1 GB. Tests lower it.
CHECKSUM_IN_DATABASE_MAX_BYTES = 256 * 1024 * 1024


def _numbers(value: Any) -> list[int]:
    """A row's `annotation_versions` as a raw cursor returns it (JSON text on PostgreSQL), or [] when not recorded."""
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or [])


class _Tally:
    """The figures of rows as they are written: rows per (split, rubric version), the rubric versions their labels
    answered, and bytes of JSONL."""

    def __init__(self) -> None:
        self.rows: Counter[tuple[str, int | None]] = Counter()
        self.answered: set[int] = set()
        self.size = 0  # UTF-8 bytes of the lines and their newlines

    def add(
        self, split: str, rubric_version: int | None, *, rows: int, octets: int, answered: Iterable[int] = ()
    ) -> None:
        self.rows[(split, rubric_version)] += rows
        self.answered.update(answered)
        self.size += octets + rows

    def merge(self, other: "_Tally") -> "_Tally":
        self.rows.update(other.rows)
        self.answered |= other.answered
        self.size += other.size
        return self


def tally_of(version_id: int) -> _Tally:
    """The figures of a version's stored rows, read from the rows alone (not their lines)."""
    tally = _Tally()
    groups = (
        DatasetRow.objects.filter(version_id=version_id)
        .values_list("split", "rubric_version", "annotation_versions")
        .annotate(rows=Count("pk"), octets=Sum("octets"))
        .order_by()
    )
    for split, rubric_version, answered, rows, octets in groups:
        tally.add(split, rubric_version, rows=rows, octets=octets, answered=_numbers(answered))
    return tally


def read_back(version_id: int, row_count: int, tally: _Tally | None = None) -> dict[str, Any]:
    """The version's figures, its checksum hashed from the stored rows in position order.

    On PostgreSQL, with the figures tallied as the rows were written (`tally`: COPY's rows and what the copies'
    INSERTs returned), the checksum is computed there in one scan, sparing Python every stored byte (0.7 s of a
    worker's CPU for W4's 100 MB version). Else, or past CHECKSUM_IN_DATABASE_MAX_BYTES, every figure is read back
    streamed.
    """
    if tally is not None and connection.vendor == "postgresql" and tally.size <= CHECKSUM_IN_DATABASE_MAX_BYTES:
        if tally.rows.total() != row_count:
            raise DomainError(f"{tally.rows.total()} rows were tallied where {row_count} were written.")
        checksum = _checksum_in_database(version_id, row_count)
        if checksum is not None:
            splits = Counter()
            for (split, _), rows in tally.rows.items():
                splits[split] += rows
            return _figures(checksum, row_count, splits, {version for _, version in tally.rows} | tally.answered)
    return _figures_streamed(version_id, row_count)


def _checksum_in_database(version_id: int, row_count: int) -> str | None:
    """The SHA-256 of the version's JSONL computed by PostgreSQL; None if the lines did not reach the hash in
    position order. The bytes hashed are those `write_rows` hashes: each line's UTF-8 (the database's encoding)
    and "\n"."""
    # Not `string_agg(… ORDER BY position)`: PostgreSQL 15 sorts an aggregate's ordered input itself, even when
    # the index delivers it in order (a 200 MB spill to disk for 100 MB of lines at work_mem 4 MB: 1.2-2 times
    # the time). The rows come from the index in order, each line probed by its primary key (LATERAL with OFFSET
    # 0, which PostgreSQL does not flatten into a join: a hash join would lose the order or sort 100 MB), and the
    # statement proves the order: the same aggregation also strings the positions together in the order the
    # lines reached the hash, which must be 0,1,…,n-1. (Not row_number(): its window keeps every line in a
    # tuplestore, which spills 100 MB to disk: 0.5-0.7 s against 0.34 s.)
    with connection.cursor() as cursor:
        # The planner prices 60,000 probes as random reads and would compile the statement (~0.2 s of JIT) for
        # what runs in ~0.3 s from cache. LOCAL: for the rest of the build's transaction only.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(
            "SELECT encode(sha256(coalesce(string_agg(convert_to(line.text, 'UTF8') || '\\x0a'::bytea, ''::bytea), "
            "''::bytea)), 'hex'), count(*), coalesce(md5(string_agg(ordered.position::text, ',')), '') "
            f"FROM (SELECT line_id, position FROM {DatasetRow._meta.db_table} WHERE version_id = %s "
            "ORDER BY position) AS ordered "
            f"CROSS JOIN LATERAL (SELECT text FROM {DatasetLine._meta.db_table} WHERE id = ordered.line_id OFFSET 0) "
            "AS line",
            [version_id],
        )
        checksum, hashed, arrival = cursor.fetchone()
    if hashed != row_count:
        raise DomainError(f"The version holds {hashed} rows where {row_count} were written.")
    in_order = hashlib.md5(",".join(map(str, range(row_count))).encode()).hexdigest() if row_count else ""
    return checksum if arrival == in_order else None


def _figures_streamed(version_id: int, row_count: int) -> dict[str, Any]:
    """The figures from the stored rows read in order, hashed in Python."""
    digest, splits, rubric_versions, seen = hashlib.sha256(), Counter(), set(), 0
    rows = (
        DatasetRow.objects.filter(version_id=version_id)
        .order_by("position")
        .values_list("split", "rubric_version", "annotation_versions", "line__text")
        .iterator(chunk_size=ROW_CHUNK * 5)
    )
    for split, rubric_version, answered, line in rows:
        digest.update(line.encode())
        digest.update(b"\n")
        splits[split] += 1
        rubric_versions.add(rubric_version)
        rubric_versions.update(_numbers(answered))
        seen += 1
    if seen != row_count:
        raise DomainError(f"The version holds {seen} rows where {row_count} were written.")
    return _figures(digest.hexdigest(), seen, splits, rubric_versions)


# The stored columns of a row, in the order the copies write them.
ROW_COLUMNS = (
    "version_id, position, external_id, split, line_id, octets, source_digest, rubric_version, annotation_versions"
)


def _copy_rows(dataset_id: int, rows: list[tuple[int, int, str, str, bytes, str, int, list[int]]]) -> None:
    """Store (version, position, external_id, split, UTF-8 line, source digest, rubric version, the rubric versions
    its labels answered) rows, each with a line of its own: COPY on PostgreSQL, INSERTs elsewhere.

    COPY runs inside the build's transaction, so a killed build still leaves nothing behind; it spares
    the ORM's instances and its text-quoted array parameters, which were half of a big build's time.
    """
    if not rows:
        return
    if connection.vendor == "postgresql":
        lines_table = DatasetLine._meta.db_table
        with connection.cursor() as cursor:
            # The lines' ids first, so that both tables are written by COPY (which returns no ids).
            cursor.execute(
                f"SELECT nextval(pg_get_serial_sequence('{lines_table}', 'id')) FROM generate_series(1, %s)",
                [len(rows)],
            )
            line_ids = [line_id for (line_id,) in cursor.fetchall()]
            with cursor.cursor.copy(f"COPY {lines_table} (id, dataset_id, text) FROM STDIN") as copy:
                for line_id, row in zip(line_ids, rows, strict=True):
                    copy.write_row((line_id, dataset_id, row[4].decode()))
            with cursor.cursor.copy(f"COPY {DatasetRow._meta.db_table} ({ROW_COLUMNS}) FROM STDIN") as copy:
                for line_id, row in zip(line_ids, rows, strict=True):
                    version_id, position, external_id, split, line, source_digest, rubric_version, answered = row
                    copy.write_row(
                        (version_id, position, external_id, split, line_id, len(line), source_digest, rubric_version,
                         json.dumps(answered))
                    )  # fmt: skip
        return
    lines = DatasetLine.objects.bulk_create(DatasetLine(dataset_id=dataset_id, text=row[4].decode()) for row in rows)
    DatasetRow.objects.bulk_create(
        DatasetRow(
            version_id=version_id,
            position=position,
            external_id=external_id,
            split=split,
            line=stored,
            octets=len(line),
            source_digest=source_digest,
            rubric_version=rubric_version,
            annotation_versions=answered,
        )
        for stored, (version_id, position, external_id, split, line, source_digest, rubric_version, answered) in zip(
            lines, rows, strict=True
        )
    )


def version_diff(
    *, old: DatasetVersion, new: DatasetVersion, details: int = 0, limit: int | None = None
) -> dict[str, Any]:
    """External ids added, removed and changed between two versions of one dataset.

    With `details`, also `changed_rows`: what changed in each of the first `details` changed rows (by id), by the one
    rule of `rules.row_changes`, and `changed_rows_left_out`: how many changed rows are past that bound. With `limit`,
    `added`, `removed` and `changed` each hold their first `limit` ids, and `added_left_out`, `removed_left_out` and
    `changed_left_out` count the rest.
    """
    if old.dataset_id != new.dataset_id:
        raise DomainError("Both versions must belong to the same dataset.")
    before = dict(old.rows.values_list("external_id", "line_id").iterator(chunk_size=ROW_CHUNK * 5))
    after = dict(new.rows.values_list("external_id", "line_id").iterator(chunk_size=ROW_CHUNK * 5))
    # A row that points at its predecessor's line is unchanged without reading it (most of a weekly version). Two
    # different lines may still hold the same bytes (a build from scratch writes every line anew): compared by text.
    other = [(key, before[key], line) for key, line in after.items() if key in before and before[key] != line]
    changed = []
    for chunk in batched(other, ROW_CHUNK):
        ids = {line for _, old_line, new_line in chunk for line in (old_line, new_line)}
        texts = dict(DatasetLine.objects.filter(pk__in=ids).values_list("pk", "text"))
        changed += [key for key, old_line, new_line in chunk if texts[old_line] != texts[new_line]]
    changed.sort()
    diff = {"added": sorted(after.keys() - before.keys()), "removed": sorted(before.keys() - after.keys()),
            "changed": changed}  # fmt: skip
    if details:
        diff["changed_rows"] = _changed_rows([(key, before[key], after[key]) for key in changed[:details]])
        diff["changed_rows_left_out"] = max(len(changed) - details, 0)
    if limit is not None:
        for name in ("added", "removed", "changed"):
            diff[f"{name}_left_out"] = max(len(diff[name]) - limit, 0)
            diff[name] = diff[name][:limit]
    return diff


def _changed_rows(pairs: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
    """Each changed row's id with what changed in it, from its two stored lines (a query per chunk of rows)."""
    entries = []
    for chunk in batched(pairs, ROW_CHUNK):
        ids = {line for _, old_line, new_line in chunk for line in (old_line, new_line)}
        texts = dict(DatasetLine.objects.filter(pk__in=ids).values_list("pk", "text"))
        entries += [
            {"id": key, **row_changes(json.loads(texts[old_line]), json.loads(texts[new_line]))}
            for key, old_line, new_line in chunk
        ]
    return entries
