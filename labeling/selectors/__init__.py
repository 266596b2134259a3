"""Reads shared by the web UI, the API and tasks. Access rules are written here once."""

from django.db.models import Exists, OuterRef, QuerySet

from labeling.models import Membership, Output, Project, UsageEvent
from labeling.rules.access import operator_permission_held


def outputs_of_project(project: Project) -> QuerySet[Output]:
    return Output.objects.filter(project=project)


def end_user_is_known(project: Project, end_user_id: str) -> bool:
    """Whether an output or usage event of the project names the end user (as an erasure finds them)."""
    return (
        Output.objects.filter(project=project, end_user_id=end_user_id).exists()
        or UsageEvent.objects.filter(project=project, end_user_id=end_user_id).exists()
    )


def projects_of_user(user) -> QuerySet[Project]:
    """Projects the user is a member of (operators see all, `is_staff` alone does not), by slug."""
    if user.is_active and user.is_superuser:
        projects = Project.objects.all()
    else:
        member = Membership.objects.filter(project=OuterRef("pk"), user_id=user.pk)
        projects = Project.objects.filter(Exists(member) | operator_permission_held(user))
    return projects.order_by("slug")


def recent_outputs(project: Project, *, limit: int = 50) -> QuerySet[Output]:
    return outputs_of_project(project).order_by("-occurred_at", "-pk")[:limit]
