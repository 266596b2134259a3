"""A week's figures when the lead publishes a rubric version mid-week: they cover every question the week's labels were
asked, each as the week's newest version that asked it asks it. A question the new version dropped keeps its figures
from the labels that answered it; a question it asks on another scale counts only the answers given on that scale.
The clock is pinned: a Monday, so the week before is the one closed."""

from datetime import UTC, datetime, timedelta

import pytest

from labeling.models import AgreementMetric, ExpertWeek, Item, ItemStatus, Label, QualityMetric, Rubric
from labeling.rules import calendar
from labeling.rules.gold import asked_as
from labeling.services.metrics import refresh_week_metrics
from labeling.services.queues import QueueValues, create_queue
from labeling.services.resolution import resolve_item
from labeling.services.rubrics import publish_rubric
from tests.factories import OutputFactory
from tests.helpers.rubrics import CHOICE, QUESTIONS

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 11, 23, 9, tzinfo=UTC)


@pytest.fixture
def closed_week(project, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: MONDAY)
    return calendar.current_week(project, MONDAY) - timedelta(days=7)


@pytest.fixture
def v2_on_wednesday(project, rubric, lead, closed_week):
    """v2 drops `tone` and asks `helpful` out of three."""
    questions = [
        {**question, "scale": [1, 3]} if question["key"] == "helpful" else question
        for question in QUESTIONS
        if question["key"] != "tone"
    ]
    v2 = publish_rubric(project=project, questions=questions, published_by=lead)
    Rubric.objects.filter(pk=v2.pk).update(created_at=calendar.week_start(project, closed_week) + timedelta(days=2))
    return v2


def labeled(project, week, *labels) -> Item:
    """An item of the week labeled by each (expert, rubric version, answers), resolved."""
    queue = project.queues.first() or create_queue(project=project, values=QueueValues(slug="billing", name="Billing"))
    item = Item.objects.create(
        project=project,
        queue=queue,
        output=OutputFactory(project=project),
        week=week,
        overlap=len(labels),
        status=ItemStatus.COMPLETE,
    )
    for expert, rubric, answers in labels:
        Label.objects.create(item=item, expert=expert, rubric=rubric, answers=answers, seconds_spent=30)
    resolve_item(item_id=item.pk)
    return item


def test_a_question_dropped_mid_week_keeps_the_figures_of_the_labels_that_answered_it(
    project, rubric, expert, other_expert, closed_week, v2_on_wednesday
):
    v1, v2 = rubric, v2_on_wednesday
    labeled(project, closed_week, (expert, v1, {"correct": True, "helpful": 4, "tone": "friendly"}),
            (other_expert, v1, {"correct": True, "helpful": 4, "tone": "friendly"}))  # fmt: skip
    labeled(project, closed_week, (expert, v1, {"correct": True, "helpful": 5, "tone": "curt"}),
            (other_expert, v1, {"correct": False, "helpful": 3, "tone": "friendly"}))  # fmt: skip
    labeled(project, closed_week, (expert, v2, {"correct": True, "helpful": 2}),
            (other_expert, v2, {"correct": True, "helpful": 2}))  # fmt: skip

    refresh_week_metrics(project=project, week=closed_week)

    agreement = {row.question: row for row in AgreementMetric.objects.filter(project=project, week=closed_week)}
    assert set(agreement) == {"correct", "helpful", "tone"}
    assert agreement["tone"].units == 2  # both v1 items: `tone` was asked there, as v1 (its newest asking) asked it
    assert agreement["helpful"].units == 1  # the v2 item only: a 4 of five is not a 4 of three
    quality = {row.question: row for row in QualityMetric.objects.filter(project=project, week=closed_week)}
    # The tied `tone` of the second item is no gold; the first item's agreed `friendly` is.
    assert (quality["tone"].n, quality["tone"].shares["friendly"]["count"], quality["tone"].scale) == (
        1,
        1,
        asked_as(CHOICE),
    )
    assert (quality["helpful"].n, quality["helpful"].value, quality["helpful"].scale) == (1, 2.0, "rating 1-3")
    erin = ExpertWeek.objects.get(project=project, week=closed_week, expert=expert)
    assert erin.gold_agreement["tone"] == {"agree": 1, "compared": 1}


def test_a_version_published_after_the_week_changes_none_of_its_figures(
    project, rubric, lead, expert, other_expert, closed_week
):
    """The lead publishes v2 on the Monday of the meeting, before closing the week labeled on v1: its figures are
    those of the questions as v1 asked them, as a refresh before v2 stored them, even with a leftover item of the week
    labeled late on v2 (`helpful` out of three there: not an answer to v1's `helpful` out of five)."""
    Rubric.objects.filter(pk=rubric.pk).update(
        created_at=calendar.week_start(project, closed_week) - timedelta(days=30)
    )
    labeled(project, closed_week, (expert, rubric, {"correct": True, "helpful": 4, "tone": "friendly"}),
            (other_expert, rubric, {"correct": True, "helpful": 4, "tone": "friendly"}))  # fmt: skip
    refresh_week_metrics(project=project, week=closed_week)
    before = sorted(QualityMetric.objects.filter(project=project).values_list("question", "n", "value", "scale"))
    questions = [{**q, "scale": [1, 3]} if q["key"] == "helpful" else q for q in QUESTIONS if q["key"] != "tone"]
    helpful_before = _helpful_rows(project)
    v2 = publish_rubric(project=project, questions=questions, published_by=lead)
    labeled(project, closed_week, (expert, v2, {"correct": True, "helpful": 2}),
            (other_expert, v2, {"correct": True, "helpful": 2}))  # fmt: skip

    refresh_week_metrics(project=project, week=closed_week)

    assert _helpful_rows(project) == helpful_before
    after = sorted(QualityMetric.objects.filter(project=project).values_list("question", "n", "value", "scale"))
    assert [row for row in after if row[0] != "correct"] == [row for row in before if row[0] != "correct"]
    assert [question for question, *_ in after] == ["correct", "helpful", "tone"]
    assert set(AgreementMetric.objects.filter(project=project).values_list("question", flat=True)) == {
        "correct",
        "helpful",
        "tone",
    }


def _helpful_rows(project) -> tuple[list, list]:
    """The week's `helpful` figures: its quality row and its agreement row."""
    quality = QualityMetric.objects.filter(project=project, question="helpful").values_list("n", "value", "scale")
    agreement = AgreementMetric.objects.filter(project=project, question="helpful").values_list("units", "alpha")
    return list(quality), list(agreement)
