"""What changed this week: compare a cycle week's outputs and events with the weeks before, store the
significant changes (`WeekChange` rows) for the meeting page, the report and the API.

Filled in by the "what changed" work (issue 14).
"""

from datetime import date, datetime

from labeling.models import Project


def refresh_week_changes(*, project: Project, week: date, now: datetime | None = None) -> int:
    """Recompute and store the week's changes; return how many were stored."""
    return 0
