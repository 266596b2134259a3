"""Invite people to a project by email; a link with a single-use token adds them (creating their account if needed).

Only a SHA-256 hash of a token is stored (like API keys): a token is 256 random bits, so a fast hash is
enough, and a database dump opens no invitation. A link stops working when it is used, expires
(`INVITATION_MAX_AGE_DAYS`), is revoked, or is replaced by a resend.

Inviting an email that already has a pending invitation to the project renews that invitation: new token
(the old link stops working), the role now asked for, a new expiry, one more send. So a lead who picks the
wrong role just invites again, and the partial unique constraint keeps one pending invitation per email.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from labeling.exceptions import (
    Conflict,
    InvalidAccount,
    InvalidInput,
    InvitationExpired,
    InvitationForAnotherEmail,
    InvitationNotValid,
    InvitationReplaced,
    InvitationRevoked,
    InvitationUsed,
)
from labeling.models import AuditEvent, Invitation, Membership, Project, Role
from labeling.models.projects import REPLACED_TOKEN
from labeling.rules.access import check_can_manage
from labeling.rules.emails import normalize_email, valid_email
from labeling.rules.limits import check_window_limit
from labeling.rules.twins import audited_twin, twin_of
from labeling.selectors.invitations import (
    account_exists_for_email,
    invitation_for_token,
    is_member_by_email,
    token_hash,
    was_replaced,
)

logger = logging.getLogger(__name__)

SENDS_WINDOW = timedelta(hours=1)
SEND_ACTIONS = ("member.invited", "member.invitation_resent")


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str | None  # in the emailed link only, never stored; None for a twin (its link went out with the first)


@transaction.atomic
def invite_member(*, project: Project, email: str, role: str, invited_by) -> IssuedInvitation:
    """Invite an email to the project with a role, or renew its pending invitation; the email goes on commit.

    `invited_by` must manage the project (None: a command or the demo, unchecked). Refuses a person who is
    a member already, and more than INVITATIONS_PER_PROJECT_PER_HOUR sends an hour (TooManyRequests). The same
    person's invitation of the email with the role, sent moments ago, is the twin of this one: returned (token None),
    nothing sent (rules.twins).
    """
    _lock_as_manager(project, invited_by)
    email = valid_email(email)
    if role not in Role.values:
        raise InvalidInput(f"Role must be one of {', '.join(Role.values)}.")
    if invited_by is not None:
        sent = project.invitations.pending().filter(email=email, role=role, invited_by=invited_by)
        twin = twin_of(sent, at="sent_at")
        if twin is not None:  # the form posted twice: the first e-mail's link stays the one that works
            return IssuedInvitation(invitation=twin, token=None)
    _check_sends(project)
    if is_member_by_email(project, email):
        raise Conflict(f"{email} is a member of {project.name} already: change their role in the list instead.")
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    fields = {
        "role": role,
        "token_hash": token_hash(token),
        "invited_by": invited_by,
        "expires_at": now + timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
        "sent_at": now,
    }
    pending = project.invitations.pending().filter(email=email).first()
    if pending is None:
        try:
            with transaction.atomic():
                invitation = Invitation.objects.create(project=project, email=email, **fields)
        except IntegrityError:  # cannot happen while the project row is locked; say so rather than 500
            raise Conflict(f"{email} was invited a moment ago; reload the page.") from None
    else:
        Invitation.objects.filter(pk=pending.pk).update(**fields, send_count=F("send_count") + 1)
        invitation = Invitation.objects.get(pk=pending.pk)
    AuditEvent.objects.create(
        project=project,
        actor=invited_by,
        action="member.invited",
        details={
            "invitation": invitation.pk,
            "email": email,
            "role": role,
            "renewed": pending is not None,
            **({REPLACED_TOKEN: pending.token_hash} if pending is not None else {}),
        },
    )
    _send_on_commit(invitation, token)
    return IssuedInvitation(invitation=invitation, token=token)


@transaction.atomic
def resend_invitation(*, invitation: Invitation, resent_by) -> str | None:
    """Send a pending (or expired) invitation again with a new token and expiry; the old link stops working.

    The same person's resend of it moments ago (the button posted twice) sends nothing more: None (rules.twins)."""
    project = invitation.project
    _lock_as_manager(project, resent_by)
    resent = audited_twin(
        project_id=project.pk, actor=resent_by, action="member.invitation_resent", invitation=invitation.pk
    )
    if resent is not None and Invitation.objects.pending().filter(pk=invitation.pk).exists():
        return None
    _check_sends(project)
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    # Read under the project's lock, which every resend and renewal takes: the link this resend replaces.
    replaced = Invitation.objects.filter(pk=invitation.pk).values_list("token_hash", flat=True).first()
    renewed = (
        Invitation.objects.pending()
        .filter(pk=invitation.pk, project=project)
        .update(
            token_hash=token_hash(token),
            expires_at=now + timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
            sent_at=now,
            send_count=F("send_count") + 1,
        )
    )
    if not renewed:
        raise Conflict("This invitation was accepted or revoked meanwhile; it cannot be sent again.")
    invitation.refresh_from_db()
    AuditEvent.objects.create(
        project=project,
        actor=resent_by,
        action="member.invitation_resent",
        details={
            "invitation": invitation.pk,
            "email": invitation.email,
            "role": invitation.role,
            REPLACED_TOKEN: replaced,
        },
    )
    _send_on_commit(invitation, token)
    return token


