"""A week closed while the week before it is still open compares with that week's actual figures: W44 closed with
W43 open froze "+22 vs last week (0)" (W43's figures were never computed), and W43 closed later showed 2 labels."""

import html
import json
import threading
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse

from labeling.models import (
    AuditEvent,
    OutboxMessage,
    Output,
    Resolution,
    ReviewCycle,
    WebhookDelivery,
    WeekChange,
    week_label,
)
from labeling.rules import calendar
from labeling.services import cycles, webhooks
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, UserFactory, created_weeks_ago
from tests.helpers.changes import add_outputs, add_verdicts
from tests.helpers.concurrency import comes_to_wait_on_a_lock, in_thread, in_thread_noting_its_pid
from tests.helpers.labeling import AGREE, label_outputs
from tests.helpers.rubrics import QUESTIONS

# Every test takes its weeks from the clock (current_week, created_weeks_ago) and closes them on later calls, which read
# it again (the pass-rate trend runs to the running week): crossing a week start in between, the two projects or the
# two closes set side by side would see different weeks. clear_of_week_start keeps the clock a day from one.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db, pytest.mark.usefixtures("clear_of_week_start")]


def test_closing_a_week_before_the_one_before_it_freezes_that_weeks_actual_labels(
    client, api, project, lead, expert, other_expert, rubric
):
    created_weeks_ago(project, 5)
    this_week = calendar.current_week(project)
    before_last, last = this_week - timedelta(days=14), this_week - timedelta(days=7)
    experts = [expert, other_expert]
    for week, outputs in ((before_last, 1), (last, 3)):  # 2 labels, then 6
        occurred_at = calendar.week_start(project, week) + timedelta(hours=1)
        label_outputs(project, outputs, experts=experts, occurred_at=occurred_at)

    cycles.close_week(project_id=project.pk, week=last)  # before_last is still open, its figures never computed

    labels = ReviewCycle.objects.get(project=project, week=last).report["headline"]["labels"]
    assert (labels["done"], labels["previous_done"], labels["change"]) == (6, 2, 4)
    # Computed, not closed: only the rows the comparison reads (its own hourly refresh computes the rest).
    assert not ReviewCycle.objects.filter(project=project, week=before_last, status="closed").exists()
    client.force_login(lead)
    page = client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(last)])).content.decode()
    labels_tile = page.split('data-tile="labels"')[1].split("</div>")[0]
    assert "+4" in labels_tile and "(2)" in labels_tile
    api_labels = api.get(f"/api/v1/cycles/{week_label(last)}/report").json()["headline"]["labels"]
    assert api_labels["previous_done"] == 2
    assert "| 2 | +4 |" in api.get(f"/api/v1/cycles/{week_label(last)}/report?format=markdown").content.decode()


FAIL = ({"correct": False, "helpful": 1}, {"correct": False, "helpful": 2})
COMPARED = ("pass_rate", "alpha", "labels")  # the headline figures set against the week before


def _label_in(project, week, count, answers=AGREE):
    label_outputs(project, count, answers=answers, occurred_at=calendar.week_start(project, week) + timedelta(hours=1))


def _figures(project, week) -> dict:
    report = ReviewCycle.objects.get(project=project, week=week, status="closed").report
    return {
        "headline": {key: report["headline"][key] for key in COMPARED},
        "pass_rate_trend": report["pass_rate_trend"],
        "quality": report["quality"],
        "agreement": report["agreement"],
        "movers": report["agenda"]["movers"],  # the tag "shipping", on every item
    }


def _three_weeks_in_both(in_order, other) -> tuple[date, date, date]:
    """(late, after, after that): the three weeks before this one, with 5 passing, 4 passing and 3 failing items
    labeled in both projects; in `in_order` the late week gets 5 more, failing, and the three close in order."""
    weeks = tuple(calendar.current_week(other) - timedelta(weeks=n) for n in (3, 2, 1))
    late, after, after_that = weeks
    for each in (in_order, other):
        created_weeks_ago(each, 6)
        _label_in(each, late, 5)
        _label_in(each, after, 4)
        _label_in(each, after_that, 3, FAIL)
    _label_in(in_order, late, 5, FAIL)
    for week in weeks:
        cycles.close_week(project_id=in_order.pk, week=week)
    return weeks


def test_a_week_closed_after_the_week_after_it_gives_the_reports_an_in_order_close_gives(
    client, project, other_project, lead
):
    """The same weeks in two projects: one closes them in order; the other closes the later week first (its lead, or
    beat while the earlier week's close failed and waited to be tried again), and the earlier week gets 5 more items
    labeled before it closes. The later week froze "vs last week" against the earlier one as it stood then (10
    labels, all passing), not as it closed (20 labels, half failing). Once both weeks are closed, both orders give the
    same figures: the earlier week's close restates the later week's comparison from its final figures."""
    in_order, out_of_order = other_project, project
    this_week = calendar.current_week(project)
    before_last, last = this_week - timedelta(days=14), this_week - timedelta(days=7)
    for each in (in_order, out_of_order):
        created_weeks_ago(each, 5)
        _label_in(each, before_last, 5)
        _label_in(each, last, 4)
        _label_in(each, last, 2, FAIL)

    _label_in(in_order, before_last, 5, FAIL)
    cycles.close_week(project_id=in_order.pk, week=before_last)
    cycles.close_week(project_id=in_order.pk, week=last)

    cycles.close_week(project_id=out_of_order.pk, week=last)
    _label_in(out_of_order, before_last, 5, FAIL)
    cycles.close_week(project_id=out_of_order.pk, week=before_last)

    for week in (before_last, last):
        assert _figures(out_of_order, week) == _figures(in_order, week), week_label(week)
    labels = _figures(out_of_order, last)["headline"]["labels"]
    assert (labels["done"], labels["previous_done"], labels["change"]) == (12, 20, -8)
    [mover] = _figures(out_of_order, last)["movers"]
    assert (mover["tag"], mover["previous"], mover["previous_n"]) == ("shipping", 0.5, 10)
    client.force_login(lead)
    page = client.get(reverse("labeling:meeting-week", args=[out_of_order.slug, week_label(last)])).content.decode()
    labels_tile = page.split('data-tile="labels"')[1].split("</div>")[0]
    assert "-8" in labels_tile and "(20)" in labels_tile


