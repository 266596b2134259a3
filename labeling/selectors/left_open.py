"""The weeks beat leaves open holding review items, for the leads of their projects (the home page's card and the
project page): no close will read those items, so their figures go into no report until a lead closes the week.

Which weeks, and why, is `rules.weekly_close` (`beat_closes`, `why_left_open`); this module only finds the weeks that
hold items, in a read that grows with a project's weeks, not its items: the items' (queue, week) index is walked one
distinct week at a time (a recursive "loose index scan"), and items are counted in the oldest week of each reason only.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from labeling.models import CycleStatus, Item, Project, Queue, ReviewCycle
from labeling.rules.calendar import created_week
from labeling.rules.weekly_close import (
    FAILED_CLOSE,
    LeftOpen,
    beat_closes,
    beat_leaves_open_before,
    last_due_week,
    why_left_open,
)


def latest_closed_week(project: Project | OuterRef) -> Subquery:
    """The project's latest closed week (None before its first close): one backward probe of the cycles' (project,
    week) index, as an annotation of projects (`OuterRef("pk")`) or, for a project, a query's initial plan."""
    closed = ReviewCycle.objects.filter(project_id=project if isinstance(project, OuterRef) else project.pk)
    return Subquery(closed.filter(status=CycleStatus.CLOSED).order_by("-week").values("week")[:1])


@dataclass(frozen=True)
class WeeksLeftToALead:
    """A project's weeks beat leaves open for one reason (`rules.weekly_close.why_left_open`) holding review items,
    none of them closed: (week, its items) each, oldest first, the one a lead is sent to close (the items of the
    later ones are not counted: None)."""

    reason: LeftOpen
    weeks: tuple[tuple[date, int | None], ...]

    @property
    def week(self) -> date:
        return self.weeks[0][0]

    @property
    def items(self) -> int:
        return self.weeks[0][1] or 0

    @property
    def later_weeks(self) -> int:
        return len(self.weeks) - 1

    @property
    def key(self) -> str:
        """The notice's id and class: weeks-before-the-project, weeks-behind-a-closed-week, …"""
        return "weeks-" + self.reason.replace("_", "-")


def weeks_left_to_a_lead(
    projects: list[Project],
    *,
    cycles: dict[int, dict[date, ReviewCycle]] | None = None,
    now: datetime | None = None,
) -> dict[int, tuple[WeeksLeftToALead, ...]]:
    """By project id, the weeks of each project beat leaves open (`rules.weekly_close.beat_closes` False) holding
    review items, by reason, oldest reason first; a project without any is absent. `cycles`: by project and week,
    at least each project's FAILED_CLOSE ones and its latest closed one (the home page's); else one query reads them.
    Then one query, none for no project."""
    if not projects:
        return {}
    now = now or timezone.now()
    if cycles is None:
        cycles = defaultdict(dict)
        wanted = Q(FAILED_CLOSE, project_id__in=[project.pk for project in projects])
        for project in projects:
            wanted |= Q(project_id=project.pk, week=latest_closed_week(project))
        for cycle in ReviewCycle.objects.filter(wanted).order_by().only("project_id", "week", "status", "failure_kind"):
            cycles[cycle.project_id][cycle.week] = cycle
    closes, bounds, skip = {}, [], []
    for project in projects:
        mine = cycles.get(project.pk, {})
        latest_closed = max((week for week, cycle in mine.items() if cycle.is_closed), default=None)
        failed = {week for week, cycle in mine.items() if not cycle.is_closed and cycle.failure_kind == "close"}
        read = {"created": created_week(project), "last_due": last_due_week(project, now)}
        read["latest_closed"] = latest_closed
        bound = beat_leaves_open_before(**read)
        closes[project.pk] = (read, failed)
        bounds.append((project.pk, read["created"], bound))
        # Below the bound, beat closes only the weeks whose failed close it retries: the query leaves them out, so the
        # oldest week it counts items in is one a lead is told of.
        skip += [(project.pk, week) for week in failed if week < bound and _beat_closes(week, read, failed)]
    found: dict[int, dict[LeftOpen, list[tuple[date, int | None]]]] = defaultdict(lambda: defaultdict(list))
    for project_id, week, items in _open_weeks_with_items(bounds, skip):
        read, failed = closes[project_id]
        if not _beat_closes(week, read, failed):
            reason = why_left_open(week, created=read["created"], latest_closed=read["latest_closed"])
            found[project_id][reason].append((week, items))
    return {
        project_id: tuple(
            sorted(
                (WeeksLeftToALead(reason=reason, weeks=tuple(weeks)) for reason, weeks in by_reason.items()),
                key=lambda left: left.week,
            )
        )
        for project_id, by_reason in found.items()
    }


