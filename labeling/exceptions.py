"""Domain errors. Services raise these; api/exceptions.py and the web views map them to responses."""

from dataclasses import dataclass, field
from datetime import date

from django.utils.translation import ngettext


class DomainError(Exception):
    """Base for errors a caller can act on."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field  # the parameter or field at fault, when one is: the API's error names it

    @property
    def api_status_code(self) -> int:
        """The API's status for it: the page's, but for a role's refusal (NotForYourRole)."""
        return self.status_code


@dataclass(frozen=True)
class RecordError:
    """One problem in one record of a batch. `index` and `field` are None for whole-body problems."""

    message: str
    index: int | None = None
    field: str | None = None

    def as_dict(self) -> dict:
        return {"index": self.index, "field": self.field, "message": self.message}


class BatchInvalid(DomainError):
    """A batch failed validation; nothing was stored. Lists every bad record."""

    def __init__(self, errors: list[RecordError]):
        # Not rules.text.counted: the rules import this module.
        super().__init__(f"{len(errors)} invalid {ngettext('record', 'records', len(errors))}; nothing was stored.")
        self.errors = errors


class PayloadTooLarge(DomainError):
    status_code = 413


class KeyRejected(DomainError):
    """An API key that is malformed, unknown or revoked."""

    status_code = 401


class InvalidAnswers(DomainError):
    """Answers that do not fit the rubric; `errors` maps question key → message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("Some answers do not fit the rubric: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class InvalidSpec(DomainError):
    """A project, rubric or queue specification does not validate."""

    message: str
    problems: list[str] = field(default_factory=list)
    # The field each problem is about, where the service knows it (parallel to `problems`): the API names it.
    fields: list[str | None] = field(default_factory=list)

    def __post_init__(self):
        super().__init__(self.message)


@dataclass
class EditConflict(InvalidSpec):
    """A field the lead changed was changed by someone else since their page showed it: nothing was saved."""

    # The clashing fields' values now, as the page shows them (its `shown` takes them, so saving again decides).
    current: dict = field(default_factory=dict)


@dataclass
class NameTaken(InvalidSpec):
    """A name (or its slug) another row of the project holds already: the API answers 409 Conflict, naming the field,
    as a create whose only fault is the state of the project; a form shows it beside the name, as its other
    problems.

    A 409 outside the `Conflict` family (below) on purpose: it is an InvalidSpec, so every caller that catches a
    spec's problems (and the forms that show them by field) catches it too. Code telling 409s apart catches both, or
    reads `status_code`."""

    status_code = 409


class NotFound(DomainError):
    status_code = 404


class NotForYourRole(NotFound):
    """A member of the project (or an operator) asked for a page or a change their role does not open: on the web a
    404 as for anyone the access rules turn away, but its message is shown, since the member knows the project exists
    and deserves the true reason. The API answers it 403 with the reason (api/exceptions.py), as its clients act on
    the status: their credentials are good, their role is not."""

    api_status_code = 403  # type: ignore[assignment]


class Forbidden(DomainError):
    """The user is in the project, but the project does not let their role do this."""

    status_code = 403


class InvalidInput(DomainError):
    """A value a person or client gave does not fit (the message says which and why)."""


class InvalidUrl(InvalidInput):
    """A URL that may not be used, e.g. a webhook to this machine's network (forms show it on the URL field)."""


class InvalidAccount(InvalidInput):
    """A username or password for a new account that does not validate; `problems` maps field → messages."""

    def __init__(self, problems: dict[str, list[str]]):
        super().__init__(" ".join(message for messages in problems.values() for message in messages))
        self.problems = problems


class FlagAlreadyResolved(InvalidInput):
    """A flag someone else resolved before. The message holds the name as it is; a page that shows it among its own
    words asks `saying` with the name isolated (rules.text.isolated), so no marks reach an API or a log."""

    def __init__(self, *, resolved_by: str, resolved_on: date):
        self.resolved_by, self.resolved_on = resolved_by, resolved_on
        super().__init__(self.saying(resolved_by))

    def saying(self, who: str) -> str:
        return f"This flag was already resolved by {who} on {self.resolved_on:%Y-%m-%d}."


class InvalidWeek(InvalidInput):
    """A week label (or a day) that names no week of the calendar. `reason` is what is wrong with it, without the text
    itself ("is not a week: 2026 has no week 60."), for a page that names the text its own way; the message says both.
    """

    def __init__(self, message: str, *, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message


class Conflict(DomainError):
    """The project's state refuses the call (409). Not every 409: NameTaken (above) is an InvalidSpec with a 409."""

    status_code = 409


class WeekNotOver(Conflict):
    """A cycle week that is still running cannot be closed."""


class NothingToClose(Conflict):
    """A week that ended before the project was created and holds none of its outputs and nothing to review has no
    cycle to close."""


class CycleClosed(Conflict):
    """The week's cycle is closed: its labels are final."""


class LeaseLost(Conflict):
    """The expert's lease ran out, the item went to others, and no slot is left for this label."""


class QueuePaused(Conflict):
    """A lead paused the queue (its *Active* box unticked): it hands out no new item; what experts hold stays theirs."""


class VersionNotReady(Conflict):
    """A version that is still building, or failed, has no rows to serve."""


class VersionWithdrawn(DomainError):
    """A version withdrawn (by a lead, or after an erasure): its record stays, its rows and downloads are gone."""

    status_code = 410


class InvalidFilter(InvalidInput):
    """An explore filter with unknown parameters or bad values; `problems` maps parameter → message."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("Invalid filter: " + "; ".join(f"{name}: {message}" for name, message in problems.items()))
        self.problems = problems


class InvitationUnusable(DomainError):
    """An invitation link that cannot be used (any more); the message says why."""

    status_code = 410


class InvitationNotValid(InvitationUnusable):
    """Unknown or tampered token: the two look the same, so a guess learns nothing."""

    status_code = 404


class InvitationUsed(InvitationUnusable):
    pass


class InvitationReplaced(InvitationUnusable):
    """A link that a newer e-mail's replaced (invited again, another role, resent)."""


class InvitationExpired(InvitationUnusable):
    pass


class InvitationRevoked(InvitationUnusable):
    pass


class InvitationForAnotherEmail(InvitationUnusable):
    """The signed-in account's email is not the one the invitation was sent to."""

    status_code = 403


class TooManyRequests(DomainError):
    """A limit on how often something may be done was reached; try again after `retry_after` seconds."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
