"""What changed in a cycle week: the significant changes the close (and the hourly refresh) found, one row each.

Written by `services.changes.refresh_week_changes`, which replaces a week's rows; read by `selectors.changes`.
"""

from django.db import models

from .projects import Project


class ChangeKind(models.TextChoices):
    VOLUME = "volume", "Volume"
    THUMBS_DOWN_SHARE = "thumbs_down_share", "Thumbs-down share"
    COMMENT_SHARE = "comment_share", "Comment share"
    OUTPUT_LENGTH = "output_length", "Output length"
    METADATA_MEDIAN = "metadata_median", "Metadata median"
    SLICE_SHARE = "slice_share", "Slice share"
    SLICE_THUMBS_DOWN = "slice_thumbs_down", "Slice thumbs-down rate"
    SLICE_PASS_RATE = "slice_pass_rate", "Slice pass rate"
    NEW_SLICE = "new_slice", "New slice"
    VANISHED_SLICE = "vanished_slice", "Vanished slice"
    # A new slice has no rate of its own before: its rate is compared with all outputs' in the baseline weeks.
    NEW_SLICE_THUMBS_DOWN = "new_slice_thumbs_down", "New slice's thumbs-down rate"
    NEW_SLICE_PASS_RATE = "new_slice_pass_rate", "New slice's pass rate"


class ChangeDimension(models.TextChoices):
    OVERALL = "overall", "All outputs"
    EVENTS = "events", "All usage events"
    MODEL = "model", "Model"
    TAG = "tag", "Tag"
    METADATA = "metadata", "Metadata"
    EVENT = "event", "Event name"


class WeekChange(models.Model):
    """One significant change of a project's cycle week against the weeks before it (the baseline).

    The slice is `dimension` (+ `key` for a metadata key) = `value`: e.g. model = gpt-next, metadata topic =
    returns, event = return_started; `overall` and `events` have no value. Figures and counts by kind:
    proportions (shares, thumbs-down and comment shares, pass rates): `current` = current_count / current_total,
    `baseline` likewise over the pooled baseline weeks; volume: `current` the week's count and `baseline` the count
    expected from the baseline weeks' mean (over the same elapsed share while the week runs); medians: the medians
    of current_total and baseline_total values. `p_value` is the test's, `q_value` the Benjamini–Hochberg value
    over the `tests` comparisons tried for the week; `effect` = current − baseline, `relative` = effect / baseline.
    `rank` orders the week's changes, biggest first (0 is the first).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    week = models.DateField()
    rank = models.PositiveIntegerField()
    kind = models.CharField(max_length=32, choices=ChangeKind)
    dimension = models.CharField(max_length=16, choices=ChangeDimension)
    key = models.CharField(max_length=200, blank=True, default="")
    value = models.CharField(max_length=200, blank=True, default="")
    current = models.FloatField()
    baseline = models.FloatField()
    current_count = models.PositiveIntegerField()
    current_total = models.PositiveIntegerField()
    baseline_count = models.PositiveIntegerField()
    baseline_total = models.PositiveIntegerField()
    baseline_weeks = models.PositiveSmallIntegerField()
    partial = models.BooleanField(default=False, help_text="Computed while the week was still running.")
    test = models.CharField(max_length=32)
    statistic = models.FloatField()
    p_value = models.FloatField()
    q_value = models.FloatField()
    tests = models.PositiveIntegerField(help_text="Comparisons tried for the week (the BH family).")
    effect = models.FloatField()
    relative = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["week", "rank"]
        constraints = [models.UniqueConstraint(fields=["project", "week", "rank"], name="week_change_unique_rank")]

    def __str__(self) -> str:
        where = f"{self.dimension}:{self.key + '=' if self.key else ''}{self.value}"
        return f"{self.week} #{self.rank} {self.kind} {where}: {self.baseline:g} → {self.current:g}"


class ChangeWeekTally(models.Model):
    """A complete week's counts for "what changed", kept so that the weeks after it read them as a baseline week
    instead of aggregating its rows again (written and read by `services.change_tallies`).

    `tallies` holds every value of the week, uncapped (the caps are chosen over the pooled weeks, so a week's top
    values alone could not make them exact); a week with more values than that service keeps is stored
    `too_varied` (no tallies), and the weeks compared with it are counted live. `output_rows` / `output_hash` and
    `event_rows` / `event_hash` are the count and hash sum of the rows the tallies were counted from, read in the
    same statement: a week whose rows no longer give the same pair (late rows, late feedback, redaction) is
    counted again. The week is the instants `starts_at`..`ends_at`, so another calendar never matches.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    output_rows = models.BigIntegerField()
    output_hash = models.DecimalField(max_digits=40, decimal_places=0)
    event_rows = models.BigIntegerField()
    event_hash = models.DecimalField(max_digits=40, decimal_places=0)
    # The labeled pass rates' part: the verdict question's key it was counted for, and the count and hash sum of the
    # week's resolved items (their verdict entries and their outputs' slices), which change long after the week.
    verdict_key = models.CharField(max_length=40, blank=True, default="")
    verdict_rows = models.BigIntegerField(default=0)
    verdict_hash = models.DecimalField(max_digits=40, decimal_places=0, default=0)
    too_varied = models.BooleanField(default=False)
    tallies = models.JSONField(default=dict, blank=True)
    counted_at = models.DateTimeField()
    counted_because = models.CharField(max_length=100)  # why the week was (re)counted: first use, rows changed, …

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "starts_at"], name="change_week_tally_unique_week"),
        ]

    def __str__(self) -> str:
        return f"change tallies of project {self.project_id}, week from {self.starts_at:%Y-%m-%d %H:%M}"
