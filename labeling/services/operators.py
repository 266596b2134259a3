"""Operators made from the command line (`manage.py create_operator`): the first one of an install, or an account
given the operator permission (`labeling.operate_all_projects`), under the app's account rules, which Django's
createsuperuser skips (a username differing only in case from another's, an email another account has); and the
permission taken away again (`manage.py revoke_operator`)."""

import logging
from dataclasses import dataclass

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.exceptions import Conflict, InvalidInput, NotFound
from labeling.models import AuditEvent, Membership, OperatorToken
from labeling.rules.access import OPERATE_ALL_PROJECTS
from labeling.rules.commands import by_command, command_details
from labeling.rules.emails import normalize_email, valid_email
from labeling.selectors.invitations import account_exists_for_email

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OperatorMade:
    user: object
    created: bool  # a new account
    changed: bool  # False: it was an operator already (and a superuser, if asked), with a password


def password_wanted(username: str) -> bool:
    """Whether making `username` an operator needs a password: a new account, or one without a usable password (a
    password reset never gives an operator's account its first one, and single sign-on never links it by email)."""
    user = get_user_model().objects.filter(username=username).first()
    return user is None or not user.has_usable_password()


@transaction.atomic
def make_operator(
    *, username: str, email: str = "", password: str | None = None, superuser: bool = False, command: str
) -> OperatorMade:
    """Create the account `username` as an operator, or give an existing one the operator permission (and, with
    `superuser`, the Django admin with every permission); InvalidInput for a bad username, email or password.

    A new account needs an email no other account has and a password passing the password validators; an existing
    one keeps its email and its password (`password`, when given, must be it), and gets `password` if it has none.
    Making an operator of an operator changes and audits nothing. Audited in each project the account belongs to,
    and in the server log (an empty install has no project yet), as done by `command`."""
    User = get_user_model()
    user = User.objects.select_for_update().filter(username=username).first()
    if user is None:
        user = _new_account(username=username, email=email, password=password)
        created = True
    else:
        _check_existing(user, email=email, password=password)
        created = False
    app_label, codename = OPERATE_ALL_PROJECTS.split(".")
    permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
    changed = created or not user.user_permissions.filter(pk=permission.pk).exists()
    user.user_permissions.add(permission)
    if superuser and not (user.is_staff and user.is_superuser):
        user.is_staff = user.is_superuser = True
        changed = True
    if not user.has_usable_password():
        user.set_password(password)
        changed = True
    if not changed:
        return OperatorMade(user=user, created=False, changed=False)
    user.save()
    details = {"username": user.username, "superuser": user.is_superuser, "created": created}
    details |= command_details(command)
    done = "created" if created else "made"
    log.warning("Operator %r %s by %s: %s", user.username, done, by_command(command), details)
    project_ids = Membership.objects.filter(user=user).values_list("project_id", flat=True)
    AuditEvent.objects.bulk_create(
        [AuditEvent(project_id=pid, action="member.made_operator", details=details) for pid in project_ids]
    )
    return OperatorMade(user=user, created=created, changed=True)


@dataclass(frozen=True)
class OperatorRevoked:
    permission: bool  # the account held the operator permission itself (else only tokens were left)
    tokens: int  # the account's operator tokens (`elop_…`) revoked


@transaction.atomic
def revoke_operator(*, username: str, command: str) -> OperatorRevoked | None:
    """Take the operator permission given to the account `username` away, and revoke its operator tokens; None when it
    holds neither (nothing changed). NotFound for no such account; InvalidInput when it would stay an operator all the
    same (a superuser, or the permission held through a group), changing nothing. Audited in each project the account
    belongs to, and in the server log, as done by `command`, as `make_operator` is.

    The tokens are revoked, not left to fail while the permission is missing: made an operator again later, the
    account would find every old token working again, the leaked one behind this revocation too."""
    user = get_user_model().objects.select_for_update().filter(username=username).first()
    if user is None:
        raise NotFound(f"No account {username!r}: name it as it is spelled (usernames are case-sensitive).")
    if user.is_superuser:
        raise InvalidInput(
            f"{username!r} is a superuser, who holds every permission: take superuser status away in the admin "
            "(Users), then run this again."
        )
    app_label, codename = OPERATE_ALL_PROJECTS.split(".")
    permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
    groups = list(permission.group_set.filter(user=user).order_by("name").values_list("name", flat=True))
    if groups:
        names, several = ", ".join(repr(name) for name in groups), len(groups) > 1
        raise InvalidInput(
            f"{username!r} is an operator through the group{'s' if several else ''} {names}: remove them from "
            f"{'those groups' if several else 'it'} in the admin (Users), or take the permission from the group."
        )
    held = user.user_permissions.filter(pk=permission.pk).exists()
    # Tokens too when the permission was taken away in the admin, where they stay active: made an operator again,
    # the account would find them working.
    tokens = OperatorToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if not held and not tokens:
        return None
    user.user_permissions.remove(permission)
    details = {"username": user.username, "permission": held, "tokens_revoked": tokens} | command_details(command)
    log.warning("Operator %r revoked by %s: %s", user.username, by_command(command), details)
    project_ids = Membership.objects.filter(user=user).values_list("project_id", flat=True)
    AuditEvent.objects.bulk_create(
        [AuditEvent(project_id=pid, action="member.operator_revoked", details=details) for pid in project_ids]
    )
    return OperatorRevoked(permission=held, tokens=tokens)


def _new_account(*, username: str, email: str, password: str | None):
    User = get_user_model()
    candidate = User(username=username)
    try:
        candidate.clean_fields(exclude=[field.name for field in User._meta.fields if field.name != "username"])
    except ValidationError as exc:
        raise InvalidInput(f"{username!r}: " + " ".join(exc.messages)) from None
    if other := User.objects.filter(username__iexact=username).first():
        raise InvalidInput(
            f"The username {username!r} differs only in case from the account {other.username!r}: name that "
            "account as it is spelled, or choose another username."
        )
    if not email.strip():
        raise InvalidInput("A new operator needs an --email: the address their password reset mails go to.")
    candidate.email = valid_email(email)
    if account_exists_for_email(candidate.email):
        raise InvalidInput(f"{candidate.email} is the email of another account: give another, or name that account.")
    _check_password(candidate, password)
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, email=candidate.email, password=password)
    except IntegrityError:  # the same username created a moment ago
        raise Conflict(f"An account {username!r} was created a moment ago: run the command again.") from None


def _check_existing(user, *, email: str, password: str | None) -> None:
    if not user.is_active:
        raise InvalidInput(
            f"The account {user.username!r} is deactivated: an operator reactivates it in the admin first."
        )
    if email.strip() and normalize_email(email) != normalize_email(user.email):
        raise InvalidInput(
            f"The account {user.username!r} exists already. Its email is {user.email or 'empty'}, which this "
            "command does not change: leave --email out, or change it in the admin."
        )
    if not user.has_usable_password():
        _check_password(user, password)
    elif password is not None and not user.check_password(password):
        raise InvalidInput(
            f"The account {user.username!r} has a password already, and this command does not change it: leave the "
            f"password out, or change it with `manage.py changepassword {user.username}`."
        )


def _check_password(user, password: str | None) -> None:
    if password is None:
        raise InvalidInput(f"The account {user.username!r} has no password yet: give one.")
    if not password:
        raise InvalidInput("The password is empty.")
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise InvalidInput("The password is refused: " + " ".join(exc.messages)) from None
