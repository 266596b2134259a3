"""Define eval datasets and build their immutable, numbered versions.

A build runs in two steps. First, under the dataset's row lock, it claims a version number and marks
it `building` (at most one per dataset; a redelivered task finds it and carries on). Then, in one
transaction, it writes every row and the SHA-256 of the canonical JSONL, and flips the version to
`ready`: a killed worker rolls the whole step back, so a version is never seen ready before it is
complete. Rows whose sources did not change since the version before (same definition, same source
digest) are copied from it inside the database rather than built again; the bytes are those of a build
from scratch. When the rows hash to the same checksum as the last ready version, nothing changed: the
claimed number is released and no version is made. See README.md beside this file.
"""

import hashlib
import inspect
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import cache
from itertools import batched
from typing import Any

import msgspec
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, Func, Max, OuterRef, StringAgg, Sum, TextField, Value
from django.db.models.functions import MD5, Cast, Coalesce
from django.utils import timezone
from django.utils.text import slugify

from labeling.exceptions import DomainError, InvalidSpec
from labeling.models import (
    ApiKey,
    AuditEvent,
    Dataset,
    DatasetLine,
    DatasetRow,
    DatasetVersion,
    Item,
    ItemStatus,
    Label,
    Output,
    Project,
    Queue,
    Resolution,
    ResolutionStatus,
    Rubric,
    VersionStatus,
    work_key,
)
from labeling.rules import gold as rules_gold
from labeling.rules.annotators import annotator_pseudonym as _pseudonym
from labeling.rules.calendar import cycle_week
from labeling.selectors.rubrics import question_keys

