"""Erasing an end user whose thumbs-down output is a failure-theme example: the frozen report loses the example,
and the failure themes of that week go, from the stored rows and the frozen report (their terms are the week's
failures' words); other weeks keep theirs."""

from datetime import timedelta

import pytest

from labeling.models import CycleStatus, FailureTheme, Item, ReviewCycle
from labeling.rules import calendar
from labeling.selectors.report import build_report
from labeling.services.privacy import erase_end_user
from labeling.services.themes import refresh_week_themes
from tests.factories import OutputFactory
from tests.helpers.themes import planted_corpus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def thumbs_down_week(project, week, *, prefix: str) -> None:
    """Thumbs-down outputs of two planted kinds, each of its own end user, never queued (no item)."""
    documents, _ = planted_corpus(3, {"refund": 12, "tracking": 12})
    start = calendar.week_start(project, week)
    for n, (_, text) in enumerate(documents):
        OutputFactory(project=project, external_id=f"{prefix}-{n:02d}", end_user_id=f"{prefix}-user-{n:02d}",
                      occurred_at=start + timedelta(hours=1 + n), feedback_score=-1,
                      output=f"Zqxv{prefix}{n:02d} {text}")  # fmt: skip
    assert refresh_week_themes(project=project, week=week) >= 2


def test_erasing_a_theme_examples_end_user_scrubs_the_frozen_report_and_the_weeks_themes(project):
    week = calendar.current_week(project) - timedelta(days=7)
    earlier = week - timedelta(days=7)
    thumbs_down_week(project, week, prefix="last")
    thumbs_down_week(project, earlier, prefix="before")
    report = build_report(project=project, week=week, status=CycleStatus.CLOSED)
    ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED, report=report)
    example = report["themes"][0]["examples"][0]
    assert example["item_id"] is None and not Item.objects.filter(project=project).exists()
    victim = f"last-user-{example['output'][-2:]}"
    marker = f"Zqxvlast{example['output'][-2:]}"
    assert marker in example["excerpt"]
    others = sum(len(theme["examples"]) for theme in report["themes"]) - 1

    result = erase_end_user(project=project, end_user_id=victim)

    frozen = ReviewCycle.objects.get(project=project, week=week).report
    assert marker not in str(frozen) and example["output"] not in str(frozen)
    assert others and frozen["themes"] == []  # the week's themes go whole: their terms may be the user's words
    assert frozen["throughput"] == report["throughput"]  # the rest of the report stays
    assert result.reports_scrubbed == 1
    assert not FailureTheme.objects.filter(project=project, week=week).exists()
    assert result.themes_deleted == len(report["themes"])
    assert FailureTheme.objects.filter(project=project, week=earlier).exists()  # a week without them keeps its own
