"""Store batches of outputs, usage events and late feedback sent by product apps.

A batch is all-or-nothing: it is validated whole (see `records.py`), then written in one transaction.
Re-sending is idempotent: an `external_id` already stored is never stored again; it counts as a
duplicate when its content hash matches, a conflict otherwise (the stored row stays as it was).

On PostgreSQL a batch is one `INSERT … SELECT FROM jsonb_array_elements(…) ON CONFLICT DO NOTHING
RETURNING` statement, its rows bound as one JSON document: one round trip, and the unique index decides
races between concurrent senders. Rows are inserted in `external_id` order so that two overlapping
batches take their index locks in the same order and cannot deadlock. Other databases (the SQLite demo)
take the portable ORM path.

Personal data is redacted by the project's rules (`redaction.py`) while the rows are built, before
anything is written. The content hash is of what was sent, so a re-send stays a duplicate even after
the rules change.
"""

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from operator import itemgetter
from typing import Any

import msgspec
import psycopg
from django.db import connection, models, transaction
from django.utils import timezone

from labeling.exceptions import BatchInvalid, NotFound
from labeling.models import Output, Project, UsageEvent
from labeling.rules.redaction import Redactor

from . import outbox
from . import records as rec
from .platform import record_ingest_errors
from .redaction import merge_counts, redactor_for

logger = logging.getLogger(__name__)


@dataclass
class IngestResult:
    created: int = 0
    duplicates: int = 0
    conflicts: int = 0
    conflict_ids: list[str] = field(default_factory=list)
    created_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "conflict_ids": self.conflict_ids,
        }


@dataclass
class FeedbackResult:
    updated: int = 0
    not_found: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"updated": self.updated, "not_found": self.not_found}


_OUTPUT_COLUMNS = [
    "external_id", "occurred_at", "end_user_id", "session_id", "model", "input", "output", "context",
    "metadata", "tags", "feedback_score", "feedback_comment", "feedback_at", "content_hash", "redaction_version",
]  # fmt: skip
_EVENT_COLUMNS = ["external_id", "end_user_id", "name", "occurred_at", "properties", "content_hash"]
_row_encoder = msgspec.json.Encoder()  # datetimes as RFC 3339, which timestamptz reads


def ingest_outputs(*, project: Project, body: bytes) -> IngestResult:
    """Validate and store a JSON batch `{"outputs": [...]}`; enqueue routing for the new rows on commit."""
    records = _decode(project, body, rec.OUTPUTS)
    now = timezone.now()
    redactor = redactor_for(project)  # compiled once per batch; None when the project has no rules
    to_row = partial(_output_row, now=now, redactor=redactor)
    with transaction.atomic():
        result = _store(Output, project, records, to_row, _OUTPUT_COLUMNS, received_at=now)
        if result.created_ids:
            _enqueue_routing(project.pk, result.created_ids)
    return result


def ingest_events(*, project: Project, body: bytes) -> IngestResult:
    """Validate and store a JSON batch `{"events": [...]}`; events with an `external_id` are idempotent."""
    records = _decode(project, body, rec.EVENTS)
    now = timezone.now()
    to_row = partial(_event_row, now=now, redactor=redactor_for(project))
    with transaction.atomic():
        return _store(UsageEvent, project, records, to_row, _EVENT_COLUMNS, received_at=now)


def record_feedback(*, project: Project, body: bytes) -> FeedbackResult:
    """Attach end-user feedback that arrived after its output; the last feedback sent wins."""
    records = _decode(project, body, rec.FEEDBACK)
    now = timezone.now()
    latest = {record.external_id: record for record in records}  # a later record in the batch wins
    redactor = redactor_for(project)
    with transaction.atomic():
        outputs = list(
            Output.objects.filter(project=project, external_id__in=latest)
            .locked_for_rewrite()
            .only("pk", "external_id", "metadata")
        )
        for output in outputs:
            record = latest[output.external_id]
            comment = record.comment
            if redactor is not None:
                # The output keeps the version it was stored with; the comment's counts join its own.
                counts = Counter()
                comment = redactor.redact_text(comment, counts)
                output.metadata = merge_counts(output.metadata, counts)
            output.feedback_score, output.feedback_comment, output.feedback_at = record.score, comment, now
        changed = ["feedback_score", "feedback_comment", "feedback_at"] + (["metadata"] if redactor else [])
        Output.objects.bulk_update(outputs, changed, batch_size=500)
        if outputs:
            # Feedback can change which queues an output belongs in (a "thumbs-down" queue).
            _enqueue_routing(project.pk, [output.pk for output in outputs], reevaluate=True)
    found = {output.external_id for output in outputs}
    return FeedbackResult(updated=len(found), not_found=sorted(set(latest) - found))