def _beat_closes(week: date, read: dict, failed: set[date]) -> bool:
    return beat_closes(week, **read, failed=week in failed)


def _open_weeks_with_items(
    bounds: list[tuple[int, date, date]], skip: list[tuple[int, date]]
) -> list[tuple[int, date, int | None]]:
    """(project id, week, its items) of each week before the project's bound (project id, its created week, bound)
    holding items, not closed, and not in `skip`, by project and week; items counted only in the oldest such week
    before the created week and the oldest from it on (else None). One query, whose cost grows with the projects'
    queues and weeks, not their items.

    The distinct weeks of each queue come from its (queue, week) index, one probe per week (a recursive CTE: each
    step asks for the first week after the one found, below the bound); a closed week drops out on its cycle's
    unique (project, week) index, probed per week (a scalar subquery, which the planner never turns into a hash of every
    project's closed cycles); the oldest ones count their items on the items' index."""
    item, queue, cycle = Item._meta.db_table, Queue._meta.db_table, ReviewCycle._meta.db_table
    adapt = connection.ops.adapt_datefield_value
    values = ", ".join(["(%s, %s, %s)"] * len(bounds))
    params: list = [value for pk, created, bound in bounds for value in (pk, adapt(created), adapt(bound))]
    params.append(CycleStatus.CLOSED)
    skipped = "".join(" AND NOT (w.project_id = %s AND w.week = %s)" for _ in skip)
    params += [value for project_id, week in skip for value in (project_id, adapt(week))]
    sql = f"""
        WITH RECURSIVE bounds (project_id, created, bound) AS (VALUES {values}),
        queues (queue_id, project_id, bound) AS (
            SELECT q.id, b.project_id, b.bound FROM {queue} q JOIN bounds b ON b.project_id = q.project_id
        ),
        weeks (project_id, queue_id, bound, week) AS (
            SELECT queues.project_id, queues.queue_id, queues.bound, (
                SELECT i.week FROM {item} i WHERE i.queue_id = queues.queue_id AND i.week < queues.bound
                ORDER BY i.week LIMIT 1
            ) FROM queues
            UNION ALL
            SELECT w.project_id, w.queue_id, w.bound, (
                SELECT i.week FROM {item} i WHERE i.queue_id = w.queue_id AND i.week > w.week AND i.week < w.bound
                ORDER BY i.week LIMIT 1
            ) FROM weeks w WHERE w.week IS NOT NULL
        ),
        open_weeks AS (
            SELECT w.project_id, w.week FROM (SELECT DISTINCT project_id, week FROM weeks WHERE week IS NOT NULL) w
            WHERE (
                SELECT c.id FROM {cycle} c WHERE c.project_id = w.project_id AND c.week = w.week AND c.status = %s
            ) IS NULL{skipped}
        ),
        ranked AS (
            SELECT o.project_id, o.week,
                row_number() OVER (PARTITION BY o.project_id, o.week < b.created ORDER BY o.week) AS nth
            FROM open_weeks o JOIN bounds b ON b.project_id = o.project_id
        )
        SELECT r.project_id, r.week, CASE WHEN r.nth = 1 THEN (
            SELECT count(*) FROM {item} i JOIN {queue} q ON q.id = i.queue_id
            WHERE q.project_id = r.project_id AND i.week = r.week
        ) END
        FROM ranked r ORDER BY r.project_id, r.week
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            (project_id, date.fromisoformat(week) if isinstance(week, str) else week, items)
            for project_id, week, items in cursor.fetchall()
        ]
