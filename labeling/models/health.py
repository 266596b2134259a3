"""What the operator's health view reads: each project's routing sweep and the workers' heartbeats.

Kept in the database, the source of truth, so /readyz can tell what happened while Redis is down.
"""

from django.db import models

from .projects import Project


class RoutingState(models.Model):
    """The routing sweep's last outcome for one project: when it last succeeded, and its failures since."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, primary_key=True, related_name="routing_state")
    succeeded_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    failures = models.PositiveIntegerField(default=0)  # sweeps in a row that failed for this project

    def __str__(self) -> str:
        return f"routing of {self.project_id}: {'failing' if self.failed_at else 'ok'}"


class WorkerHeartbeat(models.Model):
    """A Celery worker proved alive: it ran beat's heartbeat task (so broker, beat and worker all work)."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
