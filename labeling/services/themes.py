"""Failure themes: group a cycle week's failing outputs by what they say and store the themes
(`FailureTheme` rows) for the meeting page and the report.

Filled in by the "failure themes" work (issue 14).
"""

from datetime import date

from labeling.models import Project


def refresh_week_themes(*, project: Project, week: date) -> int:
    """Recompute and store the week's failure themes; return how many were stored."""
    return 0
