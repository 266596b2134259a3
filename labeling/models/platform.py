"""The platform team's rows: each project's usage per week and the records its ingest refused per day.

`ProjectWeek` is written by `services.platform.refresh_project_week` (hourly for the running week, at each close,
and by `manage.py refresh_usage` for past weeks), so the platform page and the usage export read one row per
project and week instead of the outputs themselves.
"""

from django.conf import settings
from django.db import models

from .projects import Project


class ProjectWeek(models.Model):
    """A project's cycle week in figures: what was ingested, stored and labeled.

    Outputs and events are those that occurred in the week (the calendar every other weekly figure uses);
    labels, expert time and active experts are those on the week's items (as `QueueWeek`). `storage_bytes` is
    what the week's output and event rows hold: the stored size (`pg_column_size`: compressed, or in TOAST) of each
    column of what was sent on PostgreSQL, their length on SQLite (an estimate); row headers and indexes aside.
    `ingest_errors` sums the week's `IngestErrorDay` rows.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    week = models.DateField()
    outputs = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)
    outputs_with_feedback = models.PositiveIntegerField(default=0)
    thumbs_down = models.PositiveIntegerField(default=0)
    labels = models.PositiveIntegerField(default=0)
    expert_seconds = models.PositiveBigIntegerField(default=0)
    experts_active = models.PositiveIntegerField(default=0)
    storage_bytes = models.PositiveBigIntegerField(default=0)
    ingest_errors = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["week", "project"]
        constraints = [models.UniqueConstraint(fields=["project", "week"], name="project_week_unique")]
        # The platform page and the usage export read a range of weeks for every project.
        indexes = [models.Index(fields=["week"], name="project_week_week")]

    def __str__(self) -> str:
        return f"{self.project_id} in {self.week}: {self.outputs} outputs"

    @property
    def thumbs_down_share(self) -> float | None:
        """Thumbs-down share of the rated outputs (as the "what changed" figures count it); None with none rated."""
        return self.thumbs_down / self.outputs_with_feedback if self.outputs_with_feedback else None


class IngestErrorDay(models.Model):
    """Records the project's ingest refused on one day (in the project's time zone): bad records of a REST batch,
    rejected OTLP spans. Upserted with `count = count + n`, so concurrent requests never lose one."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["day", "project"]
        constraints = [models.UniqueConstraint(fields=["project", "day"], name="ingest_error_day_unique")]

    def __str__(self) -> str:
        return f"{self.project_id} on {self.day}: {self.count} refused"


class OperatorToken(models.Model):
    """A secret an operator scripts the platform API with (`Authorization: Bearer elop_…`), acting as that user.

    Only a SHA-256 hash of the secret is kept; the secret is shown once. The user's operator permission is asked
    again on every request, so taking it away (or deactivating the user) stops every token of theirs at once.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operator_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)  # the public part, to find the row without scanning
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.user_id} · {self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
