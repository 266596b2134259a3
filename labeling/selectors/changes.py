"""The stored changes of a cycle week, as report entries (plain data)."""

from datetime import date

from labeling.models import Project


def week_changes(*, project: Project, week: date) -> list[dict]:
    """The week's significant changes, biggest first (for the report, the meeting page and the API)."""
    return []
