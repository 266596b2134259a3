"""No log line names an end user in clear.

The erasure endpoint takes the end user's id in its path (`DELETE /api/v1/end-users/<id>`), and ids are often
e-mail addresses; the audit event names them by a keyed hash only, but the request's own log lines would print the
path: Django's ("Unauthorized: /api/v1/end-users/…" for a refused call, the dev server's request line) and
gunicorn's access log (`expertloop/gunicorn_logger.py`). Both write `<end user>` in its place.
"""

import logging
import re

_END_USER_PATH = re.compile(r"(/api/v1/end-users/)[^\s?#\"]+")
HIDDEN = "<end user>"


def hide_end_users(text: str) -> str:
    return _END_USER_PATH.sub(rf"\g<1>{HIDDEN}", text)


class HideEndUsers(logging.Filter):
    """On a handler: rewrites each record's message and string arguments before any output sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = hide_end_users(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(hide_end_users(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: hide_end_users(v) if isinstance(v, str) else v for key, v in record.args.items()}
        return True
