"""Reads of the stored weekly metric rows over a range of cycle weeks, as plain dicts: the dashboards' series,
the weekly report's pooled pass-rate trend, and the week range every reader asks for (dashboard and API).

Rows come from the tables a week's close (or a refresh) wrote, never from labels, except the running week's
throughput, counted now from its items as the home page counts them. Each function runs a fixed number of queries
(its docstring says how many) whatever the number of weeks, queues, questions or experts; weeks are the cycles' first
days and a `WeekRange` includes both ends. A row says whether its week is closed: only a close makes figures final.
Rates and intervals are pooled here, in Python, from the stored counts (a pooled pass rate is passes / n over the
queues, with its own Wilson interval).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from django.db.models import Count, Exists, IntegerField, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.exceptions import InvalidInput
from labeling.metrics.quality import wilson_interval
from labeling.metrics.retention import mean_curves
from labeling.models import (
    AgreementMetric,
    CycleStatus,
    Item,
    ItemStatus,
    Label,
    Output,
    Project,
    QualityMetric,
    Queue,
    QueueWeek,
    RetentionCell,
    ReviewCycle,
    week_label,
)
from labeling.rules.calendar import created_week, current_week, cycle_week, week_end, week_start
from labeling.rules.paused import expecting_work
from labeling.rules.weekly_close import LeftOpen, beat_closes, why_left_open
from labeling.selectors.left_open import beat_reads, close_cycles

# The range a dashboard or the metrics API shows when none is asked for, and the longest one it reads.
DEFAULT_WEEKS = 12
MAX_WEEKS = 104
RETENTION_OFFSETS = 8


@dataclass(frozen=True)
class WeekRange:
    """Cycle weeks `first` to `last`, both included, given as their first days."""

    first: date
    last: date

    @property
    def weeks(self) -> int:
        return (self.last - self.first).days // 7 + 1

    def each(self) -> list[date]:
        """Return every week of the range, oldest first."""
        return [self.first + timedelta(weeks=n) for n in range(self.weeks)]


def first_week_of_the_project(project: Project) -> date:
    """The project's first week: the one it was created in, or an earlier one holding its outputs (sent with older
    dates), routed into review items or not yet: items are queued in their outputs' weeks, and a week of outputs has
    its changes and themes. The weeks before it ended before the project and hold nothing of it
    (`selectors.report.within_the_project`). One query, on indexes led by the project."""
    created = created_week(project)
    items = Item.objects.filter(project=project, week__lt=created)
    outputs = Output.objects.filter(project=project, occurred_at__lt=week_start(project, created))
    earlier = Project.objects.filter(pk=project.pk).values(
        item_week=Subquery(_earliest(items, "week")), output_at=Subquery(_earliest(outputs, "occurred_at"))
    )[0]
    weeks = [created, earlier["item_week"]]
    if earlier["output_at"] is not None:
        weeks.append(cycle_week(project, earlier["output_at"]))
    return min(week for week in weeks if week is not None)


def _earliest(rows: QuerySet, field: str) -> QuerySet:
    """The rows' smallest `field`, as a one-value subquery."""
    return rows.order_by().values("project").annotate(earliest=Min(field)).values("earliest")


def week_range(*, project: Project, first: date | None = None, last: date | None = None) -> WeekRange:
    """The weeks asked for: `last` defaults to the current week, `first` to `DEFAULT_WEEKS` weeks up to `last`, but
    no earlier than the project's first week (nor later than `last`): a young project's range is its own weeks.

    Raises InvalidInput when `first` is after `last` or the range spans more than `MAX_WEEKS` weeks.
    """
    last = last or current_week(project)
    if first is None:
        first = last - timedelta(weeks=DEFAULT_WEEKS - 1)
        # The project's first week is never after the week it was created in: older projects need no query.
        if first < created_week(project):
            first = min(max(first, first_week_of_the_project(project)), last)
    if first > last:
        raise InvalidInput(f"`from` ({week_label(first)}) is after `to` ({week_label(last)}).")
    weeks = WeekRange(first=first, last=last)
    if weeks.weeks > MAX_WEEKS:
        raise InvalidInput(f"Ask for {MAX_WEEKS} weeks at most; {weeks.weeks} weeks from `from` to `to`.")
    return weeks


class WeekState(StrEnum):
    """What a week's figures are: final once its close froze them, else still moving (or nothing of the project)."""

    CLOSED = "closed"  # its close froze them
    RUNNING = "running"  # the current week: counted now, or as the last refresh computed them
    NOT_CLOSED = "not closed"  # over, not closed yet: as the last refresh computed them, if one did
    NOT_STARTED = "not started"
    BEFORE_PROJECT = "before the project"  # ended before the project's first week (`first_week_of_the_project`)