def test_the_weeks_closed_after_a_late_week_take_its_final_point_of_the_pass_rate_trend(
    client, api, project, other_project
):
    """The two weeks after a week close before it (its close failed and waited, or a lead closed them), and it gets 5
    more items labeled, all failing, before it closes. The week right after restated its comparison; the week after
    that kept the late week's trend point as it stood (5 items, all passing) where a close in order has its final one
    (10 items, half passing). Each week's trend point for another week is that week's figure: the later weeks take the
    late week's final point, as closing in order gives, and say so."""
    in_order, out_of_order = other_project, project
    late, after, after_that = _three_weeks_in_both(in_order, out_of_order)

    cycles.close_week(project_id=out_of_order.pk, week=after)
    cycles.close_week(project_id=out_of_order.pk, week=after_that)
    _label_in(out_of_order, late, 5, FAIL)
    cycles.close_week(project_id=out_of_order.pk, week=late)

    for week in (late, after, after_that):
        assert _figures(out_of_order, week) == _figures(in_order, week), week_label(week)
    [point] = [p for p in _figures(out_of_order, after_that)["pass_rate_trend"] if p["week_start"] == late.isoformat()]
    assert (point["value"], point["n"]) == (0.5, 10)
    restated = ReviewCycle.objects.get(project=out_of_order, week=after_that).report
    assert restated["trend_restated"]["weeks"] == [week_label(late)]
    assert "trend_restated" not in ReviewCycle.objects.get(project=in_order, week=after_that).report
    # Said where the report is read: the page's frozen note, report.md and the API.
    said = f"Its pass-rate trend point for {week_label(late)} was made again from that week's final figures"
    lead = UserFactory(username="lena")
    MembershipFactory(project=out_of_order, user=lead, role="lead")
    client.force_login(lead)
    page = client.get(reverse("labeling:meeting-week", args=[out_of_order.slug, week_label(after_that)])).content
    assert said in html.unescape(page.decode().split('id="frozen-note"')[1].split("</p>")[0])
    markdown = client.get(reverse("labeling:meeting-markdown", args=[out_of_order.slug, week_label(after_that)]))
    assert said in markdown.content.decode()
    assert api.get(f"/api/v1/cycles/{week_label(after_that)}/report").json()["trend_restated"]["weeks"] == [
        week_label(late)
    ]
    # The audit log tells the comparison restated from the comparison week apart from a trend point taken from another.
    audited = client.get(reverse("labeling:audit", args=[out_of_order.slug])).context["rows"]
    assert [row["sentence"] for row in audited if row["event"].action == "cycle.compared_again"] == [
        f"Took {week_label(late)}'s final pass-rate figure into the trend of the week {week_label(after_that)}",
        f"Compared the week {week_label(after)} again with {week_label(late)}'s final figures",
        # The late week's end users are split by their final verdicts too (its cohort, in both later weeks' curves).
        *(
            f"Made the retention by verdict of the week {week_label(week)} again from {week_label(late)}'s final "
            "gold answers"
            for week in (after, after_that)
        ),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_week_whose_report_was_built_while_an_earlier_week_closed_takes_its_final_trend_point(
    project, other_project, monkeypatch
):
    """Two closes side by side, two weeks apart, the week between closed already: the later week's report is built
    while the earlier week is still open, and the earlier week's close commits before the later week's transaction.
    The earlier close saw the later week open; the later close, seeing the earlier week closed, takes its final trend
    point, as closing in order gives."""
    in_order, side_by_side = other_project, project
    late, between, later = _three_weeks_in_both(in_order, side_by_side)
    cycles.close_week(project_id=side_by_side.pk, week=between)

    build_report = cycles.build_report

    def report_then_the_late_week_closes(*, project, week: date, **kwargs):
        report = build_report(project=project, week=week, **kwargs)
        if project.pk == side_by_side.pk and week == later:
            _label_in(side_by_side, late, 5, FAIL)  # labeled late, then closed
            cycles.close_week(project_id=side_by_side.pk, week=late)
        return report

    monkeypatch.setattr(cycles, "build_report", report_then_the_late_week_closes)
    cycles.close_week(project_id=side_by_side.pk, week=later)

    for each_week in (late, between, later):
        assert _figures(side_by_side, each_week) == _figures(in_order, each_week), week_label(each_week)
    restated = ReviewCycle.objects.get(project=side_by_side, week=later).report
    assert restated["trend_restated"]["weeks"] == [week_label(late)]


@pytest.mark.redis
def test_a_restated_comparison_is_told_to_webhook_endpoints_once_after_the_commit(
    project, other_project, lead, broker_queue, django_capture_on_commit_callbacks
):
    """The later week's `cycle.closed` event went out with its comparison as it stood: an endpoint that keeps the
    figures hears the restatement as `cycle.compared_again`, with the restated headline, once, through the outbox
    (published after the commit). A close in order restates nothing and tells nothing."""
    this_week = calendar.current_week(project)
    before_last, last = this_week - timedelta(days=14), this_week - timedelta(days=7)
    endpoints = {}
    MembershipFactory(project=other_project, user=lead, role="lead")
    for each in (project, other_project):
        created_weeks_ago(each, 5)
        _label_in(each, before_last, 5)
        _label_in(each, last, 4)
        endpoints[each.pk] = webhooks.create_endpoint(
            project=each,
            created_by=lead,
            url="https://hooks.example.com/in",
            events=["cycle.closed", "cycle.compared_again"],
        ).endpoint
    cycles.close_week(project_id=other_project.pk, week=before_last)
    cycles.close_week(project_id=other_project.pk, week=last)
    cycles.close_week(project_id=project.pk, week=last)
    _label_in(project, before_last, 5, FAIL)

    broker_queue.delete(settings.CELERY_WEBHOOK_QUEUE)  # the other closes' (the fixture empties it after the test)
    with django_capture_on_commit_callbacks(execute=True):
        cycles.close_week(project_id=project.pk, week=before_last)
    cycles.close_week(project_id=project.pk, week=before_last)  # closed already: nothing new

    [restated] = WebhookDelivery.objects.filter(event="cycle.compared_again")
    assert restated.endpoint_id == endpoints[project.pk].pk
    message = json.loads(restated.body)
    assert message["type"] == "cycle.compared_again"
    data = message["data"]
    report = ReviewCycle.objects.get(project=project, week=last).report
    assert (data["project"], data["week"], data["week_start"]) == (project.slug, week_label(last), last.isoformat())
    assert data["headline"] == report["headline"] and data["headline"]["labels"]["previous_done"] == 20
    at = report["compared_again"]["at"].replace("+00:00", "Z")  # in UTC with Z, as every moment of a payload
    assert data["compared_again"] == report["compared_again"] | {"at": at}
    assert data["compared_again"]["with_week"] == week_label(before_last)
    assert data["meeting_url"].endswith(f"/p/{project.slug}/meeting/{week_label(last)}/")
    # Asked for in the close's transaction, sent to the broker once it committed.
    [delivery] = OutboxMessage.objects.filter(task="labeling.deliver_webhook", args=[restated.pk])
    assert delivery.published_at is not None
    sent = broker_queue.lrange(settings.CELERY_WEBHOOK_QUEUE, 0, -1)
    assert [json.loads(message)["headers"]["outbox_id"] for message in sent].count(delivery.pk) == 1
    closed = WebhookDelivery.objects.filter(event="cycle.closed", endpoint=endpoints[project.pk])
    assert closed.count() == 2  # one per week, as before
    assert not WebhookDelivery.objects.filter(endpoint=endpoints[other_project.pk], event="cycle.compared_again")


def test_an_in_order_close_restates_nothing(other_project):
    """Closing in order, the later week's comparison is already the one from the earlier week's final figures."""
    this_week = calendar.current_week(other_project)
    before_last, last = this_week - timedelta(days=14), this_week - timedelta(days=7)
    created_weeks_ago(other_project, 5)
    _label_in(other_project, before_last, 5)
    _label_in(other_project, last, 3, FAIL)

    cycles.close_week(project_id=other_project.pk, week=before_last)
    cycles.close_week(project_id=other_project.pk, week=last)

    for week in (before_last, last):
        assert "compared_again" not in ReviewCycle.objects.get(project=other_project, week=week).report
    assert not AuditEvent.objects.filter(project=other_project, action="cycle.compared_again").exists()


@pytest.mark.django_db(transaction=True)
def test_a_week_whose_report_was_built_while_the_week_before_closed_compares_with_its_final_figures(
    client, project, other_project, monkeypatch
):
    """Two closes side by side: the later week's report is built while the earlier week is still open, and the
    earlier week's close commits before the later week's transaction. The earlier close saw the later week open and
    restated nothing; the later close, seeing the week before closed in its transaction, restates its comparison from
    that week's final figures, as closing in order gives. (The earlier close runs nested here, in the moment between,
    on the same connection: what the row locks order is the next test's.)"""
    in_order, side_by_side = other_project, project
    this_week = calendar.current_week(project)
    before_last, last = this_week - timedelta(days=14), this_week - timedelta(days=7)
    for each in (in_order, side_by_side):
        created_weeks_ago(each, 5)
        _label_in(each, before_last, 5)
        _label_in(each, last, 4)
    _label_in(in_order, before_last, 5, FAIL)
    cycles.close_week(project_id=in_order.pk, week=before_last)
    cycles.close_week(project_id=in_order.pk, week=last)

    # The moment between the later week's report and its transaction: the earlier week closes there.
    build_report = cycles.build_report

    def report_then_the_week_before_closes(*, project, week, **kwargs):
        report = build_report(project=project, week=week, **kwargs)
        if project.pk == side_by_side.pk and week == last:
            _label_in(side_by_side, before_last, 5, FAIL)  # labeled late, then closed
            cycles.close_week(project_id=side_by_side.pk, week=before_last)
        return report

    monkeypatch.setattr(cycles, "build_report", report_then_the_week_before_closes)
    cycles.close_week(project_id=side_by_side.pk, week=last)

    for week in (before_last, last):
        assert _figures(side_by_side, week) == _figures(in_order, week), week_label(week)
    restated = ReviewCycle.objects.get(project=side_by_side, week=last).report
    assert restated["compared_again"]["with_week"] == week_label(before_last)
    assert restated["headline"]["labels"]["previous_done"] == 20
    assert AuditEvent.objects.filter(project=side_by_side, action="cycle.compared_again").count() == 1
    # Said where the report is read: the page's frozen note, report.md and the API.
    lead = UserFactory(username="lena")
    MembershipFactory(project=side_by_side, user=lead, role="lead")
    client.force_login(lead)
    page = client.get(reverse("labeling:meeting-week", args=[side_by_side.slug, week_label(last)])).content.decode()
    note = page.split('id="frozen-note"')[1].split("</p>")[0]
    assert f"Its comparison with {week_label(before_last)} was made again from that week's final figures, " in note
    markdown = client.get(
        reverse("labeling:meeting-markdown", args=[side_by_side.slug, week_label(last)])
    ).content.decode()
    assert (
        f"Its comparison with {week_label(before_last)} was made again from that week's final figures at " in markdown
    )


@pytest.mark.django_db(transaction=True)
def test_a_week_compared_again_by_its_own_close_is_told_once_as_closed(project, lead, monkeypatch):
    """Two closes side by side, the week before committing first: the later week's own close restates its comparison
    before it commits, and its `cycle.closed` carries the restated figures. An endpoint hears the week closed, not
    first "compared again" for a week it has not heard closed."""
    this_week = calendar.current_week(project)
    before_last, last = this_week - timedelta(days=14), this_week - timedelta(days=7)
    created_weeks_ago(project, 5)
    _label_in(project, before_last, 5)
    _label_in(project, last, 4)
    endpoint = webhooks.create_endpoint(
        project=project,
        created_by=lead,
        url="https://hooks.example.com/in",
        events=["cycle.closed", "cycle.compared_again"],
    ).endpoint
    build_report = cycles.build_report

    def report_then_the_week_before_closes(*, project, week, **kwargs):
        report = build_report(project=project, week=week, **kwargs)
        if week == last:
            _label_in(project, before_last, 5, FAIL)  # labeled late, then closed
            cycles.close_week(project_id=project.pk, week=before_last)
        return report

    monkeypatch.setattr(cycles, "build_report", report_then_the_week_before_closes)
    cycles.close_week(project_id=project.pk, week=last)

    assert ReviewCycle.objects.get(project=project, week=last).report["compared_again"]["with_week"] == week_label(
        before_last
    )
    told = [
        json.loads(body) for body in WebhookDelivery.objects.filter(endpoint=endpoint).values_list("body", flat=True)
    ]
    assert sorted((message["type"], message["data"]["week"]) for message in told) == [
        ("cycle.closed", week_label(before_last)),
        ("cycle.closed", week_label(last)),
    ]
    [closed] = [message for message in told if message["data"]["week"] == week_label(last)]
    assert closed["data"]["headline"]["labels"]["previous_done"] == 20  # the restated comparison


def test_after_the_verdict_question_changed_the_pass_rate_is_not_restated_from_the_other_question(project, rubric):
    """The week before froze the pass rate of its verdict ("correct"); the later week's verdict is another question,
    whose figures for the week before its own report read from the stored rows: the week has no rows of it, so they
    are kept."""
    this_week = calendar.current_week(project)
    before_last, last = this_week - timedelta(days=14), this_week - timedelta(days=7)
    created_weeks_ago(project, 5)
    _label_in(project, before_last, 4)
    _label_in(project, last, 4)
    cycles.close_week(project_id=project.pk, week=last)
    frozen = ReviewCycle.objects.get(project=project, week=last).report
    ReviewCycle.objects.filter(project=project, week=last).update(report={**frozen, "verdict_question": "resolved"})
    _label_in(project, before_last, 4, FAIL)

    cycles.close_week(project_id=project.pk, week=before_last)

    after = ReviewCycle.objects.get(project=project, week=last).report
    assert after["headline"]["pass_rate"] == frozen["headline"]["pass_rate"]
    assert after["pass_rate_trend"] == frozen["pass_rate_trend"]
    assert after["headline"]["labels"]["previous_done"] == 16  # the labels are no question's: restated


def test_an_in_order_close_after_the_verdict_was_asked_otherwise_restates_no_trend_point(client, project, lead):
    """The verdict `correct` was a rating, then binary. The week it first closed as binary has `scale_changed` on its
    own point (its trend has the rating week before it); eleven weeks on, that week is the first point of the trend
    and follows none. Closing in order, the later week's trend has that week's final figures already: nothing is
    restated, said or audited (the mark says how a point compares with the reader's own points, not a figure)."""
    this_week = calendar.current_week(project)
    week = this_week - timedelta(weeks=1)
    rated, first_binary = week - timedelta(weeks=12), week - timedelta(weeks=11)
    created_weeks_ago(project, 14)
    resolved = {"key": "resolved", "kind": "binary", "prompt": "Resolved?"}
    as_rating = publish_rubric(
        project=project,
        questions=[resolved, {"key": "correct", "kind": "rating", "prompt": "Correct?", "scale": [1, 5]}],
    )
    label_outputs(
        project, 4, rubric=as_rating, answers=({"resolved": True, "correct": 4},) * 2,
        occurred_at=calendar.week_start(project, rated) + timedelta(hours=1),
    )  # fmt: skip
    cycles.close_week(project_id=project.pk, week=rated)
    helpful = {"key": "helpful", "kind": "rating", "prompt": "Helpful?", "scale": [1, 5]}
    publish_rubric(project=project, questions=[{"key": "correct", "kind": "binary", "prompt": "Correct?"}, helpful])
    _label_in(project, first_binary, 4)
    cycles.close_week(project_id=project.pk, week=first_binary)
    _label_in(project, week, 4, FAIL)

    cycles.close_week(project_id=project.pk, week=week)

    [own] = [
        p for p in _figures(project, first_binary)["pass_rate_trend"] if p["week_start"] == first_binary.isoformat()
    ]
    assert own["scale_changed"] and (own["value"], own["n"]) == (1.0, 4)
    report = ReviewCycle.objects.get(project=project, week=week).report
    first = report["pass_rate_trend"][0]
    assert first["week_start"] == first_binary.isoformat() and "scale_changed" not in first
    assert {key: first[key] for key in ("value", "n", "passes")} == {"value": 1.0, "n": 4, "passes": 4}
    assert "trend_restated" not in report
    assert not AuditEvent.objects.filter(project=project, action="cycle.compared_again").exists()
    client.force_login(lead)
    page = client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(week)])).content.decode()
    assert "made again" not in html.unescape(page.split('id="frozen-note"')[1].split("</p>")[0])


