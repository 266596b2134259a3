"""The weeks beat leaves open holding review items, for the leads of their projects (the home page's card and the
project page): no close will read those items, so their figures go into no report until a lead closes the week.

Which weeks, and why, is `rules.weekly_close` (`beat_closes`, `why_left_open`); this module only finds the weeks that
hold items. What a page load reads: one range of the cycles' (project, week) index, from the week the project was
created in up to where beat closes (its closed weeks: those not closed are the gaps between them, found without a
probe per calendar week), and, for each week in those gaps, the items' (queue, week) index of its queues until one
holds an item; before that week, one probe of that index per queue, and one more per distinct week found there
(normally none); and, in the oldest week of each reason, its items up to COUNTED_UP_TO + 1 (pages say "over" past
COUNTED_UP_TO). Not the project's items otherwise: a page load does not grow with them, nor with the project's age
beyond that one range (150 closed weeks: a few index pages), only with its weeks left open.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection
from django.db.models import OuterRef, Q, QuerySet, Subquery
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

# The oldest left-open week's review items are counted up to this many (+1, to know there are more): a week of
# imported history may hold any number, and a page load reads no more of them.
COUNTED_UP_TO = 1000

logger = logging.getLogger(__name__)


def closed_weeks_newest_first(project: Project | OuterRef) -> QuerySet:
    """The project's closed weeks, newest first (`values("week")`): its first is the latest closed week, one backward
    probe of the cycles' (project, week) index."""
    closed = ReviewCycle.objects.filter(project_id=project if isinstance(project, OuterRef) else project.pk)
    return closed.filter(status=CycleStatus.CLOSED).order_by("-week").values("week")


def latest_closed_week(project: Project | OuterRef) -> Subquery:
    """The project's latest closed week (None before its first close), as an annotation of projects
    (`OuterRef("pk")`) or, for a project, a query's initial plan (`selectors.report.latest_closed_week` reads it)."""
    return Subquery(closed_weeks_newest_first(project)[:1])


def close_cycles(projects: list[Project]) -> dict[int, dict[date, ReviewCycle]]:
    """By project and week, the cycles whether beat closes a week depends on (`beat_reads`): each project's open ones
    whose close failed (FAILED_CLOSE) and its latest closed one. One query."""
    cycles: dict[int, dict[date, ReviewCycle]] = defaultdict(dict)
    wanted = Q(FAILED_CLOSE, project_id__in=[project.pk for project in projects])
    for project in projects:
        wanted |= Q(project_id=project.pk, week=latest_closed_week(project))
    for cycle in ReviewCycle.objects.filter(wanted).order_by().only("project_id", "week", "status", "failure_kind"):
        cycles[cycle.project_id][cycle.week] = cycle
    return cycles


def beat_reads(project: Project, cycles: dict[date, ReviewCycle], now: datetime) -> tuple[dict, set[date]]:
    """What `rules.weekly_close.beat_closes` reads of the project at `now`, from its cycles (at least `close_cycles`'):
    its `created`, `last_due` and `latest_closed` weeks, and the weeks whose close failed."""
    latest_closed = max((week for week, cycle in cycles.items() if cycle.is_closed), default=None)
    failed = {week for week, cycle in cycles.items() if not cycle.is_closed and cycle.failure_kind == "close"}
    read = {"created": created_week(project), "last_due": last_due_week(project, now), "latest_closed": latest_closed}
    return read, failed


