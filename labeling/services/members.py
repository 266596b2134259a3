"""Change a member's role or remove them from a project; a project always keeps at least one lead
whose account is active.

Access is checked per request from the Membership row (rules/access.py), so a removed member's next
request is refused without touching their sessions. Their labels stay (they are the project's data);
their leased slots in the project's queues are freed at once, so others can take that work now (also when
a role change leaves them a role that cannot label).
Queues that name them as an eligible expert keep the name: taking it out could leave a list empty,
and an empty list means "every expert".
"""

from django.db import transaction

from labeling.exceptions import Conflict, InvalidInput
from labeling.models import AuditEvent, Membership, Project, Role
from labeling.rules.access import LABELING_ROLES, MANAGING_ROLES, check_can_manage
from labeling.services.assignment import release_project_leases
from labeling.services.invitations import revoke_invitations_sent_by

LAST_LEAD = "{name} is the last lead of {project}: make someone else lead first, so the project keeps one."
# Said beside LAST_LEAD when the project lists other leads: the members page shows them, so say why they do not count.
LEADS_DEACTIVATED = " The other leads' accounts are deactivated: they cannot sign in to manage it."


@transaction.atomic
def change_role(*, membership: Membership, role: str, changed_by) -> Membership:
    """Give the member another role (audited with from/to); refuses to demote the project's last lead.

    A role that cannot label (engineer, admin) frees the slots they hold leased in the project's queues; a role
    that cannot manage (expert, engineer) revokes the pending invitations they sent in the project."""
    project = membership.project
    current = _lock(project, membership, acting=changed_by)
    if role not in Role.values:
        raise InvalidInput(f"Role must be one of {', '.join(Role.values)}.")
    if current.role == role:
        return current
    if current.role == Role.LEAD:
        _refuse_last_lead(project, current)
    Membership.objects.filter(pk=current.pk).update(role=role)
    name = current.user.get_username()
    details = {"user": name, "from": current.role, "to": role}
    if role not in LABELING_ROLES:
        # They may no longer label here: the items they hold go back now, not when their leases run out.
        details["leases_released"] = release_project_leases(expert=current.user, project=project)
    AuditEvent.objects.create(project=project, actor=changed_by, action="member.role_changed", details=details)
    if role not in MANAGING_ROLES:
        revoke_invitations_sent_by(
            project=project,
            sender=current.user,
            revoked_by=changed_by,
            reason=f"its sender {name} became {role} and no longer manages the project",
        )
    current.role = role
    return current


@transaction.atomic
def remove_member(*, membership: Membership, removed_by) -> int:
    """Take the member out of the project and free their leased slots in its queues; return how many.

    Their labels, skips and comments stay; the pending invitations they sent in the project are revoked.
    Refuses to remove the project's last lead.
    """
    project = membership.project
    current = _lock(project, membership, acting=removed_by)
    if current.role == Role.LEAD:
        _refuse_last_lead(project, current)
    released = release_project_leases(expert=current.user, project=project)
    current.delete()
    AuditEvent.objects.create(
        project=project,
        actor=removed_by,
        action="member.removed",
        details={"user": current.user.get_username(), "role": current.role, "leases_released": released},
    )
    revoke_invitations_sent_by(
        project=project,
        sender=current.user,
        revoked_by=removed_by,
        reason=f"its sender {current.user.get_username()} was removed from the project",
    )
    return released


def _lock(project: Project, membership: Membership, *, acting) -> Membership:
    """Lock the project, check that `acting` manages it (None: unchecked), and read the membership afresh."""
    # The project row lock serialises role changes and removals in a project: two leads demoting each
    # other at once would otherwise both see the other still lead and leave none. The manager check comes
    # after it, so it reads the role a concurrent demotion left: before the lock, a demoted lead acted once more.
    Project.objects.lock(project.pk)
    if acting is not None:
        check_can_manage(acting, project)
    current = Membership.objects.select_related("user").filter(pk=membership.pk, project=project).first()
    if current is None:
        raise Conflict("This person is no longer a member of the project.")
    return current


def _refuse_last_lead(project: Project, membership: Membership) -> None:
    # Only leads who can sign in count: a deactivated account (an operator cut that person off) manages nothing.
    other_leads = Membership.objects.filter(project=project, role=Role.LEAD).exclude(pk=membership.pk)
    if not other_leads.of_active_accounts().exists():
        message = LAST_LEAD.format(name=membership.user.get_username(), project=project.name)
        raise Conflict(message + (LEADS_DEACTIVATED if other_leads.exists() else ""))
