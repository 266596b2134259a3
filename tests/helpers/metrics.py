"""Metric rows as a week's close stores them, for tests of the pages and APIs that read them."""

from datetime import date, timedelta

from labeling.metrics.quality import wilson_interval
from labeling.models import AgreementMetric, QualityMetric, QueueWeek, RetentionCell


def store_week(
    project, queue, week: date, *, passes: int, n: int, alpha: float | None = 0.7, labels=30, agreement=True
):
    """Store the quality, agreement and queue rows a week's close stores (what the pages read)."""
    low, high = wilson_interval(passes, n)
    QualityMetric.objects.create(project=project, week=week, queue=queue, question="correct", kind="binary", n=n,
                                 passes=passes, value=passes / n, ci_low=low, ci_high=high)  # fmt: skip
    QualityMetric.objects.create(project=project, week=week, queue=queue, question="helpful", kind="rating", n=n,
                                 value=3.5, ci_low=3.1, ci_high=3.9)  # fmt: skip
    for question, value in (("correct", alpha), ("helpful", 0.5)) if agreement else ():
        AgreementMetric.objects.create(project=project, week=week, question=question, kind="binary", level="nominal",
                                       units=n, labels=2 * n, experts=3, alpha=value, fleiss_kappa=value,
                                       cohen_kappa=value)  # fmt: skip
    QueueWeek.objects.create(project=project, week=week, queue=queue, quota=20, items=n, items_complete=n,
                             labels_wanted=2 * n, labels=labels, backlog=2 * n - labels)  # fmt: skip


def store_retention(project, cohort: date, current: date):
    """Retention cells of one cohort up to `current` (the running week's cells incomplete), per segment."""
    for segment, users, returned in (("all", 20, 9), ("pass", 10, 6), ("fail", 10, 3)):
        for offset in range((current - cohort).days // 7 + 1):
            active = users if offset == 0 else returned
            RetentionCell.objects.create(project=project, segment=segment, cohort_week=cohort, offset=offset,
                                         cohort_users=users, active_on=active, active_on_or_after=active,
                                         incomplete=cohort + timedelta(weeks=offset) == current)  # fmt: skip


def retention_grid(cells, segment="all") -> dict:
    """Return one segment's cells as {cohort: (users, [active on k], [active on or after k], {incomplete k})}."""
    table = {}
    for cell in sorted(cells, key=lambda cell: (cell["cohort_week"], cell["offset"])):
        if cell["segment"] != segment:
            continue
        users, on, after, open_ = table.setdefault(cell["cohort_week"], (cell["cohort_users"], [], [], set()))
        assert cell["offset"] == len(on), "offsets run 0, 1, 2, … without gaps"
        assert cell["cohort_users"] == users
        on.append(cell["active_on"])
        after.append(cell["active_on_or_after"])
        if cell["incomplete"]:
            open_.add(cell["offset"])
    return table