@dataclass(frozen=True)
class WeeksLeftToALead:
    """A project's weeks beat leaves open for one reason (`rules.weekly_close.why_left_open`) holding review items,
    none of them closed: (week, its items) each, oldest first, the one a lead is sent to close (its items counted up
    to COUNTED_UP_TO + 1; the later ones' are not counted: None)."""

    reason: LeftOpen
    weeks: tuple[tuple[date, int | None], ...]

    @property
    def week(self) -> date:
        return self.weeks[0][0]

    @property
    def items(self) -> int:
        """The oldest week's review items, up to COUNTED_UP_TO (`more_items`: it holds more)."""
        return min(self.weeks[0][1], COUNTED_UP_TO)

    @property
    def more_items(self) -> bool:
        return self.weeks[0][1] > COUNTED_UP_TO

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
        cycles = close_cycles(projects)
    closes, bounds, skip = {}, [], []
    for project in projects:
        read, failed = beat_reads(project, cycles.get(project.pk, {}), now)
        bound = beat_leaves_open_before(**read)
        closes[project.pk] = (read, failed)
        # Where `why_left_open` turns from BEFORE_THE_PROJECT to the other reasons: `left_to_a_lead` leaves to a lead
        # the weeks before the created one (never before the bound, which is not before it). The query counts items in
        # the oldest week on each side; the weeks before it lie wherever outputs were dated, those from it on the grid.
        split = read["created"]
        bounds.append((project.pk, split, bound))
        # Below the bound, beat closes only the weeks whose failed close it retries: the query leaves them out, so the
        # oldest week it counts items in is one a lead is told of.
        skip += [(project.pk, week) for week in failed if week < bound and _beat_closes(week, read, failed)]
    found: dict[int, dict[LeftOpen, list[tuple[date, int | None]]]] = defaultdict(lambda: defaultdict(list))
    for project_id, week, items in _open_weeks_with_items(bounds, skip):
        read, failed = closes[project_id]
        if not _beat_closes(week, read, failed):
            reason = why_left_open(week, created=read["created"], latest_closed=read["latest_closed"])
            found[project_id][reason].append((week, items))
    told: dict[int, tuple[WeeksLeftToALead, ...]] = {}
    for project_id, by_reason in found.items():
        groups = []
        for reason, weeks in by_reason.items():
            if weeks[0][1] is None:
                # The query counts the oldest week of each reason; a page would say "holds 0 review items" of it. A
                # lead's landing page must not fail for a notice: logged, for the next reader of this query.
                logger.error(
                    "Weeks left open: the items of %s's oldest week %s were not counted", project_id, weeks[0][0]
                )
                continue
            groups.append(WeeksLeftToALead(reason=reason, weeks=tuple(weeks)))
        if groups:
            told[project_id] = tuple(sorted(groups, key=lambda left: left.week))
    return told


def _beat_closes(week: date, read: dict, failed: set[date]) -> bool:
    return beat_closes(week, **read, failed=week in failed)


