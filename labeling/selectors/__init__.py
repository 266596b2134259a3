"""Reads shared by the web UI, the API and tasks. Access rules are written here once."""

from django.db.models import Count, QuerySet

from labeling.models import Output, Project


def outputs_of_project(project: Project) -> QuerySet[Output]:
    return Output.objects.filter(project=project)


def projects_of_user(user) -> QuerySet[Project]:
    """Projects the user is a member of (staff see all), with their output counts."""
    projects = Project.objects.all() if user.is_staff else Project.objects.filter(memberships__user=user)
    return projects.annotate(output_count=Count("outputs", distinct=True)).order_by("slug")


def recent_outputs(project: Project, *, limit: int = 50) -> QuerySet[Output]:
    return outputs_of_project(project).order_by("-occurred_at", "-pk")[:limit]
