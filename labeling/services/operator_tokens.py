"""Operator tokens: how an operator scripts the platform API (usage for chargeback) without a browser session.

A token reads `elop_<prefix>_<secret>` (`labeling.rules.bearer`: only a SHA-256 hash of it is stored). It acts as
the user who issued it, and only while that user is active and still holds the operator permission, asked on every
request: a token never outlives its operator.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from labeling.exceptions import InvalidInput, KeyRejected, NotFound
from labeling.models import OperatorToken
from labeling.rules import bearer
from labeling.rules.access import check_operator
from labeling.rules.limits import check_window_limit
from labeling.rules.text import check_names
from labeling.rules.twins import twin_of

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "elop_"
NAME_MAX_CHARS = OperatorToken._meta.get_field("name").max_length
LAST_USED_RESOLUTION = timedelta(minutes=1)  # as API keys: not a write on every request
TOKENS_PER_WINDOW = 10  # a hijacked session must not mint tokens in bulk
TOKEN_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class IssuedToken:
    token: OperatorToken
    secret: str  # shown once, never stored
    # The active token of the same name the user issued moments before: the same form posted again, most likely
    # (rules.twins). Its secret went only to the answer of that post, which a browser that resent the form never
    # showed; it cannot be shown again, so this post issues a token of its own and the page names that one.
    earlier: OperatorToken | None = None


@transaction.atomic
def issue_operator_token(*, user, name: str) -> IssuedToken:
    """Issue a token acting as `user`, an operator (else NotFound); the returned secret is the only copy.
    At most TOKENS_PER_WINDOW a user per TOKEN_WINDOW (TooManyRequests beyond).

    The same form posted again moments later issues a second token, naming the first (`IssuedToken.earlier`): the
    first secret cannot be shown again (only its hash is kept), and revoking it in favour of the second could revoke
    the one on the screen, since two posts at once may be served in either order."""
    check_operator(user)
    name = (name or "").strip()
    if not name:
        raise InvalidInput("A token needs a name: say what script uses it.")
    if len(name) > NAME_MAX_CHARS:
        raise InvalidInput(f"A token's name is at most {NAME_MAX_CHARS} characters.")
    check_names(name=name)
    # The user's row lock makes two concurrent issues count one after the other against the limit.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    check_window_limit(
        OperatorToken.objects.filter(user=user),
        at="created_at",
        limit=TOKENS_PER_WINDOW,
        window=TOKEN_WINDOW,
        refusal="You issued {limit} tokens in the last hour, the most allowed. Try again in {wait}.",
    )
    earlier = twin_of(OperatorToken.objects.filter(user=user, name=name, revoked_at__isnull=True))
    minted = bearer.mint(TOKEN_PREFIX)
    token = OperatorToken.objects.create(user=user, name=name, prefix=minted.prefix, secret_hash=minted.secret_hash)
    logger.info("operator token %s issued by user %s", minted.prefix, user.pk)
    return IssuedToken(token=token, secret=minted.secret, earlier=earlier)


def revoke_operator_token(*, user, token_id: int) -> OperatorToken:
    """Revoke one of the user's own tokens at once (NotFound for anyone else's); revoking twice is harmless."""
    token = OperatorToken.objects.filter(pk=token_id, user_id=user.pk).first()
    if token is None:
        raise NotFound("No such token.")
    if OperatorToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
        logger.info("operator token %s revoked by user %s", token.prefix, user.pk)
    token.refresh_from_db(fields=["revoked_at"])
    return token


def is_operator_token(secret: str) -> bool:
    return secret.startswith(TOKEN_PREFIX)


def authenticate_operator_token(secret: str):
    """The user an active token acts as, or KeyRejected. Whether the user may still operate is the caller's
    question (the API's permission asks it on every request)."""
    prefix = bearer.prefix_of(secret, TOKEN_PREFIX)
    if prefix is None:
        raise KeyRejected("Malformed operator token.")
    token = OperatorToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not bearer.proves(secret, token.secret_hash):
        raise KeyRejected("Invalid operator token.")
    if token.revoked_at is not None:
        raise KeyRejected("This operator token has been revoked.")
    if not token.user.is_active:
        raise KeyRejected("This operator token's user is deactivated.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        OperatorToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
    return token.user