@transaction.atomic
def revoke_invitation(*, invitation: Invitation, revoked_by) -> None:
    """Make a pending invitation's link stop working at once; revoking twice, or after acceptance, changes nothing."""
    _lock_as_manager(invitation.project, revoked_by)
    if Invitation.objects.pending().filter(pk=invitation.pk).update(revoked_at=timezone.now()):
        AuditEvent.objects.create(
            project_id=invitation.project_id,
            actor=revoked_by,
            action="member.invitation_revoked",
            details={"invitation": invitation.pk, "email": invitation.email},
        )
    invitation.refresh_from_db(fields=["revoked_at"])


def revoke_invitations_sent_by(*, project: Project, sender, revoked_by, reason: str) -> int:
    """Revoke the pending invitations `sender` sent in the project, each audited with the reason; return how many.

    For a sender who left the project or no longer manages it: their invitations must not outlive their say.
    Runs in the caller's transaction, under its project lock.
    """
    # Locking the rows makes a link accepted at this moment wait, then find the invitation revoked.
    pending = list(
        project.invitations.pending().filter(invited_by=sender).select_for_update().order_by("pk").only("pk", "email")
    )
    if not pending:
        return 0
    Invitation.objects.filter(pk__in=[invitation.pk for invitation in pending]).update(revoked_at=timezone.now())
    AuditEvent.objects.bulk_create(
        AuditEvent(
            project=project,
            actor=revoked_by,
            action="member.invitation_revoked",
            details={"invitation": invitation.pk, "email": invitation.email, "reason": reason},
        )
        for invitation in pending
    )
    return len(pending)


def check_invitation(token: str) -> Invitation:
    """The invitation a token opens if it can still be accepted; else the InvitationUnusable that says why."""
    invitation = invitation_for_token(token)
    if invitation is None:
        if was_replaced(token):
            raise InvitationReplaced("This link was replaced by a newer invitation: use the latest e-mail.")
        raise InvitationNotValid("This invitation link is not valid. Check that you copied the whole link.")
    if invitation.revoked_at is not None:
        raise InvitationRevoked("This invitation was withdrawn. Ask the project's lead for a new one.")
    if invitation.accepted_at is not None:
        raise InvitationUsed("This invitation has been used already. Sign in to open the project.")
    if invitation.expires_at <= timezone.now():
        raise InvitationExpired("This invitation has expired. Ask the project's lead to send it again.")
    return invitation


def email_matches(invitation: Invitation, user) -> bool:
    email = normalize_email(user.email)
    return bool(email) and email == invitation.email


