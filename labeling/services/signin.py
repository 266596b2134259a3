"""Sign-in throttling: failures counted per account and per client address, locks that double.

Policy (settings, README "Sign-in throttling"): after SIGNIN_ACCOUNT_FAILURE_LIMIT failed sign-ins for one
username, or SIGNIN_ADDRESS_FAILURE_LIMIT from one client address (any usernames), sign-in is refused for
SIGNIN_LOCKOUT_SECONDS; each further lockout in a row locks twice as long, up to SIGNIN_LOCKOUT_MAX_SECONDS.
A row with no failure for SIGNIN_FORGET_AFTER_SECONDS starts over. A successful sign-in clears its
account's row (not its address's: one valid account must not reset an address that guesses others).
A password reset request counts as a failure of its client address (there is no row kind of its own).

Rows live in PostgreSQL, not the cache, so a lock holds while Redis is down. Reads: selectors/signin.py.
"""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from labeling.exceptions import Conflict
from labeling.models import AuditEvent, Membership, SignInThrottle, ThrottleKind
from labeling.rules.commands import by_command, command_details
from labeling.rules.emails import normalize_email
from labeling.selectors.signin import KEY_LENGTH, Lock, account_key, free_username
from labeling.services.invitations import accept_invitations_for_email

log = logging.getLogger(__name__)


def lockout_period(lockouts: int) -> timedelta:
    """How long the n-th lockout in a row lasts: the base period, doubled each time, capped."""
    seconds = settings.SIGNIN_LOCKOUT_SECONDS * 2 ** min(max(lockouts - 1, 0), 30)
    return timedelta(seconds=min(seconds, settings.SIGNIN_LOCKOUT_MAX_SECONDS))


def _keys(*, username: str | None, address: str | None) -> list[tuple[str, str, int]]:
    keys = []
    if account_key(username):
        keys.append((ThrottleKind.ACCOUNT, account_key(username), settings.SIGNIN_ACCOUNT_FAILURE_LIMIT))
    if address:
        keys.append((ThrottleKind.ADDRESS, address[:KEY_LENGTH], settings.SIGNIN_ADDRESS_FAILURE_LIMIT))
    return keys


@transaction.atomic
def record_failure(*, username: str | None, address: str | None) -> Lock | None:
    """Count one failed sign-in against the account and the address; return the lock it caused, if any."""
    now = timezone.now()
    keys = _keys(username=username, address=address)
    if not keys:
        return None
    forget_before = now - timedelta(seconds=settings.SIGNIN_FORGET_AFTER_SECONDS)
    # Rows nobody has failed on for a day are dropped here, so guessed usernames do not pile up.
    SignInThrottle.objects.filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now), last_failure_at__lt=forget_before
    ).delete()
    SignInThrottle.objects.bulk_create(
        [SignInThrottle(kind=kind, key=key, last_failure_at=now) for kind, key, _ in keys], ignore_conflicts=True
    )
    limits = {(kind, key): limit for kind, key, limit in keys}
    match = Q()
    for kind, key, _ in keys:
        match |= Q(kind=kind, key=key)
    # Two failures at once for one account must both count: lock the rows (in pk order, so no deadlock).
    rows = list(SignInThrottle.objects.select_for_update().filter(match).order_by("pk"))
    caused = None
    for row in rows:
        if row.locked_until is not None and row.locked_until > now:
            continue  # refused before the password was checked; only a race lands here
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= limits[(row.kind, row.key)]:
            row.lockouts += 1
            row.failures = 0
            row.locked_until = now + lockout_period(row.lockouts)
            log.warning(
                "Sign-in locked for %s %r until %s (lockout %d in a row).",
                row.kind,
                row.key,
                row.locked_until,
                row.lockouts,
            )
            if caused is None or row.locked_until > caused.until:
                caused = Lock(kind=row.kind, until=row.locked_until)
    SignInThrottle.objects.bulk_update(rows, ["failures", "lockouts", "locked_until", "last_failure_at"])
    return caused


def record_reset_request(*, address: str) -> Lock | None:
    """Count a password reset request against the client address, as a failed sign-in; return the lock it caused.

    Only the address: counting against the account would let anyone lock a person out by asking resets for
    them. Two honest requests cost two of SIGNIN_ADDRESS_FAILURE_LIMIT."""
    return record_failure(username=None, address=address)


def record_success(*, username: str) -> None:
    """The account signed in: its failures and lockouts are forgotten."""
    SignInThrottle.objects.filter(kind=ThrottleKind.ACCOUNT, key=account_key(username)).delete()


@transaction.atomic
def unlock_sign_in(*, username: str | None = None, address: str | None = None, actor=None, command: str = "") -> int:
    """Lift the lock and forget the failures of an account and/or an address; return how many rows went.

    An account's unlock is written to the audit log of every project the account belongs to. `command`: the
    management command unlocking it, when no person does."""
    match = Q(pk__in=[])
    if username:
        match |= Q(kind=ThrottleKind.ACCOUNT, key=account_key(username))
    if address:
        match |= Q(kind=ThrottleKind.ADDRESS, key=address[:KEY_LENGTH])
    deleted, _ = SignInThrottle.objects.filter(match).delete()
    actor_id = getattr(actor, "pk", None)
    details = {"username": username or "", "address": address or "", "rows": deleted, **command_details(command)}
    who = f"user {actor_id}" if actor_id is not None else by_command(command) if command else "nobody named"
    log.warning("Sign-in unlocked by %s: %s", who, details)
    if username:
        project_ids = Membership.objects.filter(user__username=username).values_list("project_id", flat=True)
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(project_id=pid, actor_id=actor_id, action="sign_in.unlocked", details=details)
                for pid in project_ids
            ]
        )
    return deleted


@transaction.atomic
def create_invited_account(*, email: str, username: str, first_name: str = "", last_name: str = ""):
    """Create the account of a person single sign-on vouched for, and accept every invitation to their email.

    The email must be verified by the provider and have no account yet. The account has no password (it
    signs in through the provider). Conflict, and nothing created, if no invitation can be accepted any more
    (revoked or used a moment ago)."""
    User = get_user_model()
    email = normalize_email(email)
    try:
        with transaction.atomic():
            user = User(
                username=free_username(username),
                email=email,
                first_name=first_name[: User._meta.get_field("first_name").max_length],
                last_name=last_name[: User._meta.get_field("last_name").max_length],
            )
            user.set_unusable_password()
            user.save()
    except IntegrityError:  # the username was taken a moment ago: a random suffix cannot clash
        user.username = free_username(f"{user.username[:130]}-{secrets.token_hex(4)}")
        user.save()
    if not accept_invitations_for_email(user=user):
        raise Conflict(f"The invitation for {email} was withdrawn or used a moment ago.")
    return user
