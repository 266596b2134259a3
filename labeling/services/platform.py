"""The platform team's figures: each project's usage per week (`ProjectWeek`) and the records its ingest refused.

A week's row is recomputed whole from the outputs, events, labels and refusal counts of that week, one grouped
query per family of figures, so running it twice changes nothing. It is refreshed with the week's metrics: hourly
while the week runs (`cycles.refresh_metrics`) and once more at its close; `manage.py refresh_usage` fills in
the weeks before an install had the table.
"""

import logging
from datetime import date, datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Min, Sum
from django.utils import timezone

from labeling.models import IngestErrorDay, Label, Output, Project, ProjectWeek, UsageEvent
from labeling.rules.calendar import current_week, cycle_week, local_today, week_end, week_start

logger = logging.getLogger(__name__)

# The bytes a week's rows take: the stored size of each column holding what was sent. PostgreSQL: `pg_column_size`,
# the size as stored (compressed, or out of line in TOAST), read without decompressing it; a whole-row
# `pg_column_size(o.*)` would detoast every large value (~25x slower on outputs of a few KB). Row headers and indexes
# are left out. SQLite (the demo): the length of the same columns, an estimate.
OUTPUT_COLUMNS = (
    "external_id", "end_user_id", "session_id", "model", "input", "output", "context", "metadata", "tags",
    "feedback_comment", "content_hash",
)  # fmt: skip
EVENT_COLUMNS = ("external_id", "end_user_id", "name", "properties", "content_hash")


def _size(columns: tuple[str, ...]) -> str:
    size = "pg_column_size" if connection.vendor == "postgresql" else "LENGTH"
    return " + ".join(f"COALESCE({size}(o.{column}), 0)" for column in columns)


def refresh_project_week(*, project: Project, week: date, now: datetime | None = None) -> ProjectWeek:
    """Recompute and store the project's usage row for the cycle week (its first day)."""
    start, end = week_start(project, week), week_end(project, week)
    outputs, with_feedback, thumbs_down, output_bytes = _fetch_one(
        "SELECT COUNT(*), COUNT(o.feedback_score), COALESCE(SUM(CASE WHEN o.feedback_score = -1 THEN 1 END), 0), "
        f"COALESCE(SUM({_size(OUTPUT_COLUMNS)}), 0) FROM {Output._meta.db_table} o "
        "WHERE o.project_id = %s AND o.occurred_at >= %s AND o.occurred_at < %s",
        [project.pk, start, end],
    )
    events, event_bytes = _fetch_one(
        f"SELECT COUNT(*), COALESCE(SUM({_size(EVENT_COLUMNS)}), 0) FROM {UsageEvent._meta.db_table} o "
        "WHERE o.project_id = %s AND o.occurred_at >= %s AND o.occurred_at < %s",
        [project.pk, start, end],
    )
    labels = (
        Label.objects.filter(item__project=project)
        .on_items_of_week(week)
        .aggregate(labels=Count("pk"), seconds=Sum("seconds_spent", default=0), experts=Count("expert", distinct=True))
    )
    errors = IngestErrorDay.objects.filter(project=project, day__gte=week, day__lt=week + timedelta(days=7)).aggregate(
        total=Sum("count", default=0)
    )
    row, _ = ProjectWeek.objects.update_or_create(
        project=project,
        week=week,
        defaults={
            "outputs": outputs,
            "events": events,
            "outputs_with_feedback": with_feedback,
            "thumbs_down": thumbs_down,
            "labels": labels["labels"],
            "expert_seconds": labels["seconds"],
            "experts_active": labels["experts"],
            "storage_bytes": int(output_bytes) + int(event_bytes),
            "ingest_errors": errors["total"],
            "computed_at": now or timezone.now(),
        },
    )
    return row


def backfill_usage(*, projects, weeks: int, now: datetime | None = None) -> int:
    """Recompute the usage rows of each project's last `weeks` weeks (the running one included), none before the
    week it began (`_began`); return how many."""
    now = now or timezone.now()
    written = 0
    for project in projects:
        running, first = current_week(project, now), cycle_week(project, _began(project))
        for back in range(weeks):
            week = running - timedelta(days=7 * back)
            if week < first:  # the project did not exist: no row of zeros
                break
            refresh_project_week(project=project, week=week, now=now)
            written += 1
    return written


def _began(project: Project) -> datetime:
    """When the project began: its creation, or its earliest output or usage event if earlier (history sent with
    its past timestamps, as an import or the demo does, is usage of the weeks it occurred in)."""
    firsts = [
        model.objects.filter(project=project).aggregate(first=Min("occurred_at"))["first"]
        for model in (Output, UsageEvent)
    ]
    return min([project.created_at, *(first for first in firsts if first is not None)])


def record_ingest_errors(*, project: Project, count: int, now: datetime | None = None) -> None:
    """Add `count` refused records to the project's day (in its time zone). Never raises: a refusal is answered
    whether or not it could be counted."""
    if count <= 0:
        return
    day = local_today(project, now)
    table = IngestErrorDay._meta.db_table
    try:
        # A savepoint: inside a caller's transaction, a failed count must not break what the caller does next.
        with transaction.atomic(), connection.cursor() as cursor:
            # One statement: two requests counting at once both add (PostgreSQL and SQLite alike).
            cursor.execute(
                f"INSERT INTO {table} (project_id, day, count) VALUES (%s, %s, %s) "
                f"ON CONFLICT (project_id, day) DO UPDATE SET count = {table}.count + EXCLUDED.count",
                [project.pk, day, count],
            )
    except DatabaseError:
        logger.exception("could not count %s refused record(s) of %s", count, project.slug)


def _fetch_one(sql: str, params: list) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