def masked_email(email: str) -> str:
    """`a…@example.com`: enough for the invited person to recognise, not enough to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}…@{domain}"


@transaction.atomic
def accept_invitation(*, token: str, user) -> Membership:
    """Add the signed-in user to the invitation's project with its role, once.

    Refuses unknown, tampered, revoked, used and expired tokens, and a user whose email is not the
    invitation's. Someone who became a member meanwhile keeps the role they have.
    """
    invitation = check_invitation(token)
    if not email_matches(invitation, user):
        raise InvitationForAnotherEmail(
            f"This invitation is for {masked_email(invitation.email)}, and you are signed in as "
            f"{user.get_username()}. Sign out and open the link again."
        )
    return _claim(invitation, user)


def _claim(invitation: Invitation, user) -> Membership:
    now = timezone.now()
    # The conditional UPDATE is the claim: of two tabs accepting at once, the second waits for the first's
    # row lock, then finds the row accepted and updates nothing.
    claimed = (
        Invitation.objects.usable(now)
        .filter(pk=invitation.pk, token_hash=invitation.token_hash)
        .update(accepted_at=now, accepted_by=user)
    )
    if not claimed:
        raise InvitationUsed("This invitation has been used already. Sign in to open the project.")
    membership, created = Membership.objects.get_or_create(
        project_id=invitation.project_id, user=user, defaults={"role": invitation.role}
    )
    AuditEvent.objects.create(
        project_id=invitation.project_id,
        actor=user,
        action="member.added" if created else "member.invitation_accepted",
        details={
            "user": user.get_username(),
            "role": membership.role,
            "via": "invitation",
            "invitation": invitation.pk,
            "invited_by": invitation.invited_by_id,
        },
    )
    return membership


@transaction.atomic
def create_account_and_accept(*, token: str, username: str, password: str):
    """Create an account with the invitation's email, username and password, and accept: all or nothing.

    Refuses when an account with that email exists already (its owner signs in and accepts instead).
    """
    invitation = check_invitation(token)
    User = get_user_model()
    if account_exists_for_email(invitation.email):
        raise Conflict("An account with this email exists already: sign in to accept the invitation.")
    username = (username or "").strip()
    problems: dict[str, list[str]] = {}
    candidate = User(username=username, email=invitation.email)
    try:
        candidate.clean_fields(exclude=[f.name for f in User._meta.fields if f.name != "username"])
    except ValidationError as exc:
        problems["username"] = exc.message_dict.get("username", exc.messages)
    if "username" not in problems and User.objects.filter(username__iexact=username).exists():
        problems["username"] = ["That username is taken; choose another."]
    try:
        password_validation.validate_password(password or "", user=candidate)
    except ValidationError as exc:
        problems["password"] = list(exc.messages)
    if problems:
        raise InvalidAccount(problems)
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email=invitation.email, password=password)
    except IntegrityError:  # the same username taken a moment ago
        raise InvalidAccount({"username": ["That username is taken; choose another."]}) from None
    _claim(invitation, user)
    return user


def accept_invitations_for_email(*, user) -> list[Membership]:
    """Accept every usable invitation addressed to the user's email (for single sign-on, after the
    provider verified the address). Each is accepted on its own; one taken meanwhile is skipped."""
    email = normalize_email(user.email)
    if not email:
        return []
    memberships = []
    for invitation in Invitation.objects.usable(timezone.now()).filter(email=email).order_by("pk"):
        try:
            with transaction.atomic():
                memberships.append(_claim(invitation, user))
        except InvitationUsed:
            continue
    return memberships


def _lock_as_manager(project: Project, acting) -> None:
    """Take the project's row lock, then check that `acting` manages the project (None: unchecked)."""
    # The lock serialises a project's invitations and its role changes: the send count cannot go stale, two
    # invitations of one email cannot race past the pending-row lookup, and the manager check reads the role a
    # concurrent demotion left (asked before the lock, a lead demoted that moment still acted once).
    Project.objects.lock(project.pk)
    if acting is not None:
        check_can_manage(acting, project)


def _check_sends(project: Project) -> None:
    check_window_limit(
        AuditEvent.objects.filter(project=project, action__in=SEND_ACTIONS),
        at="at",
        limit=settings.INVITATIONS_PER_PROJECT_PER_HOUR,
        window=SENDS_WINDOW,
        refusal="This project has sent {limit} invitations in the last hour, the most allowed. Try again in {wait}.",
    )


def invitation_link(token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("labeling:invitation", args=[token])


def _send_on_commit(invitation: Invitation, token: str) -> None:
    # robust: a mail server that is down must not turn the committed invitation into a 500; the lead
    # sees it pending and can resend.
    transaction.on_commit(partial(_send_invitation_email, invitation=invitation, token=token), robust=True)


def _send_invitation_email(*, invitation: Invitation, token: str) -> None:
    context = {
        "project": invitation.project,
        "role": invitation.get_role_display(),
        "inviter": _display_name(invitation.invited_by),
        "expires_at": invitation.expires_at,
        "link": invitation_link(token),
    }
    send_mail(
        subject=" ".join(render_to_string("labeling/members/invitation_email_subject.txt", context).split()),
        message=render_to_string("labeling/members/invitation_email.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


def _display_name(user) -> str:
    if user is None:
        return "The project's leads"
    return user.get_full_name() or user.get_username()
