"""What the platform page and the usage export read: every project's stored weekly rows, side by side.

`platform_rows` answers with a fixed number of queries whatever the number of projects: one per table, each over
the few weeks shown (this week so far, the last week and the trend), never over outputs or labels. Each project's
weeks are its own (its time zone and cycle weekday), so rows are fetched for the union of those weeks and picked
per project in Python.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db.models import Max, OuterRef, Q, Subquery
from django.utils import timezone

from labeling.exceptions import InvalidInput, NotFound
from labeling.metrics.agreement import too_few_units
from labeling.metrics.changes import MIN_TOTAL
from labeling.metrics.quality import wilson_interval
from labeling.models import (
    AgreementMetric,
    Alert,
    DatasetVersion,
    IngestErrorDay,
    OperatorToken,
    Project,
    ProjectWeek,
    QualityMetric,
    QueueWeek,
    ReviewCycle,
    Rubric,
    Weekday,
)
from labeling.rules.access import visible_project
from labeling.rules.calendar import WEEK_YEARS, current_week, local_today, week_end, week_start
from labeling.rules.gold import verdict_question
from labeling.rules.paused import expects_work
from labeling.rules.weekly_close import CYCLE_FIELDS, FAILED_CLOSE, CloseStatus, close_status

from .alerts import open_alerts_by_project

TREND_WEEKS = 8  # the sparkline: the running week and the 7 before it
BASELINE_WEEKS = 4  # a week's outputs are compared with the mean of the 4 weeks before it
# A change needs a baseline of this many stored weeks: a project's first week is mostly a part of one (it began on some
# day of it, or holds a few backdated outputs), and one week alone is its own noise, not a pace. And of MIN_TOTAL
# outputs in all, the least "what changed" compares a volume against: against a mean of 1, 21 outputs read "+2000%".
MIN_BASELINE_WEEKS = 2
INGEST_ERROR_DAYS = 7


@dataclass(frozen=True)
class QueueProgress:
    name: str
    labels: int
    labels_wanted: int
    quota: int | None
    # Paused now (`Queue.is_active` off), set for the running week only: it hands out nothing, so what it still
    # wants is not expected work. A past week's figures are what that week had (`rules.paused.expects_work`).
    paused: bool = False


@dataclass(frozen=True)
class PassRate:
    """The verdict question's pass rate over the week's gold answers in every queue, with its Wilson interval."""

    passes: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.passes / self.n


@dataclass
class WeekFigures:
    """One project week as the platform page shows it; None where no row was stored for the week."""

    week: date
    outputs: int | None = None
    # Outputs against the mean of the 4 weeks before (for the running week, the same share of that mean as the
    # share of the week gone by): +0.25 is 25% more. None without a stored week to compare with, or when the
    # baseline is too thin to compare with (`change_withheld` says why).
    change: float | None = None
    baseline_weeks: int = 0  # the stored weeks among the 4 before, and their outputs in all
    baseline_outputs: int = 0
    # While the week runs: the share of it gone by (the change's baseline is the mean scaled to it, an even pace; the
    # meeting page's "so far" change counts the baseline weeks up to the same moment instead). None once it is over.
    elapsed: float | None = None
    thumbs_down_share: float | None = None
    rated: int = 0
    experts_active: int | None = None
    queues: list[QueueProgress] = field(default_factory=list)
    pass_rate: PassRate | None = None
    alpha: float | None = None
    alpha_units: int = 0  # the items with two labels α is over

    @property
    def alpha_too_few(self) -> bool:
        """Whether α stands on too few items to be a figure (shown as such, sorted with the weeks without one)."""
        return self.alpha is not None and too_few_units(self.alpha_units)

    @property
    def alpha_shown(self) -> float | None:
        return None if self.alpha_too_few else self.alpha

    @property
    def baseline_mean(self) -> float | None:
        return self.baseline_outputs / self.baseline_weeks if self.baseline_weeks else None

    @property
    def expected_by_now(self) -> float | None:
        """The outputs the running week's change is set against: the baseline mean × the share of the week gone by."""
        mean = self.baseline_mean
        return mean * self.elapsed if mean is not None and self.elapsed is not None else None

    @property
    def change_withheld(self) -> str | None:
        """Why the outputs have no change figure though the week has some: its baseline is too thin to compare with."""
        if self.outputs is None:
            return None
        if self.baseline_weeks < MIN_BASELINE_WEEKS:
            return "too little history"
        if self.baseline_outputs < MIN_TOTAL:
            return "too few to compare"
        return None

    @property
    def labels(self) -> int:
        """Labels done in the queues that expect work (not paused), the counterpart of `labels_wanted`."""
        return sum(queue.labels for queue in self.queues if not queue.paused)

    @property
    def labels_wanted(self) -> int:
        return sum(queue.labels_wanted for queue in self.queues if not queue.paused)

    @property
    def labels_done_share(self) -> float | None:
        return self.labels / self.labels_wanted if self.labels_wanted else None


