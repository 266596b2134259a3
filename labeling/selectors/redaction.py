"""Reads of a project's redaction rules."""

from django.db.models import QuerySet

from labeling.models import Project, RedactionRuleSet


def current_rule_set(project: Project) -> RedactionRuleSet | None:
    """The rule set in force: the highest version, or None when the project never had rules."""
    return RedactionRuleSet.objects.filter(project=project).order_by("-version").first()


def rule_set_history(project: Project, *, limit: int = 20) -> QuerySet[RedactionRuleSet]:
    return RedactionRuleSet.objects.filter(project=project).select_related("created_by").order_by("-version")[:limit]