from . import outbox, version_files, webhook_events
from .export_rows import ROW_CHUNK
from .queues import audit_actor
from .resolution import resolve_stale_items

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
def create_dataset(*, project: Project, spec: object, actor=None, api_key: ApiKey | None = None) -> Dataset:
    """Create a dataset definition; the slug is made from the name (only a-z, 0-9 and dashes). InvalidSpec names
    the field of each problem. `api_key`: the key that asked (a CI job's), kept in the audit event."""
    try:
        parsed = msgspec.convert(spec, DatasetSpec, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidSpec(f"Invalid dataset: {exc}") from None
    name = parsed.name.replace("\x00", "").strip()
    slug = slugify(name)[:64].strip("-")
    problems: list[tuple[str, str]] = []  # (field, problem)
    if not name or not slug:
        problems.append(("name", "A dataset needs a name with at least one letter or digit."))
    if slug and Dataset.objects.filter(project=project, slug=slug).exists():
        problems.append(("name", _name_taken(slug)))
    if not parsed.splits or any(share <= 0 for share in parsed.splits.values()) or sum(parsed.splits.values()) != 100:
        problems.append(
            ("splits", "Split shares must be positive whole numbers adding up to 100, e.g. train 80, test 20.")
        )
    if any(not slugify(split) or slugify(split) != split for split in parsed.splits):
        problems.append(("splits", "Split names are lowercase letters, digits and dashes."))
    queues = list(Queue.objects.filter(project=project, slug__in=parsed.queues))
    missing = set(parsed.queues) - {queue.slug for queue in queues}
    if missing:
        problems.append(("queues", f"No such queue(s) in this project: {', '.join(sorted(missing))}."))
    unknown_questions = _unknown_question_keys(project, parsed.questions)
    if unknown_questions:
        problems.append(("questions", f"No such question in this project's rubric: {', '.join(unknown_questions)}."))
    if problems:
        messages = [problem for _, problem in problems]
        raise InvalidSpec("Invalid dataset: " + " ".join(messages), messages, [field for field, _ in problems])
    filters = {"tags_any": parsed.tags_any} if parsed.tags_any else {}
    if parsed.since:
        filters["since"] = parsed.since.isoformat()
    if parsed.until:
        filters["until"] = parsed.until.isoformat()
    try:
        # A savepoint: a create of the same name that committed since the check above breaks the unique slug.
        with transaction.atomic():
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
    except IntegrityError:
        if not Dataset.objects.filter(project=project, slug=slug).exists():
            raise
        raise InvalidSpec(f"Invalid dataset: {_name_taken(slug)}", [_name_taken(slug)], ["name"]) from None
    dataset.queues.set(queues)
    AuditEvent.objects.create(
        project=project,
        actor=audit_actor(actor),
        action="dataset.created",
        details={"dataset": dataset.pk, "slug": dataset.slug, "name": dataset.name, **_by_key(api_key)},
    )
    return dataset


def _unknown_question_keys(project: Project, keys: list[str]) -> list[str]:
    """The keys no version of the project's rubric has, in the order given (an older version's keys name the
    answers of rows labeled under it)."""
    if not keys:
        return []
    known = question_keys(project)
    return list(dict.fromkeys(key for key in keys if key not in known))


def _name_taken(slug: str) -> str:
    # The slug, not the name: two names can share one (case, spaces, punctuation, or the same first 64 characters).
    return (
        f"The dataset {slug!r} exists already: a name's slug (its letters and digits, lowercase, joined by dashes, "
        "64 at most) must differ from every other dataset's."
    )


def split_of(external_id: str, splits: dict[str, int]) -> str:
    """The split an output belongs to, by a hash of its external_id alone: stable as the dataset grows."""
    bucket = int.from_bytes(hashlib.sha256(external_id.encode()).digest()[:8], "big") % 100
    for name, share in sorted(splits.items()):
        if bucket < share:
            return name
        bucket -= share
    return sorted(splits)[-1]


@transaction.atomic
def request_build(*, dataset: Dataset, actor=None, full: bool = False, api_key: ApiKey | None = None) -> None:
    """Ask a worker to build a new version (through the outbox: sent once this transaction commits); `full`
    builds every row from scratch instead of copying the unchanged rows of the version before. `api_key`: the
    key that asked, kept in the audit event."""
    details = {"dataset": dataset.pk, "slug": dataset.slug, "name": dataset.name, **_by_key(api_key)}
    AuditEvent.objects.create(
        project_id=dataset.project_id,
        actor=audit_actor(actor),
        action="dataset.build_requested",
        details={**details, "full": True} if full else details,
    )
    Dataset.objects.filter(pk=dataset.pk).update(build_requested_at=timezone.now(), build_error="")
    outbox.enqueue(
        task="labeling.build_dataset",
        args=[dataset.pk],
        kwargs={"full": True} if full else None,
        # A full build asked while an incremental one waits is not the same work: it gets its own key.
        dedupe_key=work_key("build_dataset", dataset.pk, *(["full"] if full else [])),
    )


def _by_key(api_key: ApiKey | None) -> dict[str, str]:
    return {"api_key": api_key.prefix} if api_key else {}


class _Unchanged(Exception):
    """The selection hashes to the last version's checksum: roll the rows back."""


def build_version(*, dataset_id: int, full: bool = False) -> DatasetVersion | None:
    """Build the dataset's next version; None when nothing changed. Safe to run twice, or after a crash.

    The project's items whose gold a label edit made stale are resolved first, so no row's `label` and `gold_status`
    contradict the answers in its `annotations`; an item never resolved yet stays so (its row says so).

    The rows of the version before are copied where nothing they were made from changed (see `_fill`);
    `full=True` builds every row from scratch. Either way the bytes are the same.

    A full build that finds another build's version claimed waits for it to finish; if that build copied rows (an
    incremental one was in flight) or made nothing, the build from scratch asked for has not happened yet, so it
    claims the next number and makes it (a version from scratch that copied no row, `rows_copied == 0`, is one).
    """
    # Gold answers first: a label edited since its item was resolved waits for a task (or the weekly close) to resolve
    # it again, and a row made meanwhile would put the old gold beside the new answers.
    project_id = Dataset.objects.filter(pk=dataset_id).values_list("project_id", flat=True).first()
    if project_id is not None:
        resolve_stale_items(project_id=project_id, resolved_before_only=True)
    while True:
        version = _claim_build(dataset_id)
        if version is None:
            return None
        built, filled_here = _build_claimed(dataset_id, version, full=full)
        if filled_here or not full or _built_from_scratch(built):
            return built


def _built_from_scratch(version: DatasetVersion | None) -> bool:
    return version is not None and version.status == VersionStatus.READY and version.rows_copied == 0


def _build_claimed(dataset_id: int, version: DatasetVersion, *, full: bool) -> tuple[DatasetVersion | None, bool]:
    """Fill the claimed version unless a twin delivery or another build got there first: (the version or None
    when nothing changed, whether this call filled it)."""
    try:
        with transaction.atomic():
            version = DatasetVersion.objects.select_for_update(of=("self",)).filter(pk=version.pk).first()
            if version is None or version.status != VersionStatus.BUILDING:
                return version, False  # another build finished it, or found nothing had changed
            _fill(version, full=full)
    except _Unchanged:
        DatasetVersion.objects.filter(pk=version.pk, status=VersionStatus.BUILDING).delete()
        Dataset.objects.filter(pk=dataset_id).update(build_requested_at=None)
        return None, True
    except Exception as exc:
        DatasetVersion.objects.filter(pk=version.pk).update(status=VersionStatus.FAILED, built_at=timezone.now())
        Dataset.objects.filter(pk=dataset_id).update(build_requested_at=None, build_error=str(exc)[:2000])
        raise
    Dataset.objects.filter(pk=dataset_id).update(build_requested_at=None)
    return version, True


@transaction.atomic
def _claim_build(dataset_id: int) -> DatasetVersion | None:
    dataset = Dataset.objects.select_for_update(of=("self",)).filter(pk=dataset_id).first()
    if dataset is None:
        return None
    building = dataset.versions.filter(status=VersionStatus.BUILDING).first()
    if building:
        return building
    last = dataset.versions.aggregate(last=Max("number"))["last"] or 0
    return DatasetVersion.objects.create(dataset=dataset, number=last + 1, status=VersionStatus.BUILDING)


def _fill(version: DatasetVersion, *, full: bool) -> None:
    """Write the version's rows and figures: incrementally on top of the version before when it is ready and
    was built from the same definition, else (or with `full`) every row from scratch."""
    dataset = Dataset.objects.select_related("project").get(pk=version.dataset_id)
    delete_rows([version.pk])
    definition = definition_fingerprint(dataset)
    predecessor = dataset.versions.exclude(pk=version.pk).order_by("-number").first()
    incremental = (
        not full
        and predecessor is not None
        and predecessor.status == VersionStatus.READY
        and predecessor.definition_sha256 == definition
    )
    maker = _RowMaker(dataset)
    if incremental:
        written = _write_incremental(version, maker, predecessor)
    else:
        written = _write_rows(version, maker.rows(_selected_keys(dataset)))
    previous = dataset.versions.ready().order_by("-number").first()
    if previous and previous.sha256 == written["sha256"]:
        raise _Unchanged
    for name, value in written.items():
        setattr(version, name, value)
    version.status, version.definition_sha256 = VersionStatus.READY, definition
    version.cycle_week, version.built_at = cycle_week(dataset.project, timezone.now()), timezone.now()
    version.save()
    version.dataset = dataset
    _became_ready(version)


def _became_ready(version: DatasetVersion) -> None:
    """What follows a new ready version, built or copied without an erased end user's rows: the event, and the
    request for its files (Parquet, Hugging Face) rendered by a worker, in the version's transaction (sent once it is
    committed)."""
    webhook_events.dataset_version_ready(version)
    version_files.request_files(version=version)


@cache
def _row_code() -> str:
    """The SHA-256 of the code and encoder that shape a row: a deploy that changes them changes every
    definition, so its first build starts from scratch and no copied line keeps an old format.

    Computed once when the module is imported (see its end): `inspect.getsource` reads the file by the
    line numbers of the loaded code, which are wrong once the file has been edited under the process.
    """
    # Of the gold rule, only what a row holds: a new rule elsewhere in rules.gold changes no row.
    shaping = (
        _selected_keys,
        _keys_postgresql,
        _keys_orm,
        _RowMaker,
        _row,
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
    """The SHA-256 of what decides a version's bytes besides each row's own sources (`_selected_keys`).

    It covers the definition (project, queues, question keys, only_resolved, filters, splits), the server's
    secret (through an annotator pseudonym: a new SECRET_KEY renames every annotator), and the code and
    encoder that shape a row (`_row_code`). Rubrics are left out: a published rubric is never edited, and a
    label's rubric is part of its row's source digest.
    """
    definition = {
        "code": _row_code(),
        "project": dataset.project_id,
        "queues": sorted(dataset.queues.values_list("pk", flat=True)),
        "questions": sorted(set(dataset.questions or [])),
        "only_resolved": dataset.only_resolved,
        "filters": dataset.filters or {},
        "splits": dataset.splits,
        "annotators": _pseudonym(dataset.project_id, 0),
    }
    return hashlib.sha256(_encoder.encode(definition)).hexdigest()


@transaction.atomic
def copy_version_without(*, version: DatasetVersion, external_ids: set[str]) -> DatasetVersion:
    """Make the dataset's next version: a ready copy of `version`, in order, without the rows of these outputs.

    The caller holds the dataset's row lock, so no build claims the number meanwhile (erasure does). The copy
    keeps the definition fingerprint and the rows' source digests, so the next build can start from it, and
    points its rows at the lines `version`'s rows point at: nothing is written but the rows.
    """
    last = version.dataset.versions.order_by("-number").values_list("number", flat=True).first()
    successor = DatasetVersion.objects.create(
        dataset_id=version.dataset_id,
        number=last + 1,
        status=VersionStatus.READY,
        cycle_week=version.cycle_week,
        built_at=timezone.now(),
        definition_sha256=version.definition_sha256,
    )
    kept = DatasetRow.objects.filter(version=version).exclude(external_id__in=external_ids)
    table, columns = DatasetRow._meta.db_table, _ROW_COLUMNS
    sql, params = kept.values_list("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        # Positions renumbered in order from 0: the rows left keep their order.
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT %s, row_number() OVER (ORDER BY position) - 1, external_id, "
            f"split, line_id, octets, source_digest, rubric_version FROM {table} WHERE id IN ({sql})",
            [successor.pk, *params],
        )
    tally = _tally_of(successor.pk)
    written = _read_back(successor.pk, tally.rows.total(), tally)
    DatasetVersion.objects.filter(pk=successor.pk).update(**written, rows_copied=written["row_count"])
    successor.refresh_from_db()
    _became_ready(successor)
    return successor


def delete_rows(version_ids: list[int]) -> None:
    """Delete these versions' rows, and every line no other row points at: the lines only they held."""
    lines = list(DatasetRow.objects.filter(version_id__in=version_ids).values_list("line_id", flat=True).distinct())
    DatasetRow.objects.filter(version_id__in=version_ids).delete()
    for chunk in batched(lines, ROW_CHUNK * 5):
        DatasetLine.objects.filter(pk__in=chunk).exclude(
            Exists(DatasetRow.objects.filter(line_id=OuterRef("pk")))
        ).delete()


# (external_id, split, JSONL line, rubric version, source digest): a row as it is stored.
type StoredRow = tuple[str, str, bytes, int, str]


def _write_rows(version: DatasetVersion, rows: Iterable[StoredRow]) -> dict[str, Any]:
    """Store rows as the version's, each with a line of its own, in order, and return the fields of the version
    they decide: `sha256` (of the JSONL file), `row_count`, `split_counts`, `rubric_versions`.
    """
    digest, splits, rubric_versions, position = hashlib.sha256(), Counter(), set(), 0
    for chunk in batched(rows, ROW_CHUNK):
        stored = []
        for external_id, split, line, rubric_version, source_digest in chunk:
            digest.update(line)
            digest.update(b"\n")
            splits[split] += 1
            rubric_versions.add(rubric_version)
            stored.append((version.pk, position, external_id, split, line, source_digest, rubric_version))
            position += 1
        _copy_rows(version.dataset_id, stored)
    return _figures(digest.hexdigest(), position, splits, rubric_versions)


def _figures(sha256: str, row_count: int, splits: Counter, rubric_versions: set[int]) -> dict[str, Any]:
    return {
        "sha256": sha256,
        "row_count": row_count,
        "split_counts": dict(sorted(splits.items())),
        "rubric_versions": sorted(rubric_versions),
    }


def _write_incremental(version: DatasetVersion, maker: "_RowMaker", predecessor: DatasetVersion) -> dict[str, Any]:
    """Store the version's rows, copying each line of `predecessor` whose source digest is unchanged, and
    return the version's fields as `_write_rows` does, plus `rows_copied`.

    Rows are walked in canonical order; a row to copy extends the current run of consecutive positions, and runs
    are copied by `INSERT … SELECT` inside the database (`_CopyRuns`), pointing at the lines the predecessor's rows
    point at. Only new or changed rows are built (their columns fetched per chunk), each with a line of its own. The
    checksum is then computed from the stored rows in order, so it is that of the bytes stored: what a build from
    scratch hashes (see `_read_back`).
    """
    positions = dict(
        DatasetRow.objects.filter(version=predecessor)
        .exclude(source_digest="")
        .values_list("source_digest", "position")
        .iterator(chunk_size=ROW_CHUNK * 5)
    )
    runs = _CopyRuns(source_id=predecessor.pk, target_id=version.pk)
    position, tally = 0, _Tally()
    for chunk in batched(_selected_keys(maker.dataset), ROW_CHUNK):
        built = {row[0]: row for row in maker.rows(key for key in chunk if key[2] not in positions)}
        stored = []
        for _, external_id, digest in chunk:
            source = positions.get(digest)
            if source is not None:
                runs.add(source=source, target=position)
            elif external_id in built:  # else left out by the tags filter
                _, split, line, rubric_version, _ = built[external_id]
                tally.add(split, rubric_version, rows=1, octets=len(line))
                stored.append((version.pk, position, external_id, split, line, digest, rubric_version))
            else:
                continue
            position += 1
        _copy_rows(version.dataset_id, stored)
    if runs.copied == predecessor.row_count == position and runs.is_one_whole_copy():
        raise _Unchanged  # the very lines of the version before, in its order: nothing to write
    runs.flush()
    written = tally.merge(runs.tally) if runs.tally is not None else None  # the copies' rows: PostgreSQL only
    return {**_read_back(version.pk, position, written), "rows_copied": runs.copied}


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
        # What the copies stored, as their statements return it (PostgreSQL only): see `_read_back`.
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
        table, columns = DatasetRow._meta.db_table, _ROW_COLUMNS
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql" and self.pending:
                starts, stops, shifts = zip(*self.pending, strict=True)
                cursor.execute(
                    f"WITH copied AS (INSERT INTO {table} ({columns}) SELECT %s, old.position + run.shift, "
                    "old.external_id, old.split, old.line_id, old.octets, old.source_digest, old.rubric_version "
                    "FROM unnest(%s::integer[], %s::integer[], %s::integer[]) AS run (start, stop, shift) "
                    f"JOIN {table} old ON old.version_id = %s AND old.position >= run.start "
                    "AND old.position < run.stop RETURNING split, rubric_version, octets) "
                    "SELECT split, rubric_version, count(*), sum(octets) FROM copied GROUP BY split, rubric_version",
                    [self.target_id, list(starts), list(stops), list(shifts), self.source_id],
                )
                for split, rubric_version, rows, octets in cursor.fetchall():
                    self.tally.add(split, rubric_version, rows=rows, octets=octets)
            else:
                for start, stop, shift in self.pending:
                    cursor.execute(
                        f"INSERT INTO {table} ({columns}) SELECT %s, position + %s, external_id, split, line_id, "
                        f"octets, source_digest, rubric_version FROM {table} "
                        "WHERE version_id = %s AND position >= %s AND position < %s",
                        [self.target_id, shift, self.source_id, start, stop],
                    )
        self.pending = []


# Past this many bytes of JSONL (lines and newlines) a version's checksum is hashed in Python as its lines stream
# back: PostgreSQL hashes one bytea made by string_agg, and no bytea may pass 1 GB. Tests lower it.
CHECKSUM_IN_DATABASE_MAX_BYTES = 256 * 1024 * 1024


class _Tally:
    """The figures of rows as they are written: rows per (split, rubric version), and bytes of JSONL."""

    def __init__(self) -> None:
        self.rows: Counter[tuple[str, int | None]] = Counter()
        self.size = 0  # UTF-8 bytes of the lines and their newlines

    def add(self, split: str, rubric_version: int | None, *, rows: int, octets: int) -> None:
        self.rows[(split, rubric_version)] += rows
        self.size += octets + rows

    def merge(self, other: "_Tally") -> "_Tally":
        self.rows.update(other.rows)
        self.size += other.size
        return self


def _tally_of(version_id: int) -> _Tally:
    """The figures of a version's stored rows, read from the rows alone (not their lines)."""
    tally = _Tally()
    groups = (
        DatasetRow.objects.filter(version_id=version_id)
        .values_list("split", "rubric_version")
        .annotate(rows=Count("pk"), octets=Sum("octets"))
        .order_by()
    )
    for split, rubric_version, rows, octets in groups:
        tally.add(split, rubric_version, rows=rows, octets=octets)
    return tally


def _read_back(version_id: int, row_count: int, tally: _Tally | None = None) -> dict[str, Any]:
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
            return _figures(checksum, row_count, splits, {rubric_version for _, rubric_version in tally.rows})
    return _figures_streamed(version_id, row_count)


def _checksum_in_database(version_id: int, row_count: int) -> str | None:
    """The SHA-256 of the version's JSONL computed by PostgreSQL; None if the lines did not reach the hash in
    position order. The bytes hashed are those `_write_rows` hashes: each line's UTF-8 (the database's encoding)
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
        .values_list("split", "rubric_version", "line__text")
        .iterator(chunk_size=ROW_CHUNK * 5)
    )
    for split, rubric_version, line in rows:
        digest.update(line.encode())
        digest.update(b"\n")
        splits[split] += 1
        rubric_versions.add(rubric_version)
        seen += 1
    if seen != row_count:
        raise DomainError(f"The version holds {seen} rows where {row_count} were written.")
    return _figures(digest.hexdigest(), seen, splits, rubric_versions)


# The stored columns of a row, in the order the copies write them.
_ROW_COLUMNS = "version_id, position, external_id, split, line_id, octets, source_digest, rubric_version"


def _copy_rows(dataset_id: int, rows: list[tuple[int, int, str, str, bytes, str, int]]) -> None:
    """Store (version, position, external_id, split, UTF-8 line, source digest, rubric version) rows, each with a
    line of its own: COPY on PostgreSQL, INSERTs elsewhere.

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
            with cursor.cursor.copy(f"COPY {DatasetRow._meta.db_table} ({_ROW_COLUMNS}) FROM STDIN") as copy:
                for line_id, row in zip(line_ids, rows, strict=True):
                    version_id, position, external_id, split, line, source_digest, rubric_version = row
                    copy.write_row(
                        (version_id, position, external_id, split, line_id, len(line), source_digest, rubric_version)
                    )
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
        )
        for stored, (version_id, position, external_id, split, line, source_digest, rubric_version) in zip(
            lines, rows, strict=True
        )
    )


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
    """The complete items the dataset takes (before the tags filter, which reads each output's tags)."""
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


