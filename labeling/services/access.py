"""Who may do what. Written once; web views, the API and tasks all ask here.

Anything a user may not see is reported as not found: the existence of another project's items is
not disclosed.
"""

from labeling.exceptions import NotFound
from labeling.models import Membership, Project, Queue, Role

LABELING_ROLES = (Role.EXPERT, Role.LEAD)
MANAGING_ROLES = (Role.LEAD, Role.ADMIN)


def check_member(user, project: Project, roles: tuple[str, ...] = tuple(Role.values)) -> Membership:
    """Return the user's membership in the project if it has one of the roles, else raise NotFound."""
    membership = (
        Membership.objects.filter(user_id=user.pk, project=project, role__in=roles).first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise NotFound("No such project.")
    return membership


def check_can_label(user, queue: Queue) -> None:
    """Experts and leads of the project label; a queue with eligible experts admits only them."""
    check_member(user, queue.project, LABELING_ROLES)
    if queue.eligible_experts.exists() and not queue.eligible_experts.filter(pk=user.pk).exists():
        raise NotFound("No such queue.")


def check_can_manage(user, project: Project) -> Membership:
    return check_member(user, project, MANAGING_ROLES)
