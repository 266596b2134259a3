"""A refresh queued before a week's close that runs after it leaves the closed week's rows as its report froze them."""

from datetime import timedelta

import pytest

from labeling import tasks
from labeling.models import CycleStatus, FailureTheme, QualityMetric, ReviewCycle, WeekChange
from labeling.rules import calendar
from labeling.selectors.report import build_report
from labeling.services.themes import refresh_week_themes
from tests.factories import OutputFactory
from tests.helpers.themes import planted_corpus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def rows(project, week) -> list:
    return [
        list(model.objects.filter(project=project, week=week).order_by("pk").values())
        for model in (FailureTheme, WeekChange, QualityMetric)
    ]


def thumbs_down(project, week, seed: int, sizes: dict[str, int]) -> None:
    documents, _ = planted_corpus(seed, sizes)
    start = calendar.week_start(project, week)
    for n, (_, text) in enumerate(documents):
        OutputFactory(project=project, occurred_at=start + timedelta(hours=1 + n), feedback_score=-1, output=text)


def test_refreshing_a_closed_week_rewrites_none_of_its_rows(project):
    week = calendar.current_week(project) - timedelta(days=7)
    thumbs_down(project, week, 5, {"refund": 12, "tracking": 12})
    assert refresh_week_themes(project=project, week=week) == 2
    report = build_report(project=project, week=week, status=CycleStatus.CLOSED)
    ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED, report=report)
    frozen = rows(project, week)
    thumbs_down(project, week, 6, {"account": 20})  # late outputs: a refresh would regroup the week

    tasks.refresh_metrics(project.pk, week.isoformat())

    assert rows(project, week) == frozen
    assert ReviewCycle.objects.get(project=project, week=week).report == report
