"""The report of a week: one pooled pass-rate trend, the headline beside it, the agenda, frozen or built live."""

from datetime import timedelta

import pytest

from labeling.exceptions import NotFound
from labeling.metrics.quality import wilson_interval
from labeling.models import Comment, CycleStatus, Flag, Item, QualityMetric, Queue, Resolution, ReviewCycle
from labeling.rules import calendar
from labeling.selectors import metrics as metric_selectors
from labeling.selectors.report import MIN_ITEMS_TO_COMPARE, TREND_WEEKS, build_report, report_of_week
from labeling.services.rubrics import publish_rubric
from tests.factories import OutputFactory, created_weeks_ago
from tests.helpers.rubrics import BINARY

pytestmark = pytest.mark.django_db

VERDICT = [BINARY]  # the verdict question alone


@pytest.fixture
def week(project):
    """A week over and open, as a meeting discusses it, of a project old enough for a full pass-rate trend."""
    created_weeks_ago(project, 20)
    return calendar.current_week(project) - timedelta(days=7)


@pytest.fixture
def queues(project):
    publish_rubric(project=project, questions=VERDICT)
    return [Queue.objects.create(project=project, slug=slug, name=slug.title()) for slug in ("billing", "shipping")]


def store_pass_rate(project, queue, week, *, passes: int, n: int):
    low, high = wilson_interval(passes, n)
    QualityMetric.objects.create(project=project, week=week, queue=queue, question="correct", kind="binary", n=n,
                                 passes=passes, value=passes / n, ci_low=low, ci_high=high)  # fmt: skip


def test_the_trend_has_a_point_per_week_pooled_over_the_queues_and_shows_a_gap(project, queues, week):
    billing, shipping = queues
    store_pass_rate(project, billing, week, passes=6, n=8)
    store_pass_rate(project, shipping, week, passes=3, n=4)
    store_pass_rate(project, billing, week - timedelta(weeks=2), passes=2, n=4)  # and none the week before

    report = build_report(project=project, week=week, status=CycleStatus.OPEN)

    trend = report["pass_rate_trend"]
    assert len(trend) == TREND_WEEKS and trend[-1]["week_start"] == week.isoformat()
    low, high = wilson_interval(9, 12)  # the queues' counts pooled, not their rates averaged
    assert trend[-1] == {"week": report["week"], "week_start": week.isoformat(), "value": 0.75, "ci_low": low,
                         "ci_high": high, "n": 12, "passes": 9}  # fmt: skip
    assert (trend[-2]["value"], trend[-2]["n"], trend[-2]["passes"]) == (None, 0, None)  # the gap stays a gap
    assert (trend[-3]["value"], trend[-3]["n"]) == (0.5, 4)
    # The week before had no gold answers: no previous figure, rather than the one two weeks back.
    assert report["headline"]["pass_rate"] == {"value": 0.75, "ci_low": low, "ci_high": high, "n": 12, "passes": 9,
                                               "previous": None, "change": None}  # fmt: skip
    # The dashboard's trend of the same weeks is the same one.
    weeks = metric_selectors.WeekRange(first=week - timedelta(weeks=TREND_WEEKS - 1), last=week)
    rows = metric_selectors.quality_series(project=project, weeks=weeks, question="correct")
    assert metric_selectors.pooled_trend(rows, question="correct", weeks=weeks) == trend


def test_the_headline_pass_rate_changes_from_the_week_before(project, queues, week):
    store_pass_rate(project, queues[0], week, passes=6, n=8)
    store_pass_rate(project, queues[0], week - timedelta(weeks=1), passes=3, n=6)

    pass_rate = build_report(project=project, week=week, status=CycleStatus.OPEN)["headline"]["pass_rate"]

    assert (pass_rate["value"], pass_rate["previous"]) == (0.75, 0.5)
    assert pass_rate["change"] == pytest.approx(0.25) and "too_few_to_compare" not in pass_rate


