"""Invitations: find one by its link's token, and what single sign-on and the members page read."""

import hashlib

from django.db.models import ExpressionWrapper, QuerySet, TextField
from django.db.models.fields.json import KT
from django.utils import timezone

from labeling.models import AuditEvent, Invitation, Membership, Project
from labeling.models.projects import INVITATION_EVENTS, REPLACED_TOKEN
from labeling.rules.emails import normalize_email
from labeling.selectors.signin import accounts_for_password_reset, accounts_with_email

# secrets.token_urlsafe(32) gives 43 characters; anything much longer is not a token we issued.
MAX_TOKEN_LENGTH = 100


def token_hash(token: str) -> str:
    """The SHA-256 hex digest stored for a token (the token itself is never stored)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation this token opens, whatever its state (used, expired, revoked), or None. One query."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return Invitation.objects.select_related("project", "invited_by").filter(token_hash=token_hash(token)).first()


def was_replaced(token: str) -> bool:
    """This token opened an invitation that a newer one (invited again, another role, resent) replaced."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return False
    # As the index audit_replaced_invitation reads them: the text of the detail, among the invitation events. Compared
    # as text (the wrapper adds no SQL): a JSON key's own lookup reads the value as JSON on SQLite, which a hex digest
    # is not, and the demo answered "database unavailable" to a bad invitation link.
    detail = ExpressionWrapper(KT(f"details__{REPLACED_TOKEN}"), output_field=TextField())
    replaced = AuditEvent.objects.alias(replaced=detail)
    return replaced.filter(action__in=INVITATION_EVENTS, replaced=token_hash(token)).exists()


def account_without_password(email: str) -> bool:
    """The accounts with this email have no usable password, and may get a first one by e-mail (made by
    create_project; not those of single sign-on): signing in asks for a password its owner chooses through "Forgot
    your password?"."""
    accounts = accounts_for_password_reset(email)
    return bool(accounts) and not any(account.has_usable_password() for account in accounts)


def project_joined_through(token: str, user) -> Project | None:
    """The project this token's invitation made the user a member of, if they accepted it and are still in it."""
    invitation = invitation_for_token(token)
    if invitation is None or invitation.accepted_by_id != user.pk:
        return None
    joined = Membership.objects.filter(project_id=invitation.project_id, user=user).exists()
    return invitation.project if joined else None


def has_pending_invitation(email: str) -> bool:
    """Someone invited this email (any case) to a project, and the invitation can still be accepted."""
    email = normalize_email(email)
    return bool(email) and Invitation.objects.usable(timezone.now()).filter(email=email).exists()


def open_invitations(project: Project) -> QuerySet[Invitation]:
    """The project's invitations not yet accepted or revoked, expired ones included, newest first."""
    return project.invitations.pending().select_related("invited_by").order_by("-sent_at", "-pk")


def account_exists_for_email(email: str) -> bool:
    """Some account already uses this email (any case): its owner signs in to accept."""
    return bool(accounts_with_email(email))


def is_member_by_email(project: Project, email: str) -> bool:
    """An account with this email (any case, no look-alike: see `accounts_with_email`) is a member of the project."""
    email = normalize_email(email)
    emails = Membership.objects.filter(project=project, user__email__iexact=email).values_list("user__email", flat=True)
    return any(normalize_email(member_email) == email for member_email in emails)