def week_states(*, project: Project, weeks: WeekRange) -> dict[date, WeekState]:
    """Each week of the range and what its figures are. One query, three when the range starts before the week the
    project was created in."""
    closed = set(
        ReviewCycle.objects.filter(
            project=project, status=CycleStatus.CLOSED, week__range=(weeks.first, weeks.last)
        ).values_list("week", flat=True)
    )
    running = current_week(project)
    first, created = weeks.first, created_week(project)
    holding = set()
    if first < created:
        first = first_week_of_the_project(project)
        # A week before the one the project was created in holds its outputs (sent with older dates) or review work, or
        # it is a week before the project as its meeting page says, with nothing to close (`has_something_to_close`).
        holding = weeks_holding_work(project, [week for week in weeks.each() if first <= week < created])
    states = {}
    for week in weeks.each():
        if week in closed:
            states[week] = WeekState.CLOSED
        elif week == running:
            states[week] = WeekState.RUNNING
        elif week > running:
            states[week] = WeekState.NOT_STARTED
        elif week < first or (week < created and week not in holding):
            states[week] = WeekState.BEFORE_PROJECT
        else:
            states[week] = WeekState.NOT_CLOSED
    return states


def weeks_holding_work(project: Project, weeks: list[date]) -> set[date]:
    """Of these weeks, those holding the project's outputs (by the moments they were sent with) or review items. One
    query, none for no week."""
    if not weeks:
        return set()
    checks = {}
    for n, week in enumerate(weeks):
        sent = Output.objects.filter(
            project=project, occurred_at__gte=week_start(project, week), occurred_at__lt=week_end(project, week)
        )
        checks[f"sent_{n}"] = Exists(sent)
        checks[f"items_{n}"] = Exists(Item.objects.filter(project=project, week=week))
    found = Project.objects.filter(pk=project.pk).values(**checks).get()
    return {week for n, week in enumerate(weeks) if found[f"sent_{n}"] or found[f"items_{n}"]}


def not_final_weeks(*, project: Project, weeks: list[date]) -> set[date]:
    """Of these cycle weeks (their first days), those whose figures no close has frozen (`week_states`): a trend's
    points the charts draw dotted, as they may still change. One query, three when they start before the week the
    project was created in."""
    if not weeks:
        return set()
    states = week_states(project=project, weeks=WeekRange(min(weeks), max(weeks)))
    return {week for week in weeks if states.get(week) != WeekState.CLOSED}


def week_closed() -> Exists:
    """Whether a metric row's week is closed (an annotation, no query of its own): its close froze the row's figures,
    which no refresh changes again. Until then the row is provisional, the running week's above all."""
    return Exists(
        ReviewCycle.objects.filter(project=OuterRef("project"), week=OuterRef("week"), status=CycleStatus.CLOSED)
    )


def week_status(closed: bool) -> str:
    """A row's `week_status` in the metrics API: the status of its week's cycle, as a report's `status` says it."""
    return CycleStatus.CLOSED.value if closed else CycleStatus.OPEN.value


def quality_series(
    *, project: Project, weeks: WeekRange, queue_slug: str | None = None, question: str | None = None
) -> list[dict]:
    """Quality rows per week, queue and question (oldest first), optionally for one queue and/or question, each with
    its `week_status` (`week_closed`)."""
    rows = QualityMetric.objects.filter(project=project, week__range=(weeks.first, weeks.last))
    if queue_slug is not None:
        rows = rows.filter(queue__slug=queue_slug)
    if question is not None:
        rows = rows.filter(question=question)
    fields = ("week", "question", "kind", "n", "passes", "value", "ci_low", "ci_high", "shares", "scale")
    return [
        {
            "week": week_label(row["week"]),
            "week_start": row["week"].isoformat(),
            "queue": row["queue__slug"],
            "queue_name": row["queue__name"],
            **{key: row[key] for key in fields[1:]},
            "week_status": week_status(row["closed"]),
        }
        for row in rows.order_by("week", "queue__slug", "question")
        .annotate(closed=week_closed())
        .values(*fields, "queue__slug", "queue__name", "closed")
    ]