def test_after_the_verdict_question_changed_the_trend_point_is_made_again_from_the_stored_rows_of_the_readers(project):
    """The later week closed with `correct` as its verdict; then `resolved` became the verdict, and the week before got
    4 more items labeled, failing `correct`, before it closed. Its report is of `resolved`, so its own point is not
    the later week's figure: the later week's point for it (and its headline's previous pass rate) is made again from
    the week's stored rows of `correct`, final once it closed, rather than kept as it stood (4 items, all passing)."""
    this_week = calendar.current_week(project)
    before_last, last = this_week - timedelta(days=14), this_week - timedelta(days=7)
    created_weeks_ago(project, 5)
    correct = {"key": "correct", "kind": "binary", "prompt": "Correct?"}
    resolved = {"key": "resolved", "kind": "binary", "prompt": "Resolved?", "required": False}
    helpful = {"key": "helpful", "kind": "rating", "prompt": "Helpful?", "scale": [1, 5], "required": False}
    publish_rubric(project=project, questions=[correct, resolved, helpful])
    _label_in(project, before_last, 4)
    _label_in(project, last, 4, FAIL)
    cycles.close_week(project_id=project.pk, week=last)
    frozen = ReviewCycle.objects.get(project=project, week=last).report
    assert frozen["headline"]["pass_rate"]["previous"] == 1.0
    publish_rubric(project=project, questions=[resolved, correct, helpful])
    _label_in(project, before_last, 4, FAIL)

    cycles.close_week(project_id=project.pk, week=before_last)

    assert ReviewCycle.objects.get(project=project, week=before_last).report["verdict_question"] == "resolved"
    after = ReviewCycle.objects.get(project=project, week=last).report
    [point] = [p for p in after["pass_rate_trend"] if p["week_start"] == before_last.isoformat()]
    assert (point["value"], point["passes"], point["n"]) == (0.5, 4, 8)
    pass_rate = after["headline"]["pass_rate"]
    assert (pass_rate["value"], pass_rate["previous"]) == (0.0, 0.5)
    assert after["compared_again"]["with_week"] == week_label(before_last)


