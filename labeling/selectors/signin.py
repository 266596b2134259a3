"""Whether sign-in is locked for an account or a client address (the rows are written by services/signin.py);
the accounts single sign-on may sign in to."""

import re
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from labeling.models import Membership, SignInThrottle, ThrottleKind
from labeling.rules.access import is_operator
from labeling.rules.emails import normalize_email, same_address

KEY_LENGTH = SignInThrottle._meta.get_field("key").max_length


@dataclass(frozen=True, slots=True)
class Lock:
    kind: str  # ThrottleKind
    until: datetime

    def seconds_left(self) -> int:
        return max(1, int((self.until - timezone.now()).total_seconds() + 0.999))


def account_key(username: str | None) -> str:
    """The row key of a username as typed: cut to the longest username, no NUL (PostgreSQL text refuses it)."""
    return (username or "").replace("\x00", "\ufffd")[:KEY_LENGTH]


def sign_in_records_of(username: str) -> bool:
    """Is there an account with this username, or failed sign-ins kept under it (names without an account are
    throttled too, so that a guesser learns nothing)? Two small queries at most."""
    if get_user_model().objects.filter(username__iexact=username).exists():
        return True
    return SignInThrottle.objects.filter(kind=ThrottleKind.ACCOUNT, key=account_key(username)).exists()


def active_lock(*, username: str | None, address: str | None) -> Lock | None:
    """The lock that ends last among the account's and the address's, if either is locked now. One query."""
    match = Q(pk__in=[])
    if account_key(username):
        match |= Q(kind=ThrottleKind.ACCOUNT, key=account_key(username))
    if address:
        match |= Q(kind=ThrottleKind.ADDRESS, key=address[:KEY_LENGTH])
    row = (
        SignInThrottle.objects.filter(match, locked_until__gt=timezone.now())
        .order_by("-locked_until")
        .values_list("kind", "locked_until")
        .first()
    )
    return None if row is None else Lock(kind=row[0], until=row[1])


def accounts_with_email(email: str) -> list:
    """The accounts (active or not) whose email is this one, in any case; at most two, enough to see a clash.

    The database's case-insensitive match also pairs look-alikes (PostgreSQL upper-cases a dotless ı to I):
    only an exact match of the normalised addresses counts."""
    email = normalize_email(email)
    candidates = get_user_model().objects.filter(email__iexact=email).order_by("pk")[:10]
    return [user for user in candidates if normalize_email(user.email) == email][:2]


def accounts_for_password_reset(email: str) -> list:
    """The active accounts a reset link for this email goes to, those without a usable password included (made
    by `create_project` or single sign-on: "no password yet", and the emailed link proves the address)."""
    accounts = get_user_model().objects.filter(email__iexact=email, is_active=True).order_by("pk")
    return [user for user in accounts if same_address(email, user.email) and may_reset_password(user)]


def may_reset_password(user) -> bool:
    """An account with a password may reset it. One without gets a first password by email only when it has "no
    password yet": never an operator's account, nor one that signs in through the identity provider (a password
    would let it past the provider's own checks)."""
    if user.has_usable_password():
        return True
    return not is_operator(user) and not user.socialaccount_set.exists()


def belongs_to_a_project(user) -> bool:
    """The account is a member of at least one project (single sign-on may link it by its email)."""
    return Membership.objects.filter(user=user).exists()


def free_username(wanted: str) -> str:
    """`wanted` made a valid username (letters, digits and @.+-_), or with -2, -3, … if it is taken."""
    base = re.sub(r"[^\w.@+-]", "", wanted)[:140] or "user"
    taken = {
        name.lower()
        for name in get_user_model().objects.filter(username__istartswith=base).values_list("username", flat=True)
    }
    if base.lower() not in taken:
        return base
    return next(f"{base}-{n}" for n in range(2, len(taken) + 3) if f"{base}-{n}".lower() not in taken)