def _decode(project: Project, body: bytes, kind) -> list:
    """`records.decode_batch`, counting a refused batch's bad records for the platform page (a body refused
    whole, whose records cannot be told apart, counts as one)."""
    try:
        return rec.decode_batch(body, kind)
    except BatchInvalid as invalid:
        indexes = {error.index for error in invalid.errors}
        record_ingest_errors(project=project, count=len(indexes - {None}) or 1)
        raise


_HASH_AS_SENT = "hash_as_sent"  # a row's key besides its columns, read by _classify only


def _output_row(record: rec.OutputRecord, *, now: datetime, redactor: Redactor | None) -> dict[str, Any]:
    occurred_at = rec.utc(record.occurred_at, now)
    feedback = record.feedback
    metadata = record.metadata or {}
    tags = record.tags or []
    # The hash covers what the sender sent, with the time in UTC: re-sending with another offset
    # for the same instant is still a duplicate. An id sent as "" is stored as an absent one is (""), so both hash
    # as null: a re-send that swaps one for the other is a duplicate too.
    end_user_id, session_id, model = record.end_user_id, record.session_id, record.model
    moment = record.occurred_at and occurred_at.isoformat()
    content = (
        record.input,
        record.output,
        record.context,
        metadata,
        tags,
        feedback and [feedback.score, feedback.comment],
    )
    digest = rec.content_hash(
        record.external_id, moment, end_user_id or None, session_id or None, model or None, *content
    )
    as_sent = None
    if end_user_id == "" or session_id == "" or model == "":
        # Rows stored before "" hashed as null hashed it as sent: a re-send of such a row matches either hash.
        as_sent = rec.content_hash(record.external_id, moment, end_user_id, session_id, model, *content)
    texts = [record.input, record.output, record.context, metadata, feedback.comment if feedback else ""]
    version = None
    if redactor is not None:
        # Free text only: ids (external_id, end user, session, model, tags) and metadata keys stay as sent.
        counts = Counter()
        texts = [redactor.redact_value(value, counts) for value in texts]
        texts[3] = merge_counts(texts[3], counts)
        version = redactor.version
    return {
        "external_id": record.external_id,
        "occurred_at": occurred_at,
        "end_user_id": record.end_user_id or "",
        "session_id": record.session_id or "",
        "model": record.model or "",
        "input": texts[0],
        "output": texts[1],
        "context": texts[2],
        "metadata": texts[3],
        "tags": tags,
        "feedback_score": feedback.score if feedback else None,
        "feedback_comment": texts[4],
        "feedback_at": now if feedback else None,
        "content_hash": digest,
        "redaction_version": version,
        _HASH_AS_SENT: as_sent,
    }


def _event_row(record: rec.EventRecord, *, now: datetime, redactor: Redactor | None) -> dict[str, Any]:
    occurred_at = rec.utc(record.occurred_at, now)
    properties = record.properties or {}
    digest = rec.content_hash(
        record.external_id, record.occurred_at and occurred_at.isoformat(), record.end_user_id, record.name, properties
    )
    if redactor is not None:
        # Property values only; the event's name and the end user's id are ids.
        properties = redactor.redact_value(properties, Counter())
    return {
        "external_id": record.external_id,
        "end_user_id": record.end_user_id,
        "name": record.name,
        "occurred_at": occurred_at,
        "properties": properties,
        "content_hash": digest,
    }


def _store(model, project, records, to_row, columns, *, received_at) -> IngestResult:
    records = sorted(records, key=lambda record: record.external_id or "")
    if connection.vendor == "postgresql":
        rows, created = _insert_postgresql(model, project.pk, records, to_row, columns, received_at)
    else:
        rows = [to_row(record) for record in records]
        created = _insert_portable(model, project, rows, columns, received_at)
    return _classify(model, project, rows, created)


# Rows per INSERT statement. The statements of a batch are pipelined, so the server inserts one chunk
# while this process builds the next (hashes, redaction, JSON): Python and PostgreSQL work at the same time.
_CHUNK = 250


