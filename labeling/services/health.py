"""Writes behind the operator's health view: the workers' heartbeats."""

from datetime import datetime

from django.utils import timezone

from labeling.models import WorkerHeartbeat


def record_heartbeat(*, hostname: str, now: datetime | None = None) -> None:
    """Record that the worker `hostname` is alive and consuming tasks."""
    WorkerHeartbeat.objects.update_or_create(hostname=hostname[:255], defaults={"seen_at": now or timezone.now()})
