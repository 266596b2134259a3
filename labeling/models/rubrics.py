from django.conf import settings
from django.db import models

from .projects import Project


class QuestionKind(models.TextChoices):
    BINARY = "binary", "Pass / fail"
    RATING = "rating", "Rating on a scale"
    CHOICE = "choice", "One of several categories"
    MULTI_CHOICE = "multi_choice", "Any of several categories"
    TEXT = "text", "Free text (critique)"
    CORRECTION = "correction", "Corrected answer"


class RubricQuerySet(models.QuerySet):
    def current_for(self, project: Project) -> "Rubric | None":
        return self.filter(project=project).order_by("-version").first()


class Rubric(models.Model):
    """One published version of a project's rubric; never edited after publication.

    `questions` is a list of {key, kind, prompt, options, scale, required, help}, validated by
    `labeling.services.rubrics.validate_questions`. A label records the version it answered.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rubrics")
    version = models.PositiveIntegerField()
    questions = models.JSONField()
    guidelines = models.TextField(blank=True, help_text="Markdown shown beside the labeling form.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RubricQuerySet.as_manager()

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="rubric_unique_version"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="rubric_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.project} rubric v{self.version}"