@dataclass
class PlatformRow:
    """One project on the platform page. New columns add a field here and a cell in the template."""

    project: Project
    this_week: WeekFigures
    last_week: WeekFigures
    close: CloseStatus
    newest_dataset_at: datetime | None
    dataset_age: timedelta | None
    ingest_errors: int
    trend: list[tuple[date, int | None]]
    alerts: list[Alert] = field(default_factory=list)  # unresolved, open ones first

    @property
    def open_alerts(self) -> int:
        return sum(alert.is_open for alert in self.alerts)


# Each sortable column and the value it sorts by (None sorts last either way). Figures other than the outputs are
# the last (complete) week's.
SORT_KEYS = {
    "project": lambda row: row.project.name.lower(),
    "outputs": lambda row: row.this_week.outputs,
    "outputs_last": lambda row: row.last_week.outputs,
    "thumbs_down": lambda row: row.last_week.thumbs_down_share,
    "labels": lambda row: row.last_week.labels_done_share,
    "pass_rate": lambda row: row.last_week.pass_rate.value if row.last_week.pass_rate else None,
    "agreement": lambda row: row.last_week.alpha_shown,
    "experts": lambda row: row.last_week.experts_active,
    "close": lambda row: row.close.severity,
    "dataset_age": lambda row: row.dataset_age,
    "ingest_errors": lambda row: row.ingest_errors,
    "alerts": lambda row: (row.open_alerts, len(row.alerts)),
}
DIRECTIONS = ("asc", "desc")


def sorted_rows(rows: list[PlatformRow], *, sort: str, direction: str) -> list[PlatformRow]:
    """The rows sorted by a column of SORT_KEYS, ties by project name; InvalidInput naming an unknown column."""
    if sort not in SORT_KEYS:
        raise InvalidInput(f"Cannot sort by {sort!r}: choose one of {', '.join(SORT_KEYS)}.")
    if direction not in DIRECTIONS:
        raise InvalidInput(f"The sort direction is 'asc' or 'desc', not {direction!r}.")
    key = SORT_KEYS[sort]
    by_name = sorted(rows, key=SORT_KEYS["project"])
    known = [row for row in by_name if key(row) is not None]
    unknown = [row for row in by_name if key(row) is None]
    return sorted(known, key=key, reverse=direction == "desc") + unknown


