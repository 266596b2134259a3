"""Saved explore views: a named filter state of the explore page, shared within a project."""

from django.conf import settings
from django.db import models

from .projects import Project


class SavedView(models.Model):
    """A named explore filter. `query` is the canonical query string of the filter (`rules.explore`),
    so opening the view is opening `/p/<slug>/explore/?<query>`."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=100)
    query = models.TextField(blank=True, max_length=4000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="saved_view_unique_name")]

    def __str__(self) -> str:
        return f"{self.project} · {self.name}"
