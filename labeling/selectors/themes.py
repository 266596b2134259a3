"""The stored failure themes of a cycle week, as report entries (plain data)."""

from datetime import date

from labeling.models import Project


def week_themes(*, project: Project, week: date) -> list[dict]:
    """The week's failure themes, biggest first (for the report and the meeting page)."""
    return []
