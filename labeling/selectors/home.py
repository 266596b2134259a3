"""The home page: each of the user's projects with what waits for them there, in a fixed number of queries.

Experts (and leads, who label too) see their queues' counts from `work.queues_for_labeler_in`, the selector
behind the project's own page, so both pages always agree. Leads and admins see the cases waiting for adjudication
(`gold.waiting_for_adjudication`), where the weekly close stands (`rules.weekly_close`) and the weeks beat leaves open
holding review items no close will read (`left_open.weeks_left_to_a_lead`, which the project page reads too);
engineers the newest ready dataset version, and a rubric version published in the running week. Four queries at most,
however many projects: the projects with their counts, the queues of the projects the user labels in, the cycles and
the weeks left open of the projects they manage; a fifth in a week one of those published a rubric version, for what
it changed.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from labeling.models import (
    DatasetVersion,
    Membership,
    Output,
    Project,
    Queue,
    ReviewCycle,
    Role,
    Rubric,
    VersionStatus,
    week_label,
)
from labeling.rules import calendar
from labeling.rules.access import LABELING_ROLES, MANAGING_ROLES, operator_permission_held
from labeling.rules.weekly_close import (
    CYCLE_FIELDS,
    FAILED_CLOSE,
    CloseStatus,
    close_status,
    weeks_to_read,
)

from . import projects_of_user
from .gold import waiting_for_adjudication
from .left_open import WeeksLeftToALead, latest_closed_week, weeks_left_to_a_lead
from .management import row_count
from .rubrics import RubricPublished, rubric_published_this_week
from .work import queues_for_labeler_in


@dataclass(frozen=True)
class NewestVersion:
    dataset: str
    number: int
    built_at: datetime | None


@dataclass(frozen=True)
class RubricThisWeek:
    published: RubricPublished  # `rubrics.rubric_published_this_week`, as the project page reads it
    week: str  # the running week's label: its meeting page says what the version changed


@dataclass
class ProjectAtHome:
    project: Project
    role: str | None  # None: an operator's view of a project they are not a member of
    queues: list[Queue] = field(default_factory=list)  # labeling roles: annotated as queues_for_labeler does
    to_adjudicate: int | None = None  # managing roles
    close: CloseStatus | None = None  # managing roles
    # Managing roles: the weeks beat leaves open holding items, by reason (`left_open.weeks_left_to_a_lead`).
    left_to_a_lead: tuple[WeeksLeftToALead, ...] = ()
    # Managing roles: a version published in the running week, whose figures then read two versions' labels.
    rubric_this_week: RubricThisWeek | None = None
    newest_version: NewestVersion | None = None  # engineers; None too while no version is ready

    @property
    def labels_here(self) -> bool:
        return self.role in LABELING_ROLES

    @property
    def manages(self) -> bool:
        return self.role in MANAGING_ROLES

    @property
    def engineers(self) -> bool:
        return self.role == Role.ENGINEER


def home_rows(user) -> list[Project]:
    """The user's projects (an operator's: all) by slug, annotated for `home_projects` (one query)."""
    return list(_projects(user))


def lands_on_project(user, rows: list[Project]) -> Project | None:
    """The one project of a user who has exactly one and is no operator (they see every project); else None."""
    if len(rows) != 1 or user.is_superuser or rows[0].as_operator:
        return None
    return rows[0]


def home_projects(user, rows: list[Project], *, now: datetime | None = None) -> list[ProjectAtHome]:
    """What waits for the user in each project of `home_rows`: at most two more queries, however many projects."""
    now = now or timezone.now()
    home = [ProjectAtHome(project=project, role=project.my_role) for project in rows]
    labeling = [entry.project for entry in home if entry.labels_here]
    if labeling:
        by_project = defaultdict(list)
        for queue in queues_for_labeler_in(user, labeling, now=now):
            by_project[queue.project_id].append(queue)
        for entry in home:
            entry.queues = by_project[entry.project.pk]
    managed = [entry for entry in home if entry.manages]
    if managed:
        cycles = _cycles([entry.project for entry in managed], now)
        for entry in managed:
            entry.to_adjudicate = entry.project.to_adjudicate
            entry.close = close_status(entry.project, cycles[entry.project.pk], now)
        published = _rubrics_published_this_week([entry.project for entry in managed], now, cycles=cycles)
        left = weeks_left_to_a_lead([entry.project for entry in managed], cycles=cycles, now=now)
        for entry in managed:
            entry.rubric_this_week = published.get(entry.project.pk)
            entry.left_to_a_lead = left.get(entry.project.pk, ())
    for entry in home:
        if entry.engineers and entry.project.newest_version_number is not None:
            entry.newest_version = NewestVersion(
                dataset=entry.project.newest_dataset,
                number=entry.project.newest_version_number,
                built_at=entry.project.newest_version_built_at,
            )
    return home


def _rubrics_published_this_week(
    projects: list[Project], now: datetime, *, cycles: dict[int, dict[date, ReviewCycle]]
) -> dict[int, RubricThisWeek]:
    """Per project, the newest rubric version if published in the running week after another one (as the project
    page tells it, `rubric_published_this_week`, over the span its meeting page reads: `calendar.week_span` of the
    projects' `cycles`, by project and week, those of `_cycles`). Only a project whose newest version (`_projects`),
    not its first, is of this week asks: one query for their two newest versions, none in a week nobody published
    one."""
    weeks = {project.pk: calendar.current_week(project, now) for project in projects}
    fresh = [
        project.pk
        for project in projects
        if (project.newest_rubric_version or 0) > 1  # a first version changed nothing
        and project.newest_rubric_at >= calendar.week_span(project, weeks[project.pk], cycles=cycles[project.pk])[0]
    ]
    if not fresh:
        return {}
    newest_two: dict[int, list[Rubric]] = defaultdict(list)
    rank = Window(RowNumber(), partition_by=F("project_id"), order_by=F("version").desc())
    versions = Rubric.objects.filter(project_id__in=fresh).select_related("created_by").annotate(rank=rank)
    for rubric in versions.filter(rank__lte=2).order_by("project_id", "-version"):
        newest_two[rubric.project_id].append(rubric)
    found = {}
    for project in projects:
        if len(newest_two[project.pk]) == 2:
            newest, before = newest_two[project.pk]
            published = rubric_published_this_week(project, now, versions=(newest, before), cycles=cycles[project.pk])
            if published:
                found[project.pk] = RubricThisWeek(published=published, week=week_label(weeks[project.pk]))
    return found


def _projects(user) -> QuerySet[Project]:
    """`projects_of_user` with the user's role, outputs received, the cases waiting for adjudication, the newest
    ready dataset version, the newest rubric version's number and publishing, and the latest closed week: correlated
    subqueries, so one query without a GROUP BY over the projects' outputs."""
    project = OuterRef("pk")
    rubric = Rubric.objects.filter(project=project).order_by("-version")
    newest = DatasetVersion.objects.filter(dataset__project=project, status=VersionStatus.READY).order_by(
        "-built_at", "-pk"
    )
    return projects_of_user(user).annotate(
        my_role=Subquery(Membership.objects.filter(project=project, user_id=user.pk).values("role")[:1]),
        as_operator=operator_permission_held(user),
        output_count=row_count(Output.objects.filter(project=project)),
        to_adjudicate=row_count(waiting_for_adjudication().filter(item__project=project)),
        newest_dataset=Subquery(newest.values("dataset__name")[:1]),
        newest_version_number=Subquery(newest.values("number")[:1]),
        newest_version_built_at=Subquery(newest.values("built_at")[:1]),
        newest_rubric_at=Subquery(rubric.values("created_at")[:1]),
        newest_rubric_version=Subquery(rubric.values("version")[:1]),
        latest_closed_week=latest_closed_week(project),
    )


def _cycles(projects: list[Project], now: datetime) -> dict[int, dict[date, ReviewCycle]]:
    """The cycles `close_status` reads for each project, in one query: those of its `weeks_to_read` and its open
    ones whose close failed; and its latest closed one (`_projects` found its week), which `weeks_left_to_a_lead`
    reads too."""
    wanted = Q(FAILED_CLOSE, project_id__in=[project.pk for project in projects])
    for project in projects:
        weeks = [*weeks_to_read(project, now), *([project.latest_closed_week] if project.latest_closed_week else [])]
        wanted |= Q(project_id=project.pk, week__in=weeks)
    cycles: dict[int, dict[date, ReviewCycle]] = defaultdict(dict)
    # `.order_by()`: the default ordering (by project, hence its slug) would join labeling_project for nothing.
    # `closed_in_time_zone`: the week before's bounds, as `calendar.week_span` reads them (a rubric notice's week).
    for cycle in ReviewCycle.objects.filter(wanted).order_by().only(*CYCLE_FIELDS, "closed_in_time_zone"):
        cycles[cycle.project_id][cycle.week] = cycle
    return cycles
