"""Why a dataset file's last render failed, in words every member of the project may read.

A failed render stores its exception as `Type: text` (`version_files.render_version_files`), which names database
hosts, paths under MEDIA_ROOT and Celery's internals: that raw text is for operators (the dataset page shows it to
them) and the workers' log. Everyone else, on the page and over REST, reads the reason its type stands for."""

import errno
import re
from datetime import timedelta

# The render's database connection failed (Django's wrappers of the driver's errors, by the names they are stored as).
DATABASE_ERRORS = frozenset({"OperationalError", "InterfaceError", "DatabaseError"})

# Only the name is stored, not the class: any library may raise its own `ConnectionError` or `TimeoutError` (some
# are not even OSErrors), so a name says no more than what every error of that name has in common.
# The file system refused the file: OSError's subclasses that only a path raises.
FILE_ERRORS = frozenset(
    {"FileNotFoundError", "FileExistsError", "PermissionError", "IsADirectoryError", "NotADirectoryError"}
)
# A plain OSError is a file's only with an error number of the disk or the volume (`[Errno 28] No space left…`): a
# socket raises it too ("Network is unreachable"). (A refused or missing path is raised as one of FILE_ERRORS.)
FILE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG})
# Its number opens the text (`str(OSError(28, "…"))`): one quoted further on (a server's reply, say) is not its own.
_ERRNO = re.compile(r"^\s*\[Errno (\d+)\]")
# A connection to some other service failed (which one, the workers' log says).
CONNECTION_ERRORS = frozenset(
    {"ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "ConnectionAbortedError", "BrokenPipeError"}
)


def _file_errno(text: str) -> bool:
    number = _ERRNO.search(text)
    return number is not None and int(number[1]) in FILE_ERRNOS


def render_failure_reason(error: str, *, soft_time_limit: timedelta) -> str:
    """The plain reason the stored `error` (`Type: text`) stands for, as far as its type's name tells; a neutral one
    when it does not; empty when there is none."""
    if not error:
        return ""
    kind, _, text = error.partition(":")
    kind = kind.strip()
    if kind == "SoftTimeLimitExceeded":
        return f"it took longer than the {int(soft_time_limit.total_seconds() // 60)} minutes a file may take"
    if kind in DATABASE_ERRORS:
        return "the database could not be reached"
    if kind in FILE_ERRORS or (kind == "OSError" and _file_errno(text)):
        return "the file could not be written"
    if kind in CONNECTION_ERRORS:
        return "a connection failed"
    return "an unexpected error, in the workers' log"


def render_failure_note(error: str, *, soft_time_limit: timedelta, pending: bool, operator_view: bool = False) -> str:
    """What a reader is told of a file whose last render failed, as past: a new render is on its way (`pending`), or a
    download asks for one; an operator who is not a member (`operator_view`: their page has no link to the file, and
    they change nothing) reads that a member has it made again. Empty when the last render did not fail."""
    if not error:
        return ""
    if pending:
        then = "it is being made again"
    else:
        then = "a member of the project has it made again" if operator_view else "a download makes it again"
    return f"The last try failed ({render_failure_reason(error, soft_time_limit=soft_time_limit)}); {then}."