def pooled_trend(rows: list[dict], *, question: str, weeks: WeekRange) -> list[dict]:
    """One point per week of the range for `question`, queues pooled (no query; `rows` from quality_series).

    Binary: pass rate = passes / n with its Wilson 95% interval. Rating: the item-weighted mean of the
    queues' means (no interval: the stored rows do not hold the spread of the pooled items). Weeks
    without rows get a point with value None, so charts show the gap. A point whose question was asked otherwise than
    at the point measured before it (its rows' `scale`: a rating rescaled from 1-5 to 1-3) has `scale_changed`: a
    chart starts a new line there rather than join means that do not compare. A week's rows are computed together,
    under one rubric; rows stored before scales were recorded ("") are taken to be asked alike.
    """
    pooled: dict[str, dict] = {}
    for row in rows:
        if row["question"] != question or not row["n"]:
            continue
        cell = pooled.setdefault(
            row["week"], {"kind": row["kind"], "n": 0, "passes": 0, "total": 0.0, "queues": 0, "source": row}
        )
        cell["n"] += row["n"]
        cell["passes"] += row["passes"] or 0
        cell["total"] += (row["value"] or 0.0) * row["n"]
        cell["queues"] += 1
    trend = []
    asked = ""  # how the question was asked at the last point measured
    for week in weeks.each():
        label = week_label(week)
        point = {"week": label, "week_start": week.isoformat(), "value": None, "ci_low": None, "ci_high": None,
                 "n": 0, "passes": None}  # fmt: skip
        cell = pooled.get(label)
        scale = cell["source"].get("scale", "") if cell else ""
        if scale:
            if asked and scale != asked:
                point["scale_changed"] = True
            asked = scale
        if cell and cell["kind"] == "binary":
            low, high = wilson_interval(cell["passes"], cell["n"])
            point.update(value=cell["passes"] / cell["n"], ci_low=low, ci_high=high, n=cell["n"], passes=cell["passes"])
        elif cell and cell["queues"] == 1:
            # One queue: its stored mean and Student-t interval are exact.
            source = cell["source"]
            point.update(value=source["value"], ci_low=source["ci_low"], ci_high=source["ci_high"], n=cell["n"])
        elif cell:
            point.update(value=cell["total"] / cell["n"], n=cell["n"])
        trend.append(point)
    return trend


def agreement_series(*, project: Project, weeks: WeekRange, question: str | None = None) -> list[dict]:
    """Agreement rows per week and question (oldest first), optionally for one question."""
    rows = AgreementMetric.objects.filter(project=project, week__range=(weeks.first, weeks.last))
    if question is not None:
        rows = rows.filter(question=question)
    fields = ("question", "kind", "level", "alpha", "alpha_interval", "fleiss_kappa", "cohen_kappa",
              "units", "labels", "experts")  # fmt: skip
    return [
        {"week": week_label(row["week"]), "week_start": row["week"].isoformat(), **{key: row[key] for key in fields}}
        for row in rows.order_by("week", "question").values("week", *fields)
    ]


def beat_leaves_open(project: Project, now: datetime | None = None) -> Callable[[date], LeftOpen | None]:
    """None for a week the weekly close will still close by itself (`rules.weekly_close.beat_closes`, which beat's
    sweep asks too), else why it will not (`why_left_open`): a week over and not closed stays so until a lead closes
    it. One query."""
    read, failed = beat_reads(project, close_cycles([project]).get(project.pk, {}), now or timezone.now())

    def leaves_open(week: date) -> LeftOpen | None:
        if beat_closes(week, **read, failed=week in failed):
            return None
        return why_left_open(week, created=read["created"], latest_closed=read["latest_closed"])

    return leaves_open


