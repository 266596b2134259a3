"""Whether sign-in is locked for an account or a client address (the rows are written by services/signin.py)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from labeling.models import SignInThrottle, ThrottleKind

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