def _at_once_with_a_rewrite_newest_first(project, *, newer, older, work) -> list[Exception]:
    """Run `work()` while another connection rewrites frozen reports as redaction and erasure do, newest week first and
    one row at a time: it holds `newer`, waits until the work waits on a lock, then takes `older`. The errors of both
    (a deadlock fails one of them)."""
    holds_the_newer_week, the_work_waits = threading.Event(), threading.Event()

    def rewrite_newest_first():
        with transaction.atomic():
            ReviewCycle.objects.select_for_update().get(project=project, week=newer)
            holds_the_newer_week.set()
            assert the_work_waits.wait(30)
            ReviewCycle.objects.select_for_update().get(project=project, week=older)

    rewriter, rewrite_errors = in_thread(rewrite_newest_first)
    assert holds_the_newer_week.wait(20)
    worker, work_errors, pid = in_thread_noting_its_pid(work)
    assert comes_to_wait_on_a_lock(pid)
    the_work_waits.set()
    rewriter.join(60)
    worker.join(60)
    return rewrite_errors + work_errors


@pytest.mark.django_db(transaction=True)
def test_a_close_and_a_rewrite_of_the_frozen_reports_at_once_wait_on_each_other_and_both_end(project):
    """A redaction or an erasure rewriting the frozen reports locks them newest week first. A close restating the
    weeks around it (the week before and the week after closed, the newest week still open: a catch-up after a failed
    close) took the week before, then waited for the week after, which the rewrite held while it waited for the week
    before: PostgreSQL broke the deadlock by failing one of them (an erasure's 500, or the close). Every writer of
    several cycles now locks them newest first, so the close waits, and both end."""
    this_week = calendar.current_week(project)
    before, week, after = (this_week - timedelta(weeks=n) for n in (4, 3, 2))
    created_weeks_ago(project, 6)
    for each in (before, week, after):
        _label_in(project, each, 2)
    cycles.close_week(project_id=project.pk, week=before)
    cycles.close_week(project_id=project.pk, week=after)  # the week between waits (a close that failed)
    _label_in(project, week, 2, FAIL)  # labeled since: the week after's comparison is restated

    errors = _at_once_with_a_rewrite_newest_first(
        project, newer=after, older=before, work=lambda: cycles.close_week(project_id=project.pk, week=week)
    )

    assert errors == []
    assert ReviewCycle.objects.get(project=project, week=week).status == "closed"
    assert ReviewCycle.objects.get(project=project, week=after).report["compared_again"]["with_week"] == week_label(
        week
    )


