"""Email addresses as expertloop compares them: trimmed and lowercased, the one form invitations store and
single sign-on, the invitation page and the accounts it creates compare."""

import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from labeling.exceptions import InvalidInput

MAX_EMAIL_LENGTH = 254


def normalize_email(email: object) -> str:
    """The compared form of an address: surrounding whitespace trimmed, lowercased; "" for nothing."""
    return str(email or "").strip().lower()


def valid_email(email: object) -> str:
    """The normalised address, or InvalidInput unless it is an email address."""
    email = normalize_email(email)
    try:
        if "\x00" in email or len(email) > MAX_EMAIL_LENGTH:
            raise ValidationError("bad")
        validate_email(email)
    except ValidationError:
        raise InvalidInput("Enter a valid email address.") from None
    return email


def same_address(typed: str, stored: str) -> bool:
    """Django's check before it mails a password reset link: equal after Unicode compatibility folding, so an
    address the database's case-insensitive match merely confuses with another (a dotless ı) gets no link."""
    return unicodedata.normalize("NFKC", typed).casefold() == unicodedata.normalize("NFKC", stored).casefold()
