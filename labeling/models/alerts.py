"""Alerts: what needs a lead's attention in a project's review loop (a failed close, a queue nobody labels, …).

Written by `services.alerts.evaluate_alerts` (hourly, and after each close), which opens an alert once per
condition, keeps it while the condition holds and resolves it when the condition clears; the rules are
`rules/alerts.py`.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .projects import Project


class AlertRule(models.TextChoices):
    CLOSE_FAILED = "close_failed", "The week's close failed"
    CLOSE_OVERDUE = "close_overdue", "The week's close is overdue"
    QUEUE_IDLE = "queue_idle", "A queue with work waiting gets no labels"
    QUOTA_MISSED = "quota_missed", "A queue missed its weekly quota"
    INGEST_STOPPED = "ingest_stopped", "No outputs arrive"
    THUMBS_DOWN_RISE = "thumbs_down_rise", "The thumbs-down share rose"


class AlertState(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class AlertQuerySet(models.QuerySet):
    def unresolved(self) -> "AlertQuerySet":
        """Open or acknowledged: the condition still held when last evaluated."""
        return self.exclude(state=AlertState.RESOLVED)


class Alert(models.Model):
    """One occurrence of a rule's condition in a project, about `key` (a week label such as "2026-W48", a queue's
    slug, or "" when the rule is about the whole project).

    At most one unresolved alert per (project, rule, key), by a partial unique constraint: an alert never repeats
    while it is open or acknowledged, even when two evaluations run at once. Once resolved, the same condition
    coming back opens a new alert. `title` and `detail` are plain text; `facts` the figures behind them.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alerts")
    rule = models.CharField(max_length=32, choices=AlertRule)
    key = models.CharField(max_length=200, blank=True, default="")
    state = models.CharField(max_length=16, choices=AlertState, default=AlertState.OPEN)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True, default="")
    facts = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "rule", "key"], condition=~Q(state="resolved"), name="alert_one_unresolved"
            ),
            models.CheckConstraint(
                condition=Q(state="resolved", resolved_at__isnull=False) | ~Q(state="resolved"),
                name="alert_resolved_has_time",
            ),
        ]
        indexes = [models.Index(fields=["project", "-opened_at"], name="alert_project_recent")]

    def __str__(self) -> str:
        return f"{self.rule} {self.key or '-'} of project {self.project_id} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state == AlertState.OPEN

    @property
    def is_resolved(self) -> bool:
        return self.state == AlertState.RESOLVED
