"""Reads behind a person's own page: their figures in each project they label in, and nobody else's.

The figures are counted by the rules the leads' pages use, never counted again here: this week's as the lead's
experts page counts them (`management.expert_progress`, narrowed to the person), the weeks before as the weekly
close stored them (`ExpertWeek`, which the weekly report and the metrics API read), agreement with the gold answer
included.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from labeling.models import ExpertWeek, Membership, Project
from labeling.rules.access import LABELING_ROLES
from labeling.rules.calendar import current_week

from .management import ExpertProgress, expert_progress

# How many closed weeks the page lists per project: the recent trend, not the whole history.
PAST_WEEKS = 8


@dataclass(frozen=True)
class ProjectFigures:
    project: Project
    week: date  # the running cycle week, in the project's calendar
    progress: ExpertProgress
    past_weeks: list[ExpertWeek]  # newest first, before `week`


def own_figures(user) -> list[ProjectFigures]:
    """The user's figures in every project they may label in, by project name.

    One query for the memberships, one for the past weeks of every project, and two per project for this week
    (`expert_progress`): a person labels in a handful of projects."""
    memberships = list(
        Membership.objects.filter(user=user, role__in=LABELING_ROLES)
        .select_related("project")
        .order_by("project__name", "project__slug")
    )
    if not memberships:
        return []
    weeks = {membership.project_id: current_week(membership.project) for membership in memberships}
    past: dict[int, list[ExpertWeek]] = {project_id: [] for project_id in weeks}
    oldest = min(weeks.values()) - timedelta(weeks=PAST_WEEKS)
    for row in ExpertWeek.objects.filter(expert=user, project_id__in=weeks, week__gte=oldest).order_by("-week"):
        if row.week < weeks[row.project_id] and len(past[row.project_id]) < PAST_WEEKS:
            past[row.project_id].append(row)
    figures = []
    for membership in memberships:
        project = membership.project
        week = weeks[project.pk]
        # No row only if the membership went a moment ago: the project is left out, as on the next load.
        for progress in expert_progress(project, week=week, expert=user):
            figures.append(ProjectFigures(project=project, week=week, progress=progress, past_weeks=past[project.pk]))
    return figures