def platform_rows(*, now: datetime | None = None) -> list[PlatformRow]:
    """Every project's row (by name), read from stored weekly rows in a fixed number of queries."""
    now = now or timezone.now()
    projects = list(Project.objects.order_by("name", "pk"))
    if not projects:
        return []
    running = {project.pk: current_week(project, now) for project in projects}
    shown = {week for week in running.values()} | {week - timedelta(days=7) for week in running.values()}
    earliest = min(running.values()) - timedelta(days=7 * max(TREND_WEEKS - 1, BASELINE_WEEKS + 1))

    # Every table is read by `project_id` into dicts, so `.order_by()`: the default orderings (by project, hence by
    # its slug) would join labeling_project into each query for an order nothing uses.
    usage = {
        (row.project_id, row.week): row
        for row in ProjectWeek.objects.filter(week__gte=earliest)
        .order_by()
        .only("project_id", "week", "outputs", "outputs_with_feedback", "thumbs_down", "experts_active")
    }
    queues = defaultdict(list)
    for project_id, week, *progress, active in (
        QueueWeek.objects.filter(week__in=shown)
        .values_list("project_id", "week", "queue__name", "labels", "labels_wanted", "quota", "queue__is_active")
        .order_by("queue__name", "queue_id")
    ):
        paused = not expects_work(queue_active=active, week=week, running_week=running[project_id])
        queues[project_id, week].append(QueueProgress(*progress, paused=paused))
    verdicts = _verdict_keys()
    passes: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
    for project_id, week, question, n, passed in (
        QualityMetric.objects.filter(week__in=shown, kind="binary")
        .order_by()
        .values_list("project_id", "week", "question", "n", "passes")
    ):
        if question == verdicts.get(project_id):
            passes[project_id, week][0] += passed or 0
            passes[project_id, week][1] += n
    alphas = {
        (project_id, week): (alpha, units)
        for project_id, week, question, alpha, units in AgreementMetric.objects.filter(week__in=shown)
        .order_by()
        .values_list("project_id", "week", "question", "alpha", "units")
        if question == verdicts.get(project_id)
    }
    # The weeks shown and every older week still open with a failed close: what `close_status` reads.
    cycles: dict[int, dict[date, ReviewCycle]] = defaultdict(dict)
    for cycle in ReviewCycle.objects.filter(Q(week__in=shown) | FAILED_CLOSE).order_by().only(*CYCLE_FIELDS):
        cycles[cycle.project_id][cycle.week] = cycle
    newest_versions = dict(
        DatasetVersion.objects.ready()
        .order_by()
        .values("dataset__project_id")
        .annotate(newest=Max("built_at"))
        .values_list("dataset__project_id", "newest")
    )
    today = {project.pk: local_today(project, now) for project in projects}
    errors: dict[int, int] = defaultdict(int)
    first_day = min(today.values()) - timedelta(days=INGEST_ERROR_DAYS - 1)
    for project_id, day, count in (
        IngestErrorDay.objects.filter(day__gte=first_day).order_by().values_list("project_id", "day", "count")
    ):
        if project_id in today and day > today[project_id] - timedelta(days=INGEST_ERROR_DAYS):
            errors[project_id] += count

    alerts = open_alerts_by_project(project.pk for project in projects)

    tables = _Tables(usage=usage, queues=queues, passes=passes, alphas=alphas)
    rows = []
    for project in projects:
        this, last = running[project.pk], running[project.pk] - timedelta(days=7)

        started, ends = week_start(project, this), week_end(project, this)
        # In UTC: between two times of one zone Python subtracts wall clocks, 168 h for a week of 167 or 169.
        elapsed = (now - started) / (ends.astimezone(UTC) - started.astimezone(UTC))
        newest = newest_versions.get(project.pk)
        rows.append(
            PlatformRow(
                project=project,
                this_week=_figures(tables, project.pk, this, elapsed),
                last_week=_figures(tables, project.pk, last, 1.0),
                close=close_status(project, cycles[project.pk], now),
                newest_dataset_at=newest,
                dataset_age=now - newest if newest else None,
                ingest_errors=errors.get(project.pk, 0),
                alerts=alerts.get(project.pk, []),
                trend=[
                    (week, usage[project.pk, week].outputs if (project.pk, week) in usage else None)
                    for week in (this - timedelta(days=7 * back) for back in reversed(range(TREND_WEEKS)))
                ],
            )
        )
    return rows


@dataclass(frozen=True)
class _Tables:
    usage: dict[tuple[int, date], ProjectWeek]
    queues: dict[tuple[int, date], list[QueueProgress]]
    passes: dict[tuple[int, date], list[int]]
    alphas: dict[tuple[int, date], tuple[float | None, int]]


def _figures(tables: _Tables, project_id: int, week: date, elapsed: float) -> WeekFigures:
    """The week's figures from the stored rows; `elapsed` is the share of the week gone by (1 once it is over)."""
    key = (project_id, week)
    passed, n = tables.passes.get(key, (0, 0))
    alpha, alpha_units = tables.alphas.get(key, (None, 0))
    figures = WeekFigures(
        week=week,
        elapsed=elapsed if elapsed < 1 else None,
        queues=tables.queues.get(key, []),
        pass_rate=PassRate(passed, n, *wilson_interval(passed, n)) if n else None,
        alpha=alpha,
        alpha_units=alpha_units,
    )
    stored = tables.usage.get(key)
    if stored is not None:
        figures.outputs = stored.outputs
        before = _baseline_weeks(tables.usage, project_id, week)
        figures.baseline_weeks, figures.baseline_outputs = len(before), sum(before)
        if figures.change_withheld is None:
            figures.change = _change(stored.outputs, sum(before) / len(before), elapsed)
        figures.thumbs_down_share, figures.rated = stored.thumbs_down_share, stored.outputs_with_feedback
        figures.experts_active = stored.experts_active
    return figures


def _verdict_keys() -> dict[int, str]:
    """Each project's verdict question key (of its current rubric), in one query."""
    newest = Rubric.objects.filter(project=OuterRef("project")).order_by("-version").values("version")[:1]
    keys = {}
    for project_id, questions in (
        Rubric.objects.filter(version=Subquery(newest)).order_by().values_list("project_id", "questions")
    ):
        question = verdict_question(questions if isinstance(questions, list) else [])
        if question is not None:
            keys[project_id] = question["key"]
    return keys