@pytest.mark.parametrize(("n", "previous_n"), [(4, 6), (8, 2)])
def test_a_week_of_fewer_than_the_minimum_items_on_either_side_gives_no_change(project, queues, week, n, previous_n):
    store_pass_rate(project, queues[0], week, passes=n // 2, n=n)
    store_pass_rate(project, queues[0], week - timedelta(weeks=1), passes=0, n=previous_n)

    pass_rate = build_report(project=project, week=week, status=CycleStatus.OPEN)["headline"]["pass_rate"]

    assert MIN_ITEMS_TO_COMPARE == 5
    assert (pass_rate["previous"], pass_rate["change"]) == (0.0, None)
    assert pass_rate["too_few_to_compare"] is True and pass_rate["previous_units"] == previous_n


def test_without_a_verdict_question_there_is_no_trend(project, week):
    report = build_report(project=project, week=week, status=CycleStatus.OPEN)

    assert report["verdict_question"] is None and report["pass_rate_trend"] == []
    assert report["headline"]["pass_rate"] is None


def test_the_agenda_lists_open_flags_with_comments_and_the_tags_that_moved(project, queues, week, expert):
    def item(week, tag: str, verdict: bool) -> Item:
        output = OutputFactory(project=project, tags=[tag])
        made = Item.objects.create(project=project, queue=queues[0], output=output, week=week, overlap=1)
        answer = {"value": verdict, "method": "majority"}
        Resolution.objects.create(item=made, status="resolved", automatic={"correct": answer})
        return made

    for _ in range(5):  # refunds: 5 of 5 passed last week, 1 of 5 this week; greetings stay at 5 of 5
        item(week - timedelta(weeks=1), "refunds", True)
        item(week - timedelta(weeks=1), "greetings", True)
        item(week, "greetings", True)
    refunds = [item(week, "refunds", index == 0) for index in range(5)]
    for _ in range(5):
        item(week, "new", False)  # nothing last week to compare with
    item(week, "rare", False)  # one item: too few to call a move
    Flag.objects.create(item=refunds[1], expert=expert, note="Is the refund policy right?")
    Flag.objects.create(item=refunds[2], expert=expert, note="Settled", resolved_at=refunds[2].created_at)
    Comment.objects.create(item=refunds[1], author=expert, body="<b>see</b> the policy page")

    agenda = build_report(project=project, week=week, status=CycleStatus.OPEN)["agenda"]

    [flag] = agenda["flags"]
    assert (flag["item_id"], flag["note"]) == (refunds[1].pk, "Is the refund policy right?")
    assert flag["expert"] == expert.username
    assert [comment["body"] for comment in flag["comments"]] == ["<b>see</b> the policy page"]  # kept as written
    assert [(mover["tag"], mover["n"], mover["previous_n"]) for mover in agenda["movers"]] == [
        ("refunds", 5, 5), ("greetings", 5, 5),
    ]  # fmt: skip
    assert agenda["movers"][0]["change"] == pytest.approx(-0.8)


# One report of a week, for the meeting page, its export and the API -------------------------------------------


def test_a_closed_week_is_its_frozen_report(project, week):
    frozen = {"version": 1, "week": "frozen", "status": "closed"}
    ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED, report=frozen)

    found = report_of_week(project=project, week=week)

    assert found.report == frozen and found.cycle.week == week


def test_a_closed_week_without_a_frozen_report_is_built_and_says_closed(project, week):
    ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED, report={})

    found = report_of_week(project=project, week=week)

    assert (found.report["status"], found.report["week_start"]) == ("closed", week.isoformat())
    assert "generated_at" in found.report and "headline" in found.report


def test_every_started_week_has_a_report_and_a_later_one_has_none(project, week):
    years_ago = week - timedelta(weeks=300)

    found = report_of_week(project=project, week=years_ago)

    assert found.cycle is None and found.report["status"] == "open"
    assert found.report["headline"]["labels"]["done"] == 0
    assert not ReviewCycle.objects.exists()  # reading makes no cycle row
    with pytest.raises(NotFound, match="has not started"):
        report_of_week(project=project, week=week + timedelta(weeks=2))
