"""Metric rows: what a week's close computed, stored so reports, charts and the API read rows, not labels.

Every table is keyed by project and cycle week (`week` = the cycle's first day); a recompute of a
week replaces that week's rows. Retention cells are refreshed from each user's history at each close.
"""

from django.conf import settings
from django.db import models

from .projects import Project
from .queues import Queue


class QualityMetric(models.Model):
    """Quality of one question's gold answers for one queue and week.

    binary: `value` is the pass rate, [ci_low, ci_high] its Wilson 95% interval, `passes` of `n`.
    rating: `value` is the mean, [ci_low, ci_high] its Student-t 95% interval.
    choice / multi_choice: `shares` maps each option to {"count": n, "share": fraction of items}.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    week = models.DateField()
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="+")
    question = models.CharField(max_length=64)
    kind = models.CharField(max_length=16)
    n = models.PositiveIntegerField()
    passes = models.PositiveIntegerField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True)
    ci_low = models.FloatField(null=True, blank=True)
    ci_high = models.FloatField(null=True, blank=True)
    shares = models.JSONField(default=dict, blank=True)
    # How the rubric asked the question when the row was computed (rules.gold.asked_as: "rating 1-5"): figures of one
    # key asked otherwise (rescaled, other options) do not compare. "" on rows stored before it was recorded.
    scale = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["week", "queue", "question"]
        constraints = [
            models.UniqueConstraint(fields=["project", "week", "queue", "question"], name="quality_unique_cell")
        ]

    def __str__(self) -> str:
        return f"quality {self.week} {self.queue_id}:{self.question} = {self.value}"


class AgreementMetric(models.Model):
    """Inter-annotator agreement on one question in one week, over units with two or more labels.

    `alpha` is Krippendorff's alpha at `level` (nominal for binary/choice, ordinal for ratings);
    `alpha_interval` is the interval-level alpha, for ratings. `pairs` lists pairwise Cohen's kappa
    [{"a": user id, "b": user id, "kappa": k, "n": shared units}] (weighted for ratings).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    week = models.DateField()
    question = models.CharField(max_length=64)
    kind = models.CharField(max_length=16)
    level = models.CharField(max_length=16)
    units = models.PositiveIntegerField()
    labels = models.PositiveIntegerField()
    experts = models.PositiveIntegerField()
    alpha = models.FloatField(null=True, blank=True)
    alpha_interval = models.FloatField(null=True, blank=True)
    fleiss_kappa = models.FloatField(null=True, blank=True)
    cohen_kappa = models.FloatField(null=True, blank=True, help_text="Mean of the pairwise kappas.")
    pairs = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["week", "question"]
        constraints = [models.UniqueConstraint(fields=["project", "week", "question"], name="agreement_unique_cell")]

    def __str__(self) -> str:
        return f"agreement {self.week} {self.question}: alpha {self.alpha}"


def gold_items_of(gold_agreement: dict[str, dict]) -> int:
    """The items an expert's agreement with the gold stands on, from its counts per question ({"correct": {"agree",
    "compared"}, …}): those of the question compared most, as an expert answers each question of an item once."""
    return max((counts.get("compared", 0) for counts in gold_agreement.values()), default=0)