def _baseline_weeks(usage: dict, project_id: int, week: date) -> list[int]:
    """The outputs of each stored week among the BASELINE_WEEKS before `week`."""
    return [
        usage[project_id, earlier].outputs
        for earlier in (week - timedelta(days=7 * back) for back in range(1, BASELINE_WEEKS + 1))
        if (project_id, earlier) in usage
    ]


def _change(outputs: int, baseline: float, elapsed: float) -> float | None:
    expected = baseline * elapsed
    return outputs / expected - 1 if expected > 0 else None


# Usage ------------------------------------------------------------------------------------------------------

USAGE_WEEKS = 12
MAX_USAGE_DAYS = 366 * 5  # a range a page or a CSV can hold


def usage_project(user, slug: str | None) -> Project | None:
    """The project the usage is narrowed to (None: every project). InvalidInput naming the `project` parameter for a
    slug of none: the page says it beside its Project box and the API as a 400, a typo in a filter, not a wrong URL."""
    if not slug:
        return None
    try:
        return visible_project(user, slug)[0]
    except NotFound:
        raise InvalidInput(f"No project {slug!r}.", field="project") from None


def usage_range(
    *, since: date | None, until: date | None, now: datetime, project: Project | None = None
) -> tuple[date, date]:
    """The weeks to show: those starting from `since` through `until` (default: the last USAGE_WEEKS weeks up to
    today, see `_usage_today`). InvalidInput for a date outside WEEK_YEARS, a range that is backwards or longer than
    five years."""
    # Bounded first: a default `since` 12 weeks before an `until` in year 1 does not exist (OverflowError).
    first, last = date(WEEK_YEARS.start, 1, 1), date(WEEK_YEARS.stop - 1, 12, 31)
    for name, day in (("since", since), ("until", until)):
        if day is not None and not first <= day <= last:
            raise InvalidInput(f"`{name}` ({day}) is out of range: usage weeks run from {first} to {last}.", field=name)
    until = until or _usage_today(now=now, project=project)
    since = since or until - timedelta(days=7 * USAGE_WEEKS - 1)
    if since > until:
        raise InvalidInput(f"The range starts ({since}) after it ends ({until}).", field="since")
    if (until - since).days > MAX_USAGE_DAYS:
        raise InvalidInput("The range is at most five years: narrow `since` and `until`.", field="since")
    return since, until


def week_starts_missed(*, since: date, until: date, project: Project | None = None) -> list[str]:
    """The weekdays the projects' (or the project's) weeks start on, named, when none falls from `since` through
    `until`: their rows are listed under those days, so such a range shows none however many are stored."""
    starts = (
        {project.cycle_weekday} if project is not None else set(Project.objects.values_list("cycle_weekday", flat=True))
    )
    days = {(since + timedelta(days=offset)).weekday() for offset in range(min(7, (until - since).days + 1))}
    return [] if starts & days else [Weekday(day).label for day in sorted(starts)]


def _usage_today(*, now: datetime, project: Project | None) -> date:
    """The project's today, or the latest today among every project's zones: in a zone ahead of UTC the running
    week has begun while UTC's date is still the day before, and it must not be missing from the default range."""
    projects = [project] if project is not None else Project.objects.order_by().only("time_zone")
    days = (local_today(shown, now) for shown in projects)
    return max(days, default=now.astimezone(UTC).date())


USAGE_COLUMNS = (
    "week",
    "project",
    "outputs",
    "events",
    "storage_bytes",
    "labels",
    "expert_hours",
    "experts_active",
    "ingest_errors",
)


def usage_record(row: ProjectWeek) -> dict:
    """A usage row as the page, the CSV and the API give it (USAGE_COLUMNS): expert time in hours, 2 decimals."""
    return {
        "week": row.week,
        "project": row.project.slug,
        "outputs": row.outputs,
        "events": row.events,
        "storage_bytes": row.storage_bytes,
        "labels": row.labels,
        "expert_hours": round(row.expert_seconds / 3600, 2),
        "experts_active": row.experts_active,
        "ingest_errors": row.ingest_errors,
    }


def usage_rows(*, since: date, until: date, project: Project | None = None) -> list[ProjectWeek]:
    """Project weeks starting from `since` through `until` (of one project, or all), newest week first, then by
    project slug (one query)."""
    rows = ProjectWeek.objects.filter(week__gte=since, week__lte=until).select_related("project")
    if project is not None:
        rows = rows.filter(project=project)
    return list(rows.order_by("-week", "project__slug"))


def tokens_of(user) -> list[OperatorToken]:
    """The user's operator tokens, newest first, revoked ones included (what was issued stays visible)."""
    return list(OperatorToken.objects.filter(user_id=user.pk).order_by("-created_at", "-pk"))