def _insert_postgresql(model, project_id, records, to_row, columns, received_at) -> tuple[list, list]:
    """Build and insert the rows of the sorted records; return the rows and the (id, external_id) created."""
    sql = _insert_sql(model, columns)
    pick = itemgetter(*columns)
    rows, cursors = [], []
    connection.ensure_connection()
    raw = connection.connection
    try:
        with raw.pipeline():  # leaving it waits for every statement's result (and raises the first error)
            # The project column has no foreign-key constraint: its check ran once per row at COMMIT (~5 ms
            # a batch). One lock per batch instead, the one that check takes, so the project cannot be
            # deleted while its batch is written; the key that sent the batch has already proved it exists.
            project_lock = psycopg.Cursor(raw)
            cursors.append(project_lock)
            project_lock.execute("SELECT 1 FROM labeling_project WHERE id = %b FOR KEY SHARE", [project_id])
            for start in range(0, len(records), _CHUNK):
                chunk = [to_row(record) for record in records[start : start + _CHUNK]]
                rows += chunk
                # The whole chunk goes as one JSON array of rows (one msgspec encode, in C); the server parses
                # it once and takes each column by position. Binding 15 arrays of values instead cost ~5 ms of
                # Python per 1,000 records (psycopg's array dumper and a JSON encode per value).
                document = _row_encoder.encode(list(map(pick, chunk))).decode()
                # A plain psycopg cursor binds parameters on the server (Django's inlines them into the SQL).
                cursor = psycopg.Cursor(raw)
                cursors.append(cursor)
                cursor.execute(sql, [project_id, received_at, document])
        if project_lock.fetchone() is None:
            raise NotFound("The project no longer exists.")
        return rows, [created for cursor in cursors[1:] for created in cursor.fetchall()]
    finally:
        for cursor in cursors:
            cursor.close()


def _insert_sql(model, columns) -> str:
    selects = []
    for position, name in enumerate(columns):
        model_field = model._meta.get_field(name)
        if isinstance(model_field, models.JSONField):
            selects.append(f"NULLIF(r -> {position}, 'null')")  # None is SQL NULL, as the ORM stores it
        else:
            selects.append(f"(r ->> {position})::{model_field.db_type(connection)}")
    conflict = "(project_id, external_id)"
    if model is UsageEvent:
        conflict += " WHERE external_id IS NOT NULL"
    return (
        f"INSERT INTO {model._meta.db_table} (project_id, received_at, {', '.join(columns)}) "
        f"SELECT %b, %b, {', '.join(selects)} FROM jsonb_array_elements(%b::jsonb) AS u(r) "
        f"ON CONFLICT {conflict} DO NOTHING RETURNING id, external_id"
    )


def _insert_portable(model, project, rows, columns, received_at) -> list[tuple[int, str | None]]:
    keyed = [row["external_id"] for row in rows if row["external_id"] is not None]
    existing = set(model.objects.filter(project=project, external_id__in=keyed).values_list("external_id", flat=True))
    fresh, seen = [], set()
    for row in rows:
        external_id = row["external_id"]
        if external_id is not None and (external_id in existing or external_id in seen):
            continue
        seen.add(external_id)
        fresh.append(model(project=project, received_at=received_at, **{name: row[name] for name in columns}))
    # SQLite serialises writers (IMMEDIATE transactions), so nothing can slip in between.
    created = model.objects.bulk_create(fresh, batch_size=500)
    return [(obj.pk, obj.external_id) for obj in created]


def _classify(model, project, rows, created) -> IngestResult:
    result = IngestResult(created=len(created), created_ids=[pk for pk, _ in created])
    created_keys = {external_id for _, external_id in created}
    # Count each created external_id once: a repeat inside the batch is then a duplicate or conflict.
    pending = [row for row in rows if row["external_id"] is not None]
    leftovers, first_seen = [], set()
    for row in pending:
        key = row["external_id"]
        if key in created_keys and key not in first_seen:
            first_seen.add(key)
        else:
            leftovers.append(row)
    if not leftovers:
        return result
    stored = dict(
        model.objects.filter(project=project, external_id__in={row["external_id"] for row in leftovers}).values_list(
            "external_id", "content_hash"
        )
    )
    for row in leftovers:
        if stored.get(row["external_id"]) in {row["content_hash"], row.get(_HASH_AS_SENT)} - {None}:
            result.duplicates += 1
        else:
            result.conflicts += 1
            result.conflict_ids.append(row["external_id"])
    return result


def _enqueue_routing(project_id: int, output_ids: list[int], *, reevaluate: bool = False) -> None:
    # One outbox row per batch, in the batch's transaction: a broker outage never turns a committed batch
    # into a 500, and the routing waits in the database until the broker is back. Never run inline instead.
    outbox.enqueue(task="labeling.route_outputs", args=[project_id, output_ids, reevaluate])
