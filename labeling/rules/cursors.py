"""Page cursors a client cannot forge or carry to another list: every cursor-paged endpoint signs what it hands
out for the list it pages, and reads back only that.

A cursor is the endpoint's own position text and a signature, `<position>.<signature>`. The signature is an
HMAC-SHA256 of the position under the server's secret and a salt naming the endpoint and the list's scope
(Django's signing), cut to 22 characters (132 bits) to keep links short. The scope is what makes a position
mean something: the project, the path (a dataset's version, say) and the filters. A position that was altered,
made up, handed out by another endpoint, or handed out for another project, version or filter fails the check
and is refused with a 400 naming the parameter: a client never reaches the database with a position of its own
making, nor pages one list from a position in another.
"""

import json

from django.core import signing

from labeling.exceptions import InvalidFilter

NOT_HANDED_OUT = (
    "This cursor was not handed out by this endpoint for this list (project, path and filters): pass back the "
    "`next` link exactly as it was given."
)
SIGNATURE_CHARS = 22


class _ShortSigner(signing.Signer):
    def signature(self, value, key=None):
        return super().signature(value, key)[:SIGNATURE_CHARS]


def _signer(endpoint: str, scope: str) -> signing.Signer:
    # JSON keeps the two apart whatever they contain; the scope is in the salt, so the cursor stays short.
    salt = "expertloop.cursor:" + json.dumps([endpoint, scope])
    # "." is not in the URL-safe base64 alphabet that positions are written in, and needs no escaping in a URL.
    return _ShortSigner(sep=".", salt=salt, algorithm="sha256")


def sign_cursor(position: str, *, endpoint: str, scope: str) -> str:
    """The cursor to hand out for this position (URL-safe text without a `.`) of the list `scope` names (its
    project, path and filters) on this endpoint."""
    return _signer(endpoint, scope).sign(position)


def cursor_position(cursor: str, *, endpoint: str, scope: str, parameter: str = "cursor") -> str:
    """The position this endpoint signed into `cursor` for this scope; InvalidFilter naming `parameter` for any
    other text."""
    try:
        return _signer(endpoint, scope).unsign(cursor)
    except (signing.BadSignature, UnicodeError):  # a lone surrogate cannot even be hashed
        raise InvalidFilter({parameter: NOT_HANDED_OUT}) from None