@pytest.mark.django_db(transaction=True)
def test_a_digest_claiming_waiting_weeks_and_a_rewrite_of_the_reports_at_once_both_end(project):
    """The newest week's digest claims the older weeks whose digests waited for it. It locked them oldest first (by
    pk), while a redaction or an erasure rewriting the frozen reports locks them newest first: holding the older week
    and waiting for the newer, against the rewrite holding the newer and waiting for the older, one of the two failed.
    Both lock newest first now."""
    this_week = calendar.current_week(project)
    older, newer, newest = (this_week - timedelta(weeks=n) for n in (3, 2, 1))
    created_weeks_ago(project, 5)
    report = {"week_start": "x", "headline": {}}
    waiting = {"status": "closed", "digest_deferred": True, "report": report}
    for week in (older, newer):
        ReviewCycle.objects.create(project=project, week=week, **waiting)
    latest = ReviewCycle.objects.create(project=project, week=newest, status="closed", report=report)

    errors = _at_once_with_a_rewrite_newest_first(
        project, newer=newer, older=older, work=lambda: cycles.send_digests(cycle_id=latest.pk)
    )

    assert errors == []
    assert ReviewCycle.objects.filter(project=project, digests_sent_at__isnull=False).count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_close_taking_its_final_point_into_a_later_trend_and_a_rewrite_of_the_reports_at_once_both_end(project):
    """A close restates the trend of a closed week further on (not the week after it, not the newest ended week) with
    its final point. Were that week locked only when written, after the closing week's row, a redaction or an erasure
    holding the later week and waiting for the closing week's row would deadlock with it: PostgreSQL fails one, the
    rewrite or the close's restatement (logged, the later trend left as it stood). The close locks the later weeks
    first, newest first like the rewrite, so it waits, and both end. (Two closes side by side meet on the newest ended
    week's row, which each locks first: they do not tell whether the later weeks are locked.)"""
    this_week = calendar.current_week(project)
    week, later = this_week - timedelta(weeks=5), this_week - timedelta(weeks=3)
    created_weeks_ago(project, 7)
    _label_in(project, week, 5)
    _label_in(project, later, 4)
    cycles.close_week(project_id=project.pk, week=later)  # its trend has no figure of the week yet
    _label_in(project, week, 5, FAIL)

    errors = _at_once_with_a_rewrite_newest_first(
        project, newer=later, older=week, work=lambda: cycles.close_week(project_id=project.pk, week=week)
    )

    assert errors == []
    assert ReviewCycle.objects.get(project=project, week=week).status == "closed"
    trend = ReviewCycle.objects.get(project=project, week=later).report["pass_rate_trend"]
    [point] = [point for point in trend if point["week_start"] == week.isoformat()]
    assert (point["value"], point["n"]) == (0.5, 10)


