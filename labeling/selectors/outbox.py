"""What the pages say about work asked for through the outbox: waiting for the worker, or running."""

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Exists, OuterRef

from labeling.models import OutboxMessage, ReviewCycle, work_key


@dataclass(frozen=True)
class QueuedWork:
    requested_at: datetime
    sent: bool  # published to the broker; False while the broker is unreachable (the sweep sends it later)
    running: bool  # a worker has started it

    @property
    def waiting(self) -> bool:
        """Asked for, not yet taken by a worker: "queued, waiting for the worker"."""
        return not self.running


def _work(row: dict) -> QueuedWork:
    return QueuedWork(
        requested_at=row["created_at"], sent=row["published_at"] is not None, running=row["started_at"] is not None
    )


def queued_work(key: str) -> QueuedWork | None:
    """The newest unfinished request of the work with this dedupe key, if any (one query).

    Finished work (done or failed) is not shown here: the task's own rows say how it ended.
    """
    row = (
        OutboxMessage.objects.outstanding()
        .filter(dedupe_key=key)
        .order_by("-pk")
        .values("created_at", "published_at", "started_at")
        .first()
    )
    return _work(row) if row else None


def queued_backfills(queue_ids: list[int]) -> dict[int, QueuedWork]:
    """For each of these queues with an unfinished backfill, its newest one (one query)."""
    rows = (
        OutboxMessage.objects.outstanding()
        .filter(dedupe_key__startswith="backfill_queue:", task="labeling.backfill_queue", args__0__in=queue_ids)
        .order_by("pk")
        .values("args", "created_at", "published_at", "started_at")
    )
    return {row["args"][0]: _work(row) for row in rows} if queue_ids else {}


def last_refreshed_at(project_id: int, week: date) -> datetime | None:
    """When the week's figures were last recomputed: the newest refresh a worker finished, unless the week's cycle
    records a refresh failure since it started (its rows are then older). None when no finished refresh is kept
    (OUTBOX_KEEP_DAYS) or the last one failed. One query."""
    failed_since = ReviewCycle.objects.filter(
        project_id=project_id, week=week, failure_kind="refresh", failed_at__gte=OuterRef("started_at")
    )
    row = (
        OutboxMessage.objects.filter(
            dedupe_key=work_key("refresh_metrics", project_id, week.isoformat()), finished_at__isnull=False
        )
        .order_by("-finished_at")
        .annotate(failed=Exists(failed_since))
        .values("finished_at", "failed")
        .first()
    )
    return row["finished_at"] if row and not row["failed"] else None
