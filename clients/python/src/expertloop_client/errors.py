"""What the client raises from read calls, and how it reports records the server refused."""

from __future__ import annotations

import dataclasses
from typing import Any


class ExpertloopError(Exception):
    """A read call failed. `status` is the HTTP status (None when no answer came); `errors` the server's list."""

    def __init__(self, message: str, *, status: int | None = None, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors or []


class ConfigurationError(ExpertloopError):
    """No server URL or no API key: pass them, or set EXPERTLOOP_URL and EXPERTLOOP_API_KEY."""


class BadRequest(ExpertloopError):
    """400: a parameter is wrong; `errors` names it."""


class AuthenticationFailed(ExpertloopError):
    """401: no key, an unknown key or a revoked key."""


class PermissionDenied(ExpertloopError):
    """403: the key lacks the scope (`read` for datasets, metrics and reports)."""


class NotFound(ExpertloopError):
    """404: no such project, dataset, version or week, or not the key's to read."""


class Conflict(ExpertloopError):
    """409: the project's state refuses the call; `errors` names the field at fault, if any."""


class NotReady(Conflict):
    """409: the dataset version is still building, or failed."""


class NameTaken(Conflict, BadRequest):
    """409: another dataset of the project has the name (its slug); `errors` names the field `name`. Also a
    `BadRequest`, as it was when the server answered a name taken with a 400: `except BadRequest` still catches it."""


class Gone(ExpertloopError):
    """410: the dataset version was withdrawn (by a lead, or after an end user's erasure); the message says why."""


class BuildFailed(ExpertloopError):
    """The worker's build of a new version failed; the message has the server's `build.error`."""


class RateLimited(ExpertloopError):
    """429 after the client's retries: over the key's request rate."""


class ServerError(ExpertloopError):
    """5xx after the client's retries, or no answer at all (`status` None)."""


class StillPreparing(ServerError):
    """503 for longer than the client waits (10 minutes): the server's worker has not prepared the file (a Parquet or
    hf download) yet. Is a Celery worker running?"""


class ChecksumMismatch(ExpertloopError):
    """A download's bytes are not the ones the server vouched for; nothing was written at the target path."""

    def __init__(self, message: str, *, expected: str, actual: str):
        super().__init__(message)
        self.expected = expected
        self.actual = actual


_BY_STATUS: dict[int, type[ExpertloopError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: NotReady,
    410: Gone,
    429: RateLimited,
}


def error_for(status: int, errors: list[dict[str, Any]], fallback: str) -> ExpertloopError:
    """The exception for an HTTP status, its message made of the server's errors."""
    messages = [
        f"{error['field']}: {error['message']}" if error.get("field") else str(error.get("message"))
        for error in errors
        if isinstance(error, dict)
    ]
    message = f"HTTP {status}: " + ("; ".join(messages) if messages else fallback)
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else ExpertloopError)
    if status == 409 and any(isinstance(error, dict) and error.get("field") == "name" for error in errors):
        kind = NameTaken  # a create's name; a version's 409 (NotReady) names no field
    return kind(message, status=status, errors=errors)


@dataclasses.dataclass(frozen=True)
class RecordError:
    """A logged record that was not stored, and why.

    `kind` is outputs, events or feedback; `index` and `field` come from the server's 400 (the record's position in
    the batch it was sent in, the field path); `status` is the HTTP status (None: refused before sending, e.g. a
    value that is not JSON).
    """

    kind: str
    external_id: str | None
    message: str
    field: str | None = None
    index: int | None = None
    status: int | None = None
    record: dict[str, Any] | None = dataclasses.field(default=None, repr=False)