def _verdict_figures(project, week) -> dict:
    """What a closed week froze from the gold answers of the weeks before it: its "what changed" and its retention by
    verdict (the week-1 figures of the cohort before it and the curves, per verdict)."""
    report = ReviewCycle.objects.get(project=project, week=week, status="closed").report
    return {
        "changes": report["changes"],
        "week1": {segment: report["headline"]["retention_week1"][segment] for segment in ("pass", "fail")},
        "curves": {segment: report["retention"]["curves"][segment] for segment in ("pass", "fail")},
    }


def _users(project, outputs, names) -> None:
    for output, name in zip(outputs, names, strict=True):
        Output.objects.filter(pk=output.pk).update(end_user_id=name)


def test_a_week_closed_after_the_week_after_it_gives_the_what_changed_and_retention_by_verdict_of_an_in_order_close(
    client, api, project, other_project, lead
):
    """The week after a late week closed first, when the late week's 40 outputs had no gold answers yet (labeled
    later: 36 pass). In order, the week after's "what changed" lists its pass rate falling from 90% (the late week's)
    to 50%, and its retention splits the late week's cohort by verdict (36 users passing, 4 failing). Closed first,
    it froze neither: no baseline to compare a pass rate with, no verdict for anyone. The late week's close makes both
    again from the stored rows, as a close in order reads them, and says so."""
    in_order, out_of_order = other_project, project
    this_week = calendar.current_week(project)
    late, after = this_week - timedelta(days=14), this_week - timedelta(days=7)
    late_outputs = {}
    for each in (in_order, out_of_order):
        created_weeks_ago(each, 6)
        publish_rubric(project=each, questions=QUESTIONS)
        late_outputs[each.pk] = add_outputs(each, late, 40)
        _users(each, late_outputs[each.pk], [f"user-{n}" for n in range(40)])
        after_outputs = add_outputs(each, after, 40)
        _users(each, after_outputs, [f"user-{n}" for n in range(20)] + [f"new-{n}" for n in range(20)])
        add_verdicts(each, after_outputs, after, passes=20)

    add_verdicts(in_order, late_outputs[in_order.pk], late, passes=36)
    cycles.close_week(project_id=in_order.pk, week=late)
    cycles.close_week(project_id=in_order.pk, week=after)

    cycles.close_week(project_id=out_of_order.pk, week=after)
    assert _verdict_figures(out_of_order, after) != _verdict_figures(in_order, after)  # as it stood: no gold yet
    add_verdicts(out_of_order, late_outputs[out_of_order.pk], late, passes=36)
    cycles.close_week(project_id=out_of_order.pk, week=late)

    assert _verdict_figures(out_of_order, after) == _verdict_figures(in_order, after)
    figures = _verdict_figures(out_of_order, after)
    [rate] = [c for c in figures["changes"] if c["kind"] == "slice_pass_rate" and c["dimension"] == "overall"]
    assert (rate["current_count"], rate["current_total"], rate["baseline_count"], rate["baseline_total"]) == (
        20, 40, 36, 40,
    )  # fmt: skip
    assert (figures["week1"]["pass"]["users"], figures["week1"]["fail"]["users"]) == (36, 4)
    # The stored rows agree with the frozen report (the alerts read them).
    stored = WeekChange.objects.filter(project=out_of_order, week=after, kind="slice_pass_rate", dimension="overall")
    assert [(row.baseline_count, row.baseline_total) for row in stored] == [(36, 40)]
    restated = ReviewCycle.objects.get(project=out_of_order, week=after).report
    assert restated["gold_restated"]["weeks"] == [week_label(late)]
    assert restated["gold_restated"]["parts"] == ["changes", "retention"]
    assert "gold_restated" not in ReviewCycle.objects.get(project=in_order, week=after).report
    # Said where the report is read: the page's frozen note, report.md and the API; the audit log keeps it.
    said = f"Its “what changed” and retention by verdict were made again from {week_label(late)}'s final gold answers"
    client.force_login(lead)
    page = client.get(reverse("labeling:meeting-week", args=[out_of_order.slug, week_label(after)])).content.decode()
    assert said in html.unescape(page.split('id="frozen-note"')[1].split("</p>")[0])
    assert "Gold pass rate of all outputs fell from 90.0% to 50.0%" in html.unescape(
        page.split('id="what-changed"')[1].split("</section>")[0]
    )
    markdown = client.get(reverse("labeling:meeting-markdown", args=[out_of_order.slug, week_label(after)]))
    assert said in markdown.content.decode()
    assert api.get(f"/api/v1/cycles/{week_label(after)}/report").json()["gold_restated"]["weeks"] == [week_label(late)]
    audited = client.get(reverse("labeling:audit", args=[out_of_order.slug])).context["rows"]
    assert [row["sentence"] for row in audited if row["event"].action == "cycle.compared_again"] == [
        f"Made the “what changed” and retention by verdict of the week {week_label(after)} again from "
        f"{week_label(late)}'s final gold answers",
    ]


