"""The lead's members page: members with role and activity, role changes, removal, invitations by email.

The project's leads and admins read the list (`read_project`, which lets an operator read it too, member or not,
changing nothing) and act on it (`lead_project`); anyone else sees a 404 (a member of another role with the reason).
Every action is a POST that calls one service and comes back to the page; a refusal re-renders the page with the
reason (4xx), and too many invitations in an hour is a 429 with Retry-After.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from labeling.exceptions import DomainError, TooManyRequests
from labeling.rules import calendar
from labeling.rules.access import (
    LEADS_ONLY,
    MANAGING_ROLES,
    QueueLabelers,
    lead_project,
    queue_labelers,
    read_project,
)
from labeling.rules.text import counted, isolated, noun
from labeling.selectors import members as member_selectors
from labeling.selectors.invitations import open_invitations
from labeling.services import invitations as invitation_services
from labeling.services import members as member_services

from .formatting import moment_in_words
from .member_forms import InviteForm, RoleForm


@login_required
@require_GET
def member_list(request, slug: str):
    project, membership = read_project(request.user, slug, MANAGING_ROLES, refusal=LEADS_ONLY)
    return _page(request, project, operator_view=membership is None)


@login_required
@require_POST
def member_invite(request, slug: str):
    project, _ = lead_project(request.user, slug, method=request.method)
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _page(request, project, invite_form=form, status=400)
    try:
        issued = invitation_services.invite_member(
            project=project, email=form.cleaned_data["email"], role=form.cleaned_data["role"], invited_by=request.user
        )
    except DomainError as exc:
        return _refused(request, project, exc, invite_form=form)
    invitation = issued.invitation
    messages.success(
        request,
        f"Invitation sent to {isolated(invitation.email)} as {invitation.get_role_display().lower()}; "
        f"the link works until {moment_in_words(invitation.expires_at, project.tzinfo)}.",
    )
    return redirect("labeling:members", slug=project.slug)


@login_required
@require_POST
def member_role(request, slug: str, membership_id: int):
    project, _ = lead_project(request.user, slug, method=request.method)
    membership = member_selectors.membership_of_project(project, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _page(request, project, error="Choose one of the roles.", status=400)
    before = queue_labelers(project.pk)
    try:
        changed = member_services.change_role(
            membership=membership, role=form.cleaned_data["role"], changed_by=request.user
        )
    except DomainError as exc:
        return _refused(request, project, exc)
    messages.success(request, f"{isolated(changed.user.username)} is now {changed.get_role_display().lower()}.")
    _tell_queues_without_expert(request, project, changed.user, before)
    return redirect("labeling:members", slug=project.slug)


@login_required
@require_POST
def member_remove(request, slug: str, membership_id: int):
    project, own = lead_project(request.user, slug, method=request.method)
    membership = member_selectors.membership_of_project(project, membership_id)
    before = queue_labelers(project.pk)
    try:
        released = member_services.remove_member(membership=membership, removed_by=request.user)
    except DomainError as exc:
        return _refused(request, project, exc)
    freed = (
        f" {counted(released, 'item')} they held {noun(released, 'is', 'are')} free for others now." if released else ""
    )
    messages.success(request, f"{isolated(membership.user.username)} was removed from {isolated(project.name)}.{freed}")
    _tell_queues_without_expert(request, project, membership.user, before)
    if membership.pk == own.pk:  # the lead left the project: its pages are closed to them now
        return redirect("labeling:home")
    return redirect("labeling:members", slug=project.slug)


@login_required
@require_POST
def invitation_resend(request, slug: str, invitation_id: int):
    project, _ = lead_project(request.user, slug, method=request.method)
    invitation = member_selectors.invitation_of_project(project, invitation_id)
    try:
        invitation_services.resend_invitation(invitation=invitation, resent_by=request.user)
    except DomainError as exc:
        return _refused(request, project, exc)
    messages.success(
        request, f"Invitation sent again to {isolated(invitation.email)}, with a new link; the old one is void."
    )
    return redirect("labeling:members", slug=project.slug)


@login_required
@require_POST
def invitation_revoke(request, slug: str, invitation_id: int):
    project, _ = lead_project(request.user, slug, method=request.method)
    invitation = member_selectors.invitation_of_project(project, invitation_id)
    invitation_services.revoke_invitation(invitation=invitation, revoked_by=request.user)
    messages.success(request, f"Invitation to {invitation.email} revoked: its link no longer works.")
    return redirect("labeling:members", slug=project.slug)


def _tell_queues_without_expert(request, project, user, before: QueueLabelers) -> None:
    """Warn when the member was the last eligible expert of queues (`before` the change, who could label in each): of
    one that names them they keep the name, and of one that names nobody they were the project's last who labels;
    nobody may label them now."""
    username = isolated(user.username)
    left = member_selectors.queues_left_without_expert(project, user.pk, before=before)
    if left:
        names = ", ".join(f"“{isolated(name)}”" for name in left)
        messages.warning(
            request,
            f"{username} was the last eligible expert of {names}: nobody can label "
            f"{'it' if len(left) == 1 else 'them'} now. "
            "On the queue's page, tick other experts (and untick them), or untick everyone for every expert.",
        )


def _refused(request, project, exc: DomainError, *, invite_form=None):
    response = _page(request, project, invite_form=invite_form, error=exc.message, status=exc.status_code)
    if isinstance(exc, TooManyRequests):
        response["Retry-After"] = str(exc.retry_after)
    return response


def _page(request, project, *, invite_form=None, error: str = "", status: int = 200, operator_view: bool = False):
    """The page; `operator_view`: for an operator who is not a member, without the forms that change anything."""
    week = calendar.current_week(project)
    context = {
        "project": project,
        "operator_view": operator_view,
        "tab": "members",
        "week": week,
        "rows": member_selectors.project_members(project, week=week),
        "invitations": list(open_invitations(project)),
        "invite_form": invite_form or InviteForm(),
        "role_choices": RoleForm.base_fields["role"].choices,
        "error": error,
        "now": timezone.now(),
        "invitation_days": settings.INVITATION_MAX_AGE_DAYS,
    }
    return render(request, "labeling/members/list.html", context, status=status)