def _selected_keys(dataset: Dataset) -> Iterator[tuple[int, str, str]]:
    """(item pk, external_id, source digest) of each row, in canonical order: by external_id; of two items of
    one output (two queues), the one with the most labels speaks for it.

    The cursor selects and sorts keys only; the JSON columns are fetched per chunk by `_RowMaker` (sorting
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
# server-side cursor took 0.59 s for W4's 67,000 items and 79 ms for G's 8,300 at 104 weeks; this takes 0.37 s and
# 59 ms (bench/README.md). The labels are aggregated per item before the join: those of the project's items, a
# superset of the chosen ones that needs no second pass over them. This statement is part of the code that shapes a
# row (`_row_code`: it orders the rows), so a change to it makes the next build one from scratch.
_KEYS_PG = """
SELECT i.id, o.external_id,
       lpad(to_hex(hash_record_extended(ROW(i.id, i.output_id, o.redaction_version, o.feedback_at, r.updated_at), 0)),
            16, '0') || lpad(to_hex(coalesce(l.labels, 0)), 16, '0')
  FROM ({items}) AS i (id, output_id)
  JOIN {output} o ON o.id = i.output_id
  LEFT JOIN {resolution} r ON r.item_id = i.id
  LEFT JOIN (
      SELECT item_id, count(*) AS n,
             bit_xor(hash_record_extended(ROW(id, expert_id, rubric_id, updated_at), 0)) AS labels
        FROM {label} WHERE item_id IN (SELECT id FROM {item} WHERE project_id = %s)
       GROUP BY item_id
  ) l ON l.item_id = i.id
 ORDER BY o.external_id, coalesce(l.n, 0) DESC, i.id
