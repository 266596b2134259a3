"""Why a dataset file's last render failed, in words every member of the project may read.

A failed render stores its exception as `Type: text` (`version_files.render_version_files`), which names database
hosts, paths under MEDIA_ROOT and Celery's internals: that raw text is for operators (the dataset page shows it to
them) and the workers' log. Everyone else, on the page and over REST, reads the reason its type stands for."""

from datetime import timedelta

# The render's database connection failed (Django's wrappers of the driver's errors, by the names they are stored as).
DATABASE_ERRORS = frozenset({"OperationalError", "InterfaceError", "DatabaseError"})


def _os_errors() -> frozenset[str]:
    """OSError and its subclasses (FileNotFoundError, PermissionError, …): the disk or the volume refused the file."""
    names, todo = set(), [OSError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return frozenset(names)


FILE_ERRORS = _os_errors()


def render_failure_reason(error: str, *, soft_time_limit: timedelta) -> str:
    """The plain reason the stored `error` (`Type: text`) stands for; empty when there is none."""
    if not error:
        return ""
    kind = error.split(":", 1)[0].strip()
    if kind == "SoftTimeLimitExceeded":
        return f"it took longer than the {int(soft_time_limit.total_seconds() // 60)} minutes a file may take"
    if kind in DATABASE_ERRORS:
        return "the database could not be reached"
    if kind in FILE_ERRORS:
        return "the file could not be written"
    return "an unexpected error, in the workers' log"


def render_failure_note(error: str, *, soft_time_limit: timedelta, pending: bool) -> str:
    """What a reader is told of a file whose last render failed, as past: a new render is on its way (`pending`), or a
    download asks for one. Empty when the last render did not fail."""
    if not error:
        return ""
    then = "it is being made again" if pending else "a download makes it again"
    return f"The last try failed ({render_failure_reason(error, soft_time_limit=soft_time_limit)}); {then}."
