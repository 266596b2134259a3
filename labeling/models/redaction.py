from django.conf import settings
from django.db import models

from .projects import Project


class RedactionRuleSet(models.Model):
    """One version of a project's redaction rules. Editing the rules adds a version; the highest is in force.

    `builtins` lists the built-in detectors switched on (`email`, `phone`, `card`, `iban`); `custom` is a list
    of `{"name", "pattern"}`; `phone_region` is the region assumed for phone numbers written without `+`.
    Each output records the version that redacted it (`Output.redaction_version`).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="redaction_rule_sets")
    version = models.PositiveIntegerField()
    builtins = models.JSONField(default=list, blank=True)
    custom = models.JSONField(default=list, blank=True)
    phone_region = models.CharField(max_length=3, default="US")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="redaction_rule_set_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} redaction v{self.version}"

    @property
    def is_empty(self) -> bool:
        return not self.builtins and not self.custom
