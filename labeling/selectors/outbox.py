"""What the pages say about work asked for through the outbox: waiting for the worker, or running."""

from dataclasses import dataclass
from datetime import datetime

from labeling.models import AuditEvent, OutboxMessage


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


def backfill_placed(message: OutboxMessage | None) -> int | None:
    """How many items a backfill asked for by this message placed, when its task has finished already (with no
    broker, the demo's eager Celery, it ran on commit of the request); None while it waits for a worker (two queries).
    """
    if message is None or not OutboxMessage.objects.filter(pk=message.pk, finished_at__isnull=False).exists():
        return None
    event = (
        AuditEvent.objects.filter(action="queue.backfilled", details__queue=message.args[0], at__gte=message.created_at)
        .order_by("-at")
        .values_list("details", flat=True)
        .first()
    )
    return event["placed"] if event else None