"""


def _keys_postgresql(dataset: Dataset) -> Iterator[tuple[int, str, str]]:
    items, params = _selected_items(dataset).order_by().values("pk", "output_id").query.sql_with_params()
    tables = {model.__name__.lower(): model._meta.db_table for model in (Item, Label, Output, Resolution)}
    # A client-side cursor: PostgreSQL runs no query of a server-side one in parallel (0.51 s against 0.37 s at W4's
    # size). libpq holds the result in one compact block (~130 bytes a key: a few MB for 67,000, ~130 MB for a
    # million); Python tuples are made a chunk at a time, and the connection is free for the row maker's queries.
    with connection.cursor() as cursor:
        cursor.execute(_KEYS_PG.format(items=items, **tables), [*params, dataset.project_id])
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


class _RowMaker:
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
        self.tags_any = set((dataset.filters or {}).get("tags_any") or [])
        self.keys = set(dataset.questions or [])

    def rows(self, keys: Iterable[tuple[int, str, str]]) -> Iterator[StoredRow]:
        """The stored form of the rows of these keys (in their order), less those the tags filter leaves out."""
        for chunk in batched(keys, ROW_CHUNK):
            for key, row in self._rows_of_chunk(chunk):
                yield row["id"], row["split"], _encoder.encode(row), row["rubric_version"], key[2]

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
            if self.tags_any and not self.tags_any.intersection(tags or []):
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


def _row(dataset: Dataset, *, keys, rubrics, pseudonyms, labels, external_id, input_, output, metadata, tags, model,
         occurred_at, gold_status, gold_entries) -> dict[str, Any]:  # fmt: skip
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


def version_diff(*, old: DatasetVersion, new: DatasetVersion) -> dict[str, list[str]]:
    """External ids added, removed and changed between two versions of one dataset."""
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
    return {"added": sorted(after.keys() - before.keys()), "removed": sorted(before.keys() - after.keys()),
            "changed": sorted(changed)}  # fmt: skip


_row_code()  # now, while the file on disk is the code this process runs