def _open_weeks_with_items(
    bounds: list[tuple[int, date, date]], skip: list[tuple[int, date]]
) -> list[tuple[int, date, int | None]]:
    """(project id, week, its items) of each week before the project's bound (project id, split, bound) holding items,
    not closed, and not in `skip`, by project and week; items counted only in the oldest such week before the split
    and the oldest from it on (else None), at most COUNTED_UP_TO + 1 of them. One query.

    Weeks before the split (the project's created week) may be any weeks outputs were dated in: their distinct weeks
    come from each queue's (queue, week) index, one probe per week found (a recursive CTE: each step asks for the
    first week after the one found, below the split), normally none at all. From the split on, weeks lie on the
    project's calendar (its week start cannot change once anything is counted: `services.projects._calendar_problems`),
    so the weeks not closed are those between two closed ones, read in one range of the cycles' (project, week) index
    per project (a join the planner runs as one index scan per project, whatever the project's age), enumerated 7 days
    apart; only those not skipped ask the items' (queue, week) index, through the project's queues, whether they hold
    any. A project whose every week closed reads its closed weeks once, no item and no probe per week. The
    oldest week of each part reads its items up to the cap on the same index."""
    item, queue, cycle = Item._meta.db_table, Queue._meta.db_table, ReviewCycle._meta.db_table
    adapt = connection.ops.adapt_datefield_value
    sqlite = connection.vendor == "sqlite"
    next_week = "date(week, '+7 days')" if sqlite else "week + 7"
    on_grid = (
        "CAST(julianday(c.week) - julianday(b.split) AS INTEGER) %% 7 = 0" if sqlite else "(c.week - b.split) %% 7 = 0"
    )
    gap_start = "coalesce(date(closed_before, '+7 days'), split)" if sqlite else "coalesce(closed_before + 7, split)"
    values = ", ".join(["(%s, %s, %s)"] * len(bounds))
    params: list = [value for pk, split, bound in bounds for value in (pk, adapt(split), adapt(bound))]
    params += [CycleStatus.CLOSED, CycleStatus.CLOSED]
    skipped = "".join(" AND NOT (w.project_id = %s AND w.week = %s)" for _ in skip)
    params += [value for project_id, week in skip for value in (project_id, adapt(week))]
    params.append(COUNTED_UP_TO + 1)
    sql = f"""
        WITH RECURSIVE bounds (project_id, split, bound) AS (VALUES {values}),
        queues (queue_id, project_id, split) AS (
            SELECT q.id, b.project_id, b.split FROM {queue} q JOIN bounds b ON b.project_id = q.project_id
        ),
        walked (project_id, queue_id, split, week) AS (
            SELECT queues.project_id, queues.queue_id, queues.split, (
                SELECT i.week FROM {item} i WHERE i.queue_id = queues.queue_id AND i.week < queues.split
                ORDER BY i.week LIMIT 1
            ) FROM queues
            UNION ALL
            SELECT w.project_id, w.queue_id, w.split, (
                SELECT i.week FROM {item} i WHERE i.queue_id = w.queue_id AND i.week > w.week AND i.week < w.split
                ORDER BY i.week LIMIT 1
            ) FROM walked w WHERE w.week IS NOT NULL
        ),
        closed (project_id, split, week) AS (
            SELECT b.project_id, b.split, c.week FROM bounds b JOIN {cycle} c
            ON c.project_id = b.project_id AND c.week >= b.split AND c.week < b.bound AND c.status = %s
            -- Only a closed week on the project's calendar is an edge: the gaps are walked 7 days from each one, so
            -- one off it (imported, or older than a week start's change) would hide every week up to the next edge.
            AND {on_grid}
        ),
        edges (project_id, split, week, closed_before) AS (
            -- Each closed week, and the bound, with the closed week before it (none: the split is where to start).
            SELECT project_id, split, week, lag(week) OVER (PARTITION BY project_id ORDER BY week) FROM (
                SELECT project_id, split, week FROM closed
                UNION ALL
                SELECT project_id, split, bound FROM bounds WHERE split < bound
            ) e
        ),
        calendar (project_id, week, gap_end) AS (
            -- The weeks between two edges: those not closed.
            SELECT project_id, {gap_start}, week FROM edges WHERE {gap_start} < week
            UNION ALL
            SELECT project_id, {next_week}, gap_end FROM calendar WHERE {next_week} < gap_end
        ),
        candidates (project_id, week, before_split) AS (
            SELECT project_id, week, 1 FROM (SELECT DISTINCT project_id, week FROM walked WHERE week IS NOT NULL) d
            UNION ALL
            SELECT project_id, week, 0 FROM calendar
        ),
        held (project_id, week, before_split) AS (
            -- A week before the split asks its cycle whether it is closed; one of the calendar is not, and asks the
            -- items whether it holds any. Scalar subqueries in a CASE: the planner hashes neither table.
            SELECT w.project_id, w.week, w.before_split FROM candidates w
            WHERE CASE
                WHEN w.before_split = 1 THEN CASE WHEN (
                    SELECT c.id FROM {cycle} c WHERE c.project_id = w.project_id AND c.week = w.week AND c.status = %s
                ) IS NULL THEN 1 ELSE 0 END
                WHEN (
                    SELECT i.id FROM {item} i JOIN {queue} q ON q.id = i.queue_id
                    WHERE q.project_id = w.project_id AND i.week = w.week LIMIT 1
                ) IS NULL THEN 0
                ELSE 1
            END = 1{skipped}
        ),
        ranked AS (
            SELECT h.project_id, h.week,
                row_number() OVER (PARTITION BY h.project_id, h.before_split ORDER BY h.week) AS nth
            FROM held h
        )
        SELECT r.project_id, r.week, CASE WHEN r.nth = 1 THEN (
            SELECT count(*) FROM (
                SELECT 1 FROM {item} i JOIN {queue} q ON q.id = i.queue_id
                WHERE q.project_id = r.project_id AND i.week = r.week LIMIT %s
            ) capped
        ) END
        FROM ranked r ORDER BY r.project_id, r.week
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            (project_id, date.fromisoformat(week) if isinstance(week, str) else week, items)
            for project_id, week, items in cursor.fetchall()
        ]