class ExpertWeek(models.Model):
    """One expert's week: labels, skips, median seconds per label, agreement with the gold answer.

    `gold_agreement` maps question → {"agree": n, "compared": m}; `gold_rate` is the total agree/compared.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    week = models.DateField()
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    labels = models.PositiveIntegerField(default=0)
    skips = models.PositiveIntegerField(default=0)
    flags = models.PositiveIntegerField(default=0)
    median_seconds = models.FloatField(null=True, blank=True)
    gold_rate = models.FloatField(null=True, blank=True)
    gold_agreement = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["week", "expert"]
        constraints = [models.UniqueConstraint(fields=["project", "week", "expert"], name="expert_week_unique")]

    def __str__(self) -> str:
        return f"expert {self.expert_id} in {self.week}: {self.labels} labels"

    @property
    def gold_compared(self) -> int:
        """Answers compared with a gold answer, over every question: what `gold_rate` is a share of."""
        return sum(counts.get("compared", 0) for counts in self.gold_agreement.values())

    @property
    def gold_items(self) -> int:
        """Items compared with a gold answer (`gold_items_of`), what says whether `gold_rate` stands on enough
        (`metrics.agreement.too_few_gold_items`)."""
        return gold_items_of(self.gold_agreement)


class QueueWeek(models.Model):
    """A queue's throughput in one week: items placed against the quota, labels, and what is left."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    week = models.DateField()
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="+")
    quota = models.PositiveIntegerField(null=True, blank=True)
    items = models.PositiveIntegerField(default=0)
    items_complete = models.PositiveIntegerField(default=0)
    labels_wanted = models.PositiveIntegerField(default=0)
    labels = models.PositiveIntegerField(default=0)
    backlog = models.PositiveIntegerField(default=0, help_text="Labels still wanted on the week's items.")
    median_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["week", "queue"]
        constraints = [models.UniqueConstraint(fields=["project", "week", "queue"], name="queue_week_unique")]

    def __str__(self) -> str:
        return f"queue {self.queue_id} in {self.week}: {self.labels} labels"


class RetentionSegment(models.TextChoices):
    ALL = "all", "All users"
    PASS = "pass", "Outputs labeled pass"
    FAIL = "fail", "Outputs labeled fail"


class RetentionCell(models.Model):
    """Weekly cohort retention: of `cohort_users` first active in `cohort_week`, how many were active
    in week `cohort_week + offset` (`active_on`) and in that week or any later one (`active_on_or_after`).
    `incomplete` marks a cell whose week has not ended yet."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    segment = models.CharField(max_length=8, choices=RetentionSegment)
    cohort_week = models.DateField()
    offset = models.PositiveSmallIntegerField()
    cohort_users = models.PositiveIntegerField()
    active_on = models.PositiveIntegerField()
    active_on_or_after = models.PositiveIntegerField()
    incomplete = models.BooleanField(default=False)

    class Meta:
        ordering = ["segment", "cohort_week", "offset"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "segment", "cohort_week", "offset"], name="retention_unique_cell"
            )
        ]

    def __str__(self) -> str:
        return f"retention {self.segment} {self.cohort_week}+{self.offset}: {self.active_on}/{self.cohort_users}"


class RetentionUser(models.Model):
    """One end user's retention history, kept so a refresh reads only recent activity (PostgreSQL only).

    `weeks` is a bit mask, little-endian bytes: bit i = active in the cycle week `first_week` + i weeks (the
    first is the user's cohort). `verdict` is their segment ("pass", "fail", or "" for none). Deleted with the
    end user on erasure; rebuilt from all activity whenever older activity changed (`labeling.services.retention`).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    end_user_id = models.CharField(max_length=200)
    first_week = models.DateField()
    weeks = models.BinaryField()
    verdict = models.CharField(max_length=4, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "end_user_id"], name="retention_user_unique")]

    def __str__(self) -> str:
        return f"retention user {self.end_user_id} from {self.first_week}"


class RetentionState(models.Model):
    """What the project's `RetentionUser` rows stand for: activity up to `now`, in the calendar and verdict
    question named here, with `old_rows` / `old_hash` the count and hash sum of the activity before `rescan_from`
    (which the next refresh checks unchanged instead of reading it again)."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, primary_key=True, related_name="+")
    now = models.DateTimeField()
    time_zone = models.CharField(max_length=64)
    cycle_weekday = models.PositiveSmallIntegerField()
    verdict_key = models.TextField(blank=True, default="")
    rescan_from = models.DateTimeField()
    old_rows = models.BigIntegerField()
    old_hash = models.DecimalField(max_digits=40, decimal_places=0)
    refreshed_at = models.DateTimeField()  # the clock at the refresh's start: gold answers changed since are rejudged
    last_refresh = models.CharField(max_length=100)  # "incremental", or "full: " and why
    rebuild_owed = models.CharField(max_length=100, blank=True, default="")  # why the next refresh must rebuild

    def __str__(self) -> str:
        return f"retention state of project {self.project_id}: {self.last_refresh}"