def test_an_in_order_close_makes_no_what_changed_or_retention_again(other_project):
    """Closing in order, nothing is made again: the later week was still open when the earlier one closed."""
    this_week = calendar.current_week(other_project)
    late, after = this_week - timedelta(days=14), this_week - timedelta(days=7)
    created_weeks_ago(other_project, 6)
    publish_rubric(project=other_project, questions=QUESTIONS)
    add_verdicts(other_project, add_outputs(other_project, late, 40), late, passes=36)
    add_verdicts(other_project, add_outputs(other_project, after, 40), after, passes=20)

    cycles.close_week(project_id=other_project.pk, week=late)
    cycles.close_week(project_id=other_project.pk, week=after)

    assert "gold_restated" not in ReviewCycle.objects.get(project=other_project, week=after).report
    assert not AuditEvent.objects.filter(project=other_project, action="cycle.compared_again").exists()


def test_a_what_changed_that_cannot_be_made_again_is_logged_and_the_late_week_closes(project, monkeypatch, caplog):
    """A recompute that fails in the database (here, the week after's "what changed") is logged; the late week closes
    anyway (the savepoint leaves its transaction usable), and the week after keeps what it froze, in every part."""
    this_week = calendar.current_week(project)
    late, after = this_week - timedelta(days=14), this_week - timedelta(days=7)
    created_weeks_ago(project, 6)
    publish_rubric(project=project, questions=QUESTIONS)
    late_outputs = add_outputs(project, late, 40)
    _users(project, late_outputs, [f"user-{n}" for n in range(40)])
    after_outputs = add_outputs(project, after, 40)
    _users(project, after_outputs, [f"user-{n}" for n in range(40)])
    add_verdicts(project, after_outputs, after, passes=20)
    cycles.close_week(project_id=project.pk, week=after)
    frozen = ReviewCycle.objects.get(project=project, week=after).report
    add_verdicts(project, late_outputs, late, passes=36)

    def fails(**kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")  # an error PostgreSQL aborts the transaction for

    monkeypatch.setattr(cycles, "recompute_closed_weeks_changes", fails)
    cycles.close_week(project_id=project.pk, week=late)

    assert ReviewCycle.objects.get(project=project, week=late).status == "closed"
    after_report = ReviewCycle.objects.get(project=project, week=after).report
    assert "gold_restated" not in after_report
    assert after_report["changes"] == frozen["changes"]
    assert after_report["headline"]["retention_week1"] == frozen["headline"]["retention_week1"]
    assert f"could not restate what the weeks after {project.slug} {week_label(late)} read of it" in caplog.text


def _swap_verdicts(project, week, *, to_fail: list[str], to_pass: list[str]) -> None:
    """Turn the gold verdicts of those users' outputs of `week` around: as many pass as before, another split."""
    for users, passes in ((to_fail, False), (to_pass, True)):
        for resolution in Resolution.objects.filter(item__week=week, item__output__end_user_id__in=users).filter(
            item__project=project
        ):
            resolution.automatic = {"correct": {"value": passes, "method": "unanimous"}}
            resolution.save(update_fields=["automatic"])


def test_a_restated_retention_split_is_told_to_webhook_endpoints_once_though_the_comparison_stands(project, lead):
    """The week after a late week closed first, splitting the late week's cohort by the verdicts as they stood (20 of
    36 passing users returned); the late week's final verdicts put other users on each side, with as many passing
    (so its pass rate, and the week after's comparison with it, stand). The close restated the week after's
    `retention_week1` (20/36 → 16/36) and told no one: endpoints that kept `cycle.closed`'s headline kept the old
    split. They hear the restated headline once, as `cycle.compared_again` with `gold_restated`; the late week itself
    is told by its own `cycle.closed`, as before."""
    this_week = calendar.current_week(project)
    late, after = this_week - timedelta(days=14), this_week - timedelta(days=7)
    created_weeks_ago(project, 6)
    publish_rubric(project=project, questions=QUESTIONS)
    late_outputs = add_outputs(project, late, 40)
    _users(project, late_outputs, [f"user-{n}" for n in range(40)])
    add_verdicts(project, late_outputs, late, passes=36)  # user-0 … user-35 pass
    after_outputs = add_outputs(project, after, 40)
    _users(project, after_outputs, [f"user-{n}" for n in range(20)] + [f"new-{n}" for n in range(20)])
    add_verdicts(project, after_outputs, after, passes=20)
    endpoint = webhooks.create_endpoint(
        project=project, created_by=lead, url="https://hooks.example.com/in",
        events=["cycle.closed", "cycle.compared_again"],
    ).endpoint  # fmt: skip

    cycles.close_week(project_id=project.pk, week=after)
    told = json.loads(WebhookDelivery.objects.get(event="cycle.closed").body)["data"]["headline"]["retention_week1"]
    assert (told["pass"]["returned"], told["pass"]["users"]) == (20, 36)
    _swap_verdicts(project, late, to_fail=["user-0", "user-1", "user-2", "user-3"],
                   to_pass=["user-36", "user-37", "user-38", "user-39"])  # fmt: skip
    cycles.close_week(project_id=project.pk, week=late)
    cycles.close_week(project_id=project.pk, week=late)  # closed already: nothing new

    report = ReviewCycle.objects.get(project=project, week=after).report
    week1 = report["headline"]["retention_week1"]
    assert (week1["pass"]["returned"], week1["pass"]["users"], week1["fail"]["returned"]) == (16, 36, 4)
    assert "compared_again" not in report  # the comparison with the late week stands
    [restated] = WebhookDelivery.objects.filter(event="cycle.compared_again")
    assert restated.endpoint_id == endpoint.pk
    data = json.loads(restated.body)["data"]
    assert (data["week"], data["headline"]) == (week_label(after), report["headline"])
    at = report["gold_restated"]["at"].replace("+00:00", "Z")
    assert data["gold_restated"] == report["gold_restated"] | {"at": at}
    assert data["gold_restated"]["weeks"] == [week_label(late)] and "retention" in data["gold_restated"]["parts"]
    assert data["compared_again"] == {"with_week": week_label(late), "at": at}
    closed = WebhookDelivery.objects.filter(event="cycle.closed").order_by("pk")
    assert [json.loads(delivery.body)["data"]["week"] for delivery in closed] == [week_label(after), week_label(late)]


def test_a_later_week_with_a_week_before_it_still_open_waits_for_that_weeks_close(project):
    """Three weeks: the last closed first, then the first (once labeled), while the middle one (10 of 40 labeled so
    far, all passing) is still open. Closing the first made the last week's "what changed" again over a baseline
    holding the middle week's gold answers as they stood, and said they were the first week's. The last week now
    waits: the middle week's close, with its final gold answers (30 of 40), makes it again and says so."""
    this_week = calendar.current_week(project)
    first, middle, last = (this_week - timedelta(weeks=n) for n in (3, 2, 1))
    created_weeks_ago(project, 6)
    publish_rubric(project=project, questions=QUESTIONS)
    first_outputs = add_outputs(project, first, 40)
    middle_outputs = add_outputs(project, middle, 40)
    add_verdicts(project, middle_outputs[:10], middle, passes=10)
    add_verdicts(project, add_outputs(project, last, 40), last, passes=20)
    cycles.close_week(project_id=project.pk, week=last)
    frozen = ReviewCycle.objects.get(project=project, week=last).report

    add_verdicts(project, first_outputs, first, passes=36)
    cycles.close_week(project_id=project.pk, week=first)

    waiting = ReviewCycle.objects.get(project=project, week=last).report
    assert ("gold_restated" in waiting, waiting["changes"]) == (False, frozen["changes"])

    add_verdicts(project, middle_outputs[10:], middle, passes=20)
    cycles.close_week(project_id=project.pk, week=middle)

    restated = ReviewCycle.objects.get(project=project, week=last).report
    assert restated["gold_restated"]["weeks"] == [week_label(middle)]
    [rate] = [c for c in restated["changes"] if c["kind"] == "slice_pass_rate" and c["dimension"] == "overall"]
    assert (rate["baseline_count"], rate["baseline_total"]) == (36 + 30, 80)