def throughput_series(*, project: Project, weeks: WeekRange, queue_slug: str | None = None) -> list[dict]:
    """Labels done against labels wanted, items against quota, and backlog per week (queues summed).

    The quota is summed over the queues that have one (None when none has), with `queues_with_quota` of `queues`
    and `items_in_quota_queues`, the items it caps, as in the weekly report's headline. A queue paused now is
    left out of the running week, as on the platform page and the meeting page (`rules.paused.expects_work`).
    The running week is counted now from its items and labels (`running_week_throughput`), as the home page counts
    it; the other weeks are read from their stored rows. Each row has its week's `state` (`week_states`), whether
    any figure was `counted` for it (a week over but never refreshed nor closed has none), and whether it is
    `left_open`: not closed, and no close of beat's will close it: why (`beat_leaves_open`), else None. Four queries
    (six when the range starts before the project was created).
    """
    running = current_week(project)
    rows = QueueWeek.objects.filter(
        expecting_work(running), project=project, week__range=(weeks.first, weeks.last)
    ).exclude(week=running)
    if queue_slug is not None:
        rows = rows.filter(queue__slug=queue_slug)
    sums = {
        row["week"]: row
        for row in rows.order_by("week")
        .values("week")
        .annotate(
            queues=Count("pk"),
            queues_with_quota=Count("quota"),  # before `quota` names the sum
            items_in_quota_queues=Sum("items", filter=Q(quota__isnull=False)),  # before `items` names the sum
            labels=Sum("labels"),
            labels_wanted=Sum("labels_wanted"),
            items=Sum("items"),
            items_complete=Sum("items_complete"),
            quota=Sum("quota"),
            backlog=Sum("backlog"),
        )
    }
    if weeks.first <= running <= weeks.last:
        sums[running] = running_week_throughput(project=project, week=running, queue_slug=queue_slug)
    states = week_states(project=project, weeks=weeks)
    leaves_open = beat_leaves_open(project)
    series = []
    for week in weeks.each():
        row = sums.get(week, {})
        series.append(
            {
                "week": week_label(week),
                "week_start": week.isoformat(),
                "state": states[week],
                # Over, not closed, and not a week beat closes: it stays so until a lead closes it by hand.
                "left_open": leaves_open(week) if states[week] == WeekState.NOT_CLOSED else None,
                "counted": week in sums,
                **{key: row.get(key) or 0 for key in ("labels", "labels_wanted", "items", "items_complete", "backlog")},
                "quota": row.get("quota"),  # SUM skips the queues without one; None when no queue has one
                **{key: row.get(key) or 0 for key in ("queues", "queues_with_quota", "items_in_quota_queues")},
            }
        )
    return series


def running_week_throughput(*, project: Project, week: date, queue_slug: str | None = None) -> dict:
    """The running week's `throughput_series` sums, counted now as a refresh stores each queue's row
    (`queue_week_figures`): the items placed in the week (what the home page shows), those complete, the labels they
    want and have, each queue's backlog; paused queues left out. One query."""
    queues = Queue.objects.filter(project=project, is_active=True)
    if queue_slug is not None:
        queues = queues.filter(slug=queue_slug)
    sums = {"queues": 0, "queues_with_quota": 0, "items_in_quota_queues": 0, "quota": None}
    sums |= dict.fromkeys(QUEUE_WEEK_COUNTS, 0)
    for queue in queue_week_figures(project=project, week=week, queues=queues):
        sums["queues"] += 1
        for key in QUEUE_WEEK_COUNTS:
            sums[key] += queue[key]
        if queue["quota"] is not None:
            sums["queues_with_quota"] += 1
            sums["items_in_quota_queues"] += queue["items"]
            sums["quota"] = (sums["quota"] or 0) + queue["quota"]
    return sums


# A queue's week counted from its items and labels: the QueueWeek fields `queue_week_figures` gives, besides its quota.
QUEUE_WEEK_COUNTS = ("items", "items_complete", "labels_wanted", "labels", "backlog")


def queue_week_figures(
    *,
    project: Project,
    week: date,
    queues: QuerySet[Queue] | None = None,
    labels_by_queue: dict[int, int] | None = None,
) -> list[dict]:
    """Each queue's throughput in a cycle week, counted from its items and labels: the one rule behind the rows a
    refresh or a close stores (`services.metrics`) and the running week's live sums.

    Per queue (of `queues`, by default all the project's), in pk order: `queue_id`, `quota` (its weekly quota now),
    the `items` placed in the week, `items_complete`, the `labels_wanted` (their overlaps), the `labels` on them
    (`Label.objects.on_items_of_week`) and the `backlog` (labels still wanted, never below 0). A queue without items
    that week is left out, as a refresh stores no row for it, unless it holds a quota (active, made before the week
    ended): a quota nothing was placed against is still one, 0 placed, not "no quota". One query.

    `labels_by_queue`: the labels per queue as a caller already read them (a refresh, whose per-expert rows and
    medians come from that read), so the stored rows agree with each other on a label committed meanwhile.
    """
    placed = Item.objects.filter(queue=OuterRef("pk"), week=week)
    queues = Queue.objects.filter(project=project) if queues is None else queues
    counts = {
        "placed": _counted(placed, "queue"),
        "complete": _counted(placed.filter(status=ItemStatus.COMPLETE), "queue"),
        "wanted": _counted(placed, "queue", Sum("overlap")),
    }
    if labels_by_queue is None:
        counts["done"] = _counted(
            Label.objects.on_items_of_week(week).filter(item__queue=OuterRef("pk")), "item__queue"
        )
    holds_a_quota = Q(weekly_quota__isnull=False, is_active=True, created_at__lt=week_end(project, week))
    figures = (
        queues.order_by("pk").values("pk", "weekly_quota").annotate(**counts).filter(Q(placed__gt=0) | holds_a_quota)
    )
    rows = []
    for queue in figures:
        done = queue["done"] if labels_by_queue is None else labels_by_queue.get(queue["pk"], 0)
        rows.append(
            {
                "queue_id": queue["pk"],
                "quota": queue["weekly_quota"],
                "items": queue["placed"],
                "items_complete": queue["complete"],
                "labels_wanted": queue["wanted"],
                "labels": done,
                "backlog": max(queue["wanted"] - done, 0),
            }
        )
    return rows


