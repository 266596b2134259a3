"""Reads behind the members page: every member with role, last activity and their labels on this week's items."""

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Max, OuterRef, Q, Subquery

from labeling.exceptions import NotFound
from labeling.models import Invitation, Label, Membership, Project, Queue
from labeling.rules.access import MANAGING_ROLES, QueueLabelers, queue_labelers
from labeling.selectors.management import row_count


@dataclass(frozen=True)
class MemberRow:
    membership: Membership
    labels_this_week: int
    last_active: datetime | None  # the later of the last sign-in and the last label in this project
    # The queues where this member is the only one who may label (named as the only eligible expert who may, or, in a
    # queue that names nobody, the only expert or lead of the project who may): removing them (or giving them a role
    # that does not label) leaves those queues with nobody.
    last_expert_of: tuple[str, ...] = ()

    @property
    def user(self):
        return self.membership.user


def project_members(project: Project, *, week: date) -> list[MemberRow]:
    """The project's members by role and username, with their labels on the week's items (`on_items_of_week`), last
    activity and the queues they are the last eligible expert of. Three queries, and one more for the names of the
    queues for every expert when only one member may label in the project."""
    labels = Label.objects.filter(item__project=project, expert=OuterRef("user_id")).order_by()
    members = (
        Membership.objects.filter(project=project)
        .select_related("user")
        .annotate(
            labels_this_week=row_count(labels.on_items_of_week(week)),
            last_label_at=Subquery(labels.values("expert").annotate(at=Max("created_at")).values("at")),
        )
        .order_by("role", "user__username")
    )
    labelers = queue_labelers(project.pk)
    last_of: dict[int, list[str]] = {}
    for named in labelers.named.values():
        if len(named.may_label) == 1:
            last_of.setdefault(named.may_label[0], []).append(named.queue_name)
    if len(labelers.everyone) == 1:
        last_of.setdefault(labelers.everyone[0], []).extend(_queues_for_every_expert(project))
    return [
        MemberRow(
            membership=member,
            labels_this_week=member.labels_this_week,
            last_active=max((at for at in (member.user.last_login, member.last_label_at) if at), default=None),
            last_expert_of=tuple(sorted(last_of.get(member.user_id, ()))),
        )
        for member in members
    ]


def queues_left_without_expert(project: Project, user_id: int, *, before: QueueLabelers) -> list[str]:
    """The names of the queues where the user could label `before` a change of their membership and nobody may now:
    they were its last eligible expert. Two queries, and one more when a queue for every expert is left so."""
    after = queue_labelers(project.pk)
    left = [
        named.queue_name
        for queue_id, named in after.named.items()
        if user_id in before.may_label(queue_id) and after.without_expert(queue_id)
    ]
    if user_id in before.everyone and not after.everyone:
        left.extend(_queues_for_every_expert(project))
    return sorted(left)


def _queues_for_every_expert(project: Project) -> list[str]:
    return list(Queue.objects.filter(project=project).for_every_expert().values_list("name", flat=True))


def manager_emails(project: Project) -> list[str]:
    """The e-mail addresses of the project's leads (and admins) who have one, sorted, each once: who is told."""
    return member_emails(project.pk, Q(role__in=MANAGING_ROLES))


def member_emails(project_id: int, who: Q) -> list[str]:
    """The e-mail addresses of the project's members `who` (a condition on their memberships) picks, sorted, each
    once: of active accounts only (`of_active_accounts`), and of those who have one."""
    members = Membership.objects.of_active_accounts().filter(who, project_id=project_id).exclude(user__email="")
    return sorted(set(members.values_list("user__email", flat=True)))


def membership_of_project(project: Project, membership_id: int) -> Membership:
    """One of the project's memberships; another project's is reported as not found."""
    membership = Membership.objects.select_related("user", "project").filter(project=project, pk=membership_id).first()
    if membership is None:
        raise NotFound("No such member.")
    return membership


def invitation_of_project(project: Project, invitation_id: int) -> Invitation:
    """One of the project's invitations; another project's is reported as not found."""
    invitation = Invitation.objects.select_related("project").filter(project=project, pk=invitation_id).first()
    if invitation is None:
        raise NotFound("No such invitation.")
    return invitation
