from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models

from .projects import Project

# Most items a queue places per cycle week: far above what experts can label, far inside the column.
WEEKLY_QUOTA_MAX = 1_000_000


class QueueQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)

    def for_every_expert(self):
        """The queues that name no eligible experts: every expert and lead of their project may label in them."""
        return self.filter(eligible_experts__isnull=True)


class Queue(models.Model):
    """A routing rule and the review queue it fills.

    `rule` is data, never ORM keyword arguments: {"tags_any": [...], "tags_all": [...],
    "metadata": {"key": value-or-list}, "models": [...], "feedback_scores": [...], "has_comment": bool,
    "text_any": ["phrase", ...]} (the answer holds one of the phrases, in any case: `rules.answer_text`),
    interpreted by the routing service. Sampling is deterministic: a hash of output and queue.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="queues")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    rule = models.JSONField(default=dict, blank=True)
    sample_rate = models.FloatField(default=1.0)
    weekly_quota = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(WEEKLY_QUOTA_MAX)], help_text="Empty means no quota."
    )
    overlap = models.PositiveSmallIntegerField(default=1, help_text="Labels wanted per item (1–10).")
    priority = models.SmallIntegerField(default=0, help_text="Higher is served first.")
    eligible_experts = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="eligible_queues", help_text="Empty means all experts."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When a lead last paused it (unticked Active; null: never, or paused since its creation) and last resumed it
    # (null: active since it was created). Paused, it handed out nothing: queue_idle counts its idle days from its
    # resumption, and quota_missed does not hold it to the quota of a week it was paused in.
    paused_at = models.DateTimeField(null=True, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)

    objects = QueueQuerySet.as_manager()

    class Meta:
        ordering = ["project", "-priority", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="queue_unique_slug"),
            models.CheckConstraint(condition=models.Q(overlap__gte=1, overlap__lte=10), name="queue_overlap_range"),
            models.CheckConstraint(
                condition=models.Q(sample_rate__gte=0, sample_rate__lte=1), name="queue_sample_rate_range"
            ),
            models.CheckConstraint(
                condition=models.Q(weekly_quota__lte=WEEKLY_QUOTA_MAX), name="queue_weekly_quota_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} · {self.name}"
