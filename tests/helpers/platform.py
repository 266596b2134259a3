"""Stored weekly rows for many projects at once (bulk inserts), as the platform page reads them.

Project `i` gets figures derived from `i`, so a test can say what its row must show: see `planted`.
Every project's cycle starts two days before today (UTC), so "this week" has run two days, the last week ended two
days ago and an open close of it is overdue (grace 0 h + 1 h) whatever the hour the test runs.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from labeling.models import (
    AgreementMetric,
    Alert,
    AlertRule,
    AlertState,
    CycleStatus,
    Dataset,
    DatasetVersion,
    IngestErrorDay,
    Project,
    ProjectWeek,
    QualityMetric,
    Queue,
    QueueWeek,
    ReviewCycle,
    Rubric,
    VersionStatus,
)
from labeling.rules.calendar import current_week
from tests.helpers.rubrics import QUESTIONS

TREND = 8


@dataclass(frozen=True)
class Planted:
    """What project `i` was given (last week's figures unless named `this_`)."""

    outputs_this: int
    outputs_by_week: list[int]  # oldest first, the running week last
    thumbs_down: int
    rated: int
    labels: int
    labels_wanted: int
    quota: int
    passes: int
    n: int
    alpha: float
    experts: int
    ingest_errors: int


def planted(i: int) -> Planted:
    weeks = [100 + 10 * i + week for week in range(TREND)]
    return Planted(
        outputs_this=weeks[-1],
        outputs_by_week=weeks,
        thumbs_down=i % 5,
        rated=20,
        labels=10 + i,
        labels_wanted=40,
        quota=20,
        passes=(7 * i) % 31,
        n=30 + i % 4,
        alpha=round(0.3 + (i % 7) / 10, 2),
        experts=1 + i % 3,
        ingest_errors=i % 4,
    )


def cycle_weekday(now: datetime) -> int:
    return (now.astimezone(UTC).weekday() - 2) % 7


def plant_projects(
    count: int, *, now: datetime | None = None, prefix: str = "p", history_weeks: int = TREND
) -> list[Project]:
    """`count` projects (slug `{prefix}-{i:03d}`) with a year of history, a rubric, a queue, `history_weeks` weeks of
    usage (at least TREND: the planted ones, then older weeks at the oldest planted figures), metrics for this week
    and the last, a closed last week, a ready dataset version and ingest errors today."""
    now = now or timezone.now()
    weekday = cycle_weekday(now)
    projects = Project.objects.bulk_create(
        Project(slug=f"{prefix}-{i:03d}", name=f"{prefix.upper()} project {i:03d}", cycle_weekday=weekday)
        for i in range(count)
    )
    created_at = now - timedelta(days=max(365, 7 * (history_weeks + 1)))
    Project.objects.filter(pk__in=[project.pk for project in projects]).update(created_at=created_at)
    Rubric.objects.bulk_create(Rubric(project=project, version=1, questions=QUESTIONS) for project in projects)
    queues = Queue.objects.bulk_create(
        Queue(project=project, slug="main", name=f"Main {i:03d}", weekly_quota=20) for i, project in enumerate(projects)
    )
    this = current_week(projects[0], now) if projects else None
    last = this - timedelta(days=7) if this else None
    usage, queue_weeks, quality, agreement, cycles, errors = [], [], [], [], [], []
    for i, (project, queue) in enumerate(zip(projects, queues, strict=True)):
        figures = planted(i)
        by_week = list(reversed(figures.outputs_by_week))
        by_week += [figures.outputs_by_week[0]] * (history_weeks - TREND)
        for back, outputs in enumerate(by_week):
            usage.append(
                ProjectWeek(
                    project=project,
                    week=this - timedelta(days=7 * back),
                    outputs=outputs,
                    events=2 * outputs,
                    outputs_with_feedback=figures.rated,
                    thumbs_down=figures.thumbs_down,
                    labels=figures.labels,
                    expert_seconds=60 * figures.labels,
                    experts_active=figures.experts,
                    storage_bytes=1000 * outputs,
                    ingest_errors=figures.ingest_errors,
                    computed_at=now,
                )
            )
        for week in (this, last):
            queue_weeks.append(
                QueueWeek(
                    project=project,
                    week=week,
                    queue=queue,
                    quota=figures.quota,
                    items=figures.quota,
                    labels=figures.labels,
                    labels_wanted=figures.labels_wanted,
                )
            )
            quality.append(
                QualityMetric(
                    project=project,
                    week=week,
                    queue=queue,
                    question="correct",
                    kind="binary",
                    n=figures.n,
                    passes=figures.passes,
                    value=figures.passes / figures.n,
                )
            )
            agreement.append(
                AgreementMetric(
                    project=project,
                    week=week,
                    question="correct",
                    kind="binary",
                    level="nominal",
                    units=figures.n,
                    labels=2 * figures.n,
                    experts=figures.experts,
                    alpha=figures.alpha,
                )
            )
        cycles.append(ReviewCycle(project=project, week=last, status=CycleStatus.CLOSED, closed_at=now))
        if figures.ingest_errors:
            errors.append(IngestErrorDay(project=project, day=now.date(), count=figures.ingest_errors))
    ProjectWeek.objects.bulk_create(usage)
    QueueWeek.objects.bulk_create(queue_weeks)
    QualityMetric.objects.bulk_create(quality)
    AgreementMetric.objects.bulk_create(agreement)
    ReviewCycle.objects.bulk_create(cycles)
    IngestErrorDay.objects.bulk_create(errors)
    datasets = Dataset.objects.bulk_create(Dataset(project=project, slug="eval", name="Eval") for project in projects)
    DatasetVersion.objects.bulk_create(
        DatasetVersion(dataset=dataset, number=1, status=VersionStatus.READY, built_at=now - timedelta(days=3))
        for dataset in datasets
    )
    return projects


def plant_alerts(projects: list[Project], *, history_weeks: int = 0, now: datetime | None = None) -> int:
    """Unresolved alerts on some projects (an open one on every 4th, an acknowledged one on every 8th) and a resolved
    one per project for every 4 weeks of `history_weeks`, as the platform page reads them; return how many."""
    now = now or timezone.now()
    alerts = []
    for i, project in enumerate(projects):
        if i % 4 == 0:
            alerts.append(Alert(project=project, rule=AlertRule.QUEUE_IDLE, key="main", title="No labels in Main"))
        if i % 8 == 0:
            alerts.append(
                Alert(
                    project=project,
                    rule=AlertRule.QUOTA_MISSED,
                    key="main",
                    state=AlertState.ACKNOWLEDGED,
                    title="Main missed its quota",
                    acknowledged_at=now,
                )
            )
        for back in range(4, history_weeks, 4):
            opened = now - timedelta(weeks=back)
            alerts.append(
                Alert(
                    project=project,
                    rule=AlertRule.THUMBS_DOWN_RISE,
                    state=AlertState.RESOLVED,
                    title="The thumbs-down share rose",
                    opened_at=opened,
                    last_seen_at=opened,
                    resolved_at=opened + timedelta(days=2),
                )
            )
    return len(Alert.objects.bulk_create(alerts))