def _counted(rows, group_by: str, aggregate=None) -> Coalesce:
    """COUNT(*) (or `aggregate`) of a correlated subquery of one queue's rows, 0 when it has none."""
    figure = rows.order_by().values(group_by).annotate(n=aggregate or Count("pk")).values("n")[:1]
    return Coalesce(Subquery(figure, output_field=IntegerField()), Value(0))


def figures_refreshed_at(*, project: Project, week: date) -> datetime | None:
    """When a refresh last recomputed the week's figures, as kept on its cycle (it outlives the refresh's outbox row).
    None when none did, or when a refresh failed since: the rows may then be part old, part new. One query."""
    cycle = (
        ReviewCycle.objects.filter(project=project, week=week)
        .values("figures_refreshed_at", "failure_kind", "failed_at")
        .first()
    )
    if cycle is None or cycle["figures_refreshed_at"] is None:
        return None
    if cycle["failure_kind"] == "refresh" and cycle["failed_at"] >= cycle["figures_refreshed_at"]:
        return None
    return cycle["figures_refreshed_at"]


@dataclass(frozen=True)
class Freshness:
    """When an open week's figures were computed (None: no finished refresh is recorded) and how many labels on its
    items were saved (made or edited) after that, which the figures leave out."""

    refreshed_at: datetime | None
    labels_since: int


def figures_freshness(*, project: Project, week: date) -> Freshness:
    """How current the week's stored figures are (two queries): a lead must not read stale zeros as the truth.

    Without a recorded refresh every label of the week counts as saved since: the figures may leave them all out."""
    refreshed_at = figures_refreshed_at(project=project, week=week)
    labels = Label.objects.filter(item__project=project).on_items_of_week(week)
    if refreshed_at is not None:
        labels = labels.filter(updated_at__gt=refreshed_at)
    return Freshness(refreshed_at=refreshed_at, labels_since=labels.count())


@dataclass(frozen=True)
class RangeRetention:
    """The retention curves of a range's cohorts, and its first cohort ({"cohort_week": label, "users"}, None without
    one): a chart without curves says that cohort is still running rather than that nobody was seen."""

    curves: dict[str, list[dict]]
    first_cohort: dict | None


def retention_curves(*, project: Project, weeks: WeekRange, offsets: int = RETENTION_OFFSETS) -> RangeRetention:
    """Retention curves of the cohorts first active in the range, per segment ("all", "pass", "fail"), and the first
    of those cohorts (one query).

    Each point {"offset", "rate", "returned", "users", "cohorts"} is the cohort-size-weighted mean over
    complete cells only (a week still running is left out); offsets with no complete cell are omitted.
    """
    # Cells past `offsets` are never averaged: leave them in the database.
    cells = list(
        RetentionCell.objects.filter(
            project=project, cohort_week__range=(weeks.first, weeks.last), offset__lt=offsets
        ).values("segment", "cohort_week", "offset", "cohort_users", "active_on", "active_on_or_after", "incomplete")
    )
    return RangeRetention(curves=mean_curves(cells, offsets=offsets), first_cohort=first_cohort(cells))


def first_cohort(cells: list[dict]) -> dict | None:
    """The earliest cohort of these retention cells with users, as {"cohort_week": label, "users"} (no query)."""
    firsts = [cell for cell in cells if cell["segment"] == "all" and cell["offset"] == 0 and cell["cohort_users"]]
    if not firsts:
        return None
    first = min(firsts, key=lambda cell: cell["cohort_week"])
    return {"cohort_week": week_label(first["cohort_week"]), "users": first["cohort_users"]}


def latest_agreement(rows: list[dict]) -> list[dict]:
    """The agreement rows of the latest week that has any (no query; `rows` from agreement_series)."""
    if not rows:
        return []
    last = max(row["week_start"] for row in rows)
    return [row for row in rows if row["week_start"] == last]
