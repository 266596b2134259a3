"""Failure themes: what a cycle week's failing outputs have in common, as the close and the hourly refresh found it
(`services.themes`). A recompute of a week replaces its rows."""

from django.db import models

from .outputs import Output
from .projects import Project


class FailureTheme(models.Model):
    """One theme of a week's failures (`rank` 1 is the biggest).

    `failures` counts the week's failing outputs; `themed` how many of them were grouped (all, up to
    `metrics.themes.MAX_DOCUMENTS`, else an evenly spread choice). `size` members of those, `share` = size /
    themed. `terms` are the theme's top terms, heaviest first; `example_output_ids` the members nearest its
    centre. Every member is a `FailureThemeOutput` row, so a filter opens them all and an erased output leaves.
    `inputs_sha256` fingerprints what the week's themes were made from (`services.themes`): a recompute from the same
    inputs keeps the rows as they are.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    week = models.DateField()
    rank = models.PositiveSmallIntegerField()
    terms = models.JSONField(default=list)
    size = models.PositiveIntegerField()
    share = models.FloatField()
    failures = models.PositiveIntegerField()
    themed = models.PositiveIntegerField()
    example_output_ids = models.JSONField(default=list)
    # db_default: the code before migration 0036, still running while a deploy rolls, inserts rows without it.
    inputs_sha256 = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        ordering = ["project", "week", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["project", "week", "rank"], name="failure_theme_unique_rank"),
            models.CheckConstraint(condition=models.Q(rank__gte=1), name="failure_theme_rank_from_one"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} {self.week} theme {self.rank}"


class FailureThemeOutput(models.Model):
    """An output in a failure theme."""

    theme = models.ForeignKey(FailureTheme, on_delete=models.CASCADE, related_name="members")
    output = models.ForeignKey(Output, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["theme", "output"], name="failure_theme_output_unique")]

    def __str__(self) -> str:
        return f"theme {self.theme_id}: output {self.output_id}"
