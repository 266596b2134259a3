"""The weekly review meeting page, its decisions, close and Markdown export, and the dashboards (Django test client)."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from labeling.exceptions import NothingToClose
from labeling.models import (
    CycleStatus,
    Decision,
    Item,
    OutboxMessage,
    ProjectWeek,
    Queue,
    QueueWeek,
    ReviewCycle,
    week_label,
)
from labeling.rules import calendar
from labeling.rules.explore import week_query
from labeling.selectors.platform import platform_rows
from labeling.services import cycles
from labeling.services import outbox as outbox_services
from labeling.services.datasets import create_dataset
from labeling.services.queues import QueueValues, update_queue
from labeling.services.routing import route_outputs
from tests.conftest import _member
from tests.factories import OutputFactory, UserFactory, created_weeks_ago
from tests.helpers.labeling import label_outputs
from tests.helpers.metrics import store_retention, store_week
from tests.helpers.reports import HOSTILE_OUTPUT, sample_report
from tests.outbox import enqueued, run_as_worker

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def project_from_long_ago(project):
    """The project existed in every week these tests read (a week before it existed is another case, below)."""
    created_weeks_ago(project, 52)


@pytest.fixture
def queue(project):
    return Queue.objects.create(project=project, slug="billing", name="Billing", overlap=2, weekly_quota=20)


@pytest.fixture
def metrics(project, rubric, queue, this_week, last_week):
    store_week(project, queue, last_week - timedelta(days=7), passes=30, n=40)
    store_week(project, queue, last_week, passes=41, n=50, alpha=0.75)
    store_retention(project, last_week - timedelta(days=14), this_week)
    return last_week


def closed_cycle(project, week: date, **report_overrides) -> ReviewCycle:
    report = sample_report(week=week_label(week), week_start=week.isoformat(), **report_overrides)
    return ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED, report=report)


def url(name, project, *args):
    return reverse(f"labeling:{name}", args=[project.slug, *args])


# Who may see and do what -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["meeting", "dashboard"])
def test_an_outsider_gets_404_on_the_pages(client, project, outsider, name):
    client.force_login(outsider)
    assert client.get(url(name, project)).status_code == 404


def test_an_operator_reads_the_meeting_and_follows_its_dashboard_tab(client, project, queue, metrics, last_week):
    """An operator (no membership) reads the meeting page; its Dashboard tab, and the overview's link, lead to a
    dashboard the operator may read too, not to a 404."""
    operator = UserFactory(username="sam")
    operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    client.force_login(operator)
    dashboard = url("dashboard", project)

    meeting = client.get(url("meeting-week", project, week_label(last_week))).content.decode()
    overview = client.get(f"/p/{project.slug}/").content.decode()

    assert f'href="{dashboard}"' in meeting and f'href="{dashboard}"' in overview
    response = client.get(dashboard)
    assert response.status_code == 200 and response.context["membership"] is None
    assert "82%" in response.content.decode()
    assert 'href="{}"'.format(url("adjudication", project)) not in meeting  # reading only: no lead's screens


def test_an_outsider_gets_404_on_a_week_its_export_and_every_write(client, project, outsider, lead, last_week):
    cycle = closed_cycle(project, last_week)
    decision = Decision.objects.create(cycle=cycle, text="Keep", created_by=lead)
    label = week_label(last_week)
    client.force_login(outsider)
    assert client.get(url("meeting-week", project, label)).status_code == 404
    assert client.get(url("meeting-markdown", project, label)).status_code == 404
    assert client.post(url("decision-add", project, label), {"text": "x"}).status_code == 404
    assert client.post(url("decision-delete", project, label, decision.pk)).status_code == 404
    assert client.post(url("meeting-close", project, label)).status_code == 404
    assert list(Decision.objects.values_list("text", flat=True)) == ["Keep"]


def test_signed_out_people_are_sent_to_sign_in(client, project, last_week):
    response = client.get(url("meeting-week", project, week_label(last_week)))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("persona", ["expert", "engineer"])
def test_experts_and_engineers_read_but_cannot_write(client, request, project, lead, rubric, queue, metrics, persona):
    user = request.getfixturevalue(persona)
    week = metrics
    label = week_label(week)
    cycle = cycles.get_cycle(project=project, week=week)
    decision = Decision.objects.create(cycle=cycle, text="Keep this", created_by=lead)
    client.force_login(user)

    page = client.get(url("meeting-week", project, label))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Keep this" in html
    assert 'id="close-week"' not in html and "Record a decision" not in html and ">Delete<" not in html
    assert client.get(url("dashboard", project)).status_code == 200
    assert client.get(url("meeting-markdown", project, label)).status_code == 200

    assert client.post(url("decision-add", project, label), {"text": "Sneaky"}).status_code == 404
    assert client.post(url("decision-delete", project, label, decision.pk)).status_code == 404
    assert client.post(url("meeting-close", project, label)).status_code == 404
    assert client.post(url("meeting-refresh", project, label)).status_code == 404
    assert list(Decision.objects.values_list("text", flat=True)) == ["Keep this"]
    assert ReviewCycle.objects.get(pk=cycle.pk).status == CycleStatus.OPEN


def test_another_projects_decision_is_not_found(client, project, other_project, lead, last_week):
    mine = closed_cycle(project, last_week)
    theirs = ReviewCycle.objects.create(project=other_project, week=last_week)
    foreign = Decision.objects.create(cycle=theirs, text="Not yours")
    other_week = Decision.objects.create(
        cycle=ReviewCycle.objects.create(project=project, week=last_week - timedelta(days=7)), text="Older week"
    )
    client.force_login(lead)
    label = week_label(last_week)
    assert client.post(url("decision-delete", project, label, foreign.pk)).status_code == 404
    assert client.post(url("decision-delete", project, label, other_week.pk)).status_code == 404
    assert Decision.objects.count() == 2
    assert not mine.decisions.exists()


# The meeting page --------------------------------------------------------------------------------------------


def test_the_meeting_url_goes_to_the_latest_closed_week_else_the_current_one(client, project, lead, this_week):
    client.force_login(lead)
    assert client.get(url("meeting", project))["Location"] == url("meeting-week", project, week_label(this_week))
    closed_cycle(project, this_week - timedelta(days=21))
    closed_cycle(project, this_week - timedelta(days=14))
    ReviewCycle.objects.create(project=project, week=this_week - timedelta(days=7))
    expected = url("meeting-week", project, week_label(this_week - timedelta(days=14)))
    assert client.get(url("meeting", project))["Location"] == expected


@pytest.mark.parametrize("label", ["2026-W54", "2026-48", "W48", "2026-W00", "next-week"])
def test_a_bad_week_label_is_not_found(client, project, lead, label):
    client.force_login(lead)
    assert client.get(url("meeting-week", project, label)).status_code == 404
    assert client.get(url("meeting-markdown", project, label)).status_code == 404


def test_a_week_that_has_not_started_is_not_found(client, project, lead, this_week):
    client.force_login(lead)
    assert client.get(url("meeting-week", project, week_label(this_week + timedelta(days=7)))).status_code == 404


def test_a_past_week_with_nothing_in_it_has_an_empty_page_and_export(client, project, lead, this_week):
    """As in the API: every started week has a report, so a lead can record decisions on it and close it."""
    client.force_login(lead)
    label = week_label(this_week - timedelta(weeks=5))
    html = client.get(url("meeting-week", project, label)).content.decode()
    assert 'id="live-note"' in html and "No pass rate yet" in html and 'id="close-week"' in html
    assert "No pass rate yet." in client.get(url("meeting-markdown", project, label)).content.decode()
    assert not ReviewCycle.objects.exists()


def test_a_week_before_the_project_with_nothing_to_review_has_no_cycle_to_close(client, project, lead, this_week):
    """A week that ended before the project was created shows its figures with a note, not a close button; a close
    asked for anyway is a 409 that says why, and makes no cycle (a closed one would open a next week nobody closes)."""
    created_weeks_ago(project, 0)
    client.force_login(lead)
    label = week_label(this_week - timedelta(weeks=5))

    html = client.get(url("meeting-week", project, label)).content.decode()
    response = client.post(url("meeting-close", project, label))

    assert 'id="before-project-note"' in html and 'id="close-week"' not in html and 'id="live-note"' not in html
    assert response.status_code == 409 and "ended before the project was created" in response.content.decode()
    with pytest.raises(NothingToClose):
        cycles.close_week(project_id=project.pk, week=this_week - timedelta(weeks=5))
    assert not ReviewCycle.objects.exists() and not enqueued()


def test_a_week_before_the_project_with_nothing_to_review_has_no_figures_to_refresh(client, project, lead, this_week):
    """The refresh posted for such a week (the page offers none) was queued, and the worker then made an open cycle
    for it that nobody could close or decide in; it is now a 409 that says why, as the close is, and nothing is
    queued."""
    created_weeks_ago(project, 0)
    client.force_login(lead)
    label = week_label(this_week - timedelta(weeks=5))

    response = client.post(url("meeting-refresh", project, label))

    assert response.status_code == 409 and "ended before the project was created" in response.content.decode()
    assert not enqueued() and not ReviewCycle.objects.exists()


def test_a_refresh_queued_for_such_a_week_before_the_refusal_makes_no_cycle_when_it_runs(project, this_week):
    """Outbox rows queued before request_refresh refused such weeks still reach the worker: it computes nothing."""
    created_weeks_ago(project, 0)

    cycles.refresh_metrics(project=project, week=this_week - timedelta(weeks=5))

    assert not ReviewCycle.objects.exists()


def test_a_week_before_the_project_that_holds_review_work_may_be_closed(client, project, lead, this_week):
    """Outputs sent with older timestamps are queued in their own weeks: those weeks have something to close."""
    created_weeks_ago(project, 0)
    week = this_week - timedelta(weeks=5)
    queue = Queue.objects.create(project=project, slug="imported", name="Imported")
    sent_late = OutputFactory(project=project, occurred_at=calendar.week_start(project, week) + timedelta(days=1))
    route_outputs(project_id=project.pk, output_ids=[sent_late.pk])
    assert Item.objects.get(queue=queue).week == week
    client.force_login(lead)

    html = client.get(url("meeting-week", project, week_label(week))).content.decode()

    # Before the week the project was created in: beat never closes it, and the page does not say "not closed yet".
    assert 'id="close-week"' in html and "The week is over and was never closed" in html
    assert cycles.close_week(project_id=project.pk, week=week).status == CycleStatus.CLOSED


def test_a_week_before_the_project_that_holds_outputs_only_may_be_closed_and_freezes_their_count(
    client, project, lead, this_week
):
    """A team that sent a week of outputs with their dates, none routed into a queue: the page showed that week's
    figures but no close button, and a close asked for was a 409. Closing it freezes the week as it was: its outputs
    counted, nothing labeled. Through the page, the task it queues, and the command alike."""
    created_weeks_ago(project, 0)
    week, other = this_week - timedelta(weeks=5), this_week - timedelta(weeks=6)
    for sent in (week, week, week, other):
        OutputFactory(project=project, occurred_at=calendar.week_start(project, sent) + timedelta(days=1))
    assert not Item.objects.exists()
    client.force_login(lead)
    label = week_label(week)

    html = client.get(url("meeting-week", project, label)).content.decode()
    assert 'id="close-week"' in html and 'id="before-project-note"' not in html
    response = client.post(url("meeting-close", project, label))
    assert response.status_code == 302 and response["Location"].endswith("?closing=1")
    [message] = enqueued()
    run_as_worker(message)  # what the worker does

    cycle = ReviewCycle.objects.get(project=project, week=week)
    assert cycle.status == CycleStatus.CLOSED and cycle.closed_by == lead
    assert cycle.report["headline"]["labels"]["done"] == 0 and cycle.report["headline"]["pass_rate"] is None
    assert ProjectWeek.objects.get(project=project, week=week).outputs == 3
    assert 'id="frozen-note"' in client.get(url("meeting-week", project, label)).content.decode()
    assert cycles.close_week(project_id=project.pk, week=other).status == CycleStatus.CLOSED


def test_closing_a_week_before_the_project_opens_no_cycle_for_a_next_week_that_holds_nothing(
    client, project, lead, this_week
):
    """Closing a week of outputs sent with old dates opened the next week's cycle, even when that week too ended before
    the project and held nothing: an open cycle no one could ever close, nor decide in. The next week's cycle is
    opened only when it is a week with something to close (the rule the close and the decisions read), as closing
    the week just before the project opens the project's first."""
    created_weeks_ago(project, 0)
    first, empty, late = this_week - timedelta(weeks=6), this_week - timedelta(weeks=5), this_week - timedelta(weeks=1)
    for sent in (first, late):
        OutputFactory(project=project, occurred_at=calendar.week_start(project, sent) + timedelta(days=1))

    cycles.close_week(project_id=project.pk, week=first)
    cycles.close_week(project_id=project.pk, week=late)

    assert dict(ReviewCycle.objects.filter(project=project).values_list("week", "status")) == {
        first: CycleStatus.CLOSED,
        late: CycleStatus.CLOSED,
        this_week: CycleStatus.OPEN,
    }
    client.force_login(lead)
    html = client.get(url("meeting-week", project, week_label(empty))).content.decode()
    assert 'id="before-project-note"' in html and 'id="close-week"' not in html


def test_a_closed_week_shows_its_frozen_report_not_the_live_rows(client, project, lead, queue, metrics):
    # The stored rows say 41/50 = 82%; the frozen report says 33/40. The page must show the frozen one.
    frozen = sample_report()
    frozen["headline"]["pass_rate"].update(value=0.825, passes=33, n=40, ci_low=0.68, ci_high=0.91)
    cycle = closed_cycle(project, metrics, headline=frozen["headline"])
    client.force_login(lead)
    html = client.get(url("meeting-week", project, cycle.label)).content.decode()
    assert "82.5%" in html and "33 of 40 items" in html
    assert 'id="frozen-note"' in html and "provisional" not in html
    assert 'id="close-week"' not in html
    # Charts with their data points, the agenda's adjudication link, and the excerpt as escaped text.
    assert html.count('class="point series-0"') == len(frozen["pass_rate_trend"])
    assert 'data-chart="retention"' in html and 'data-chart="agreement"' in html
    assert url("adjudicate", project, 501) in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "Promises a refund we do not offer" in html and "Agreed, see policy 4.2" in html
    assert "6 of 10 users" in html and "3 of 10 users" in html


def test_a_pass_rate_over_one_item_says_item_in_the_singular(client, project, lead, queue):
    frozen = sample_report()
    frozen["headline"]["pass_rate"].update(value=1.0, passes=1, n=1, ci_low=0.21, ci_high=1.0)
    cycle = closed_cycle(project, calendar.current_week(project) - timedelta(days=7), headline=frozen["headline"])
    client.force_login(lead)

    response = client.get(url("meeting-week", project, cycle.label))

    tile = next(tile for tile in response.context["tiles"] if tile["key"] == "pass-rate")
    assert tile["detail"].startswith("1 of 1 item · 95% interval"), tile["detail"]


def test_the_movers_show_each_change_with_its_sign_and_say_which_weeks_their_items_are(client, project, lead, queue):
    movers = [
        {"tag": "refunds", "value": 0.5, "previous": 0.8, "change": -0.3, "n": 10, "previous_n": 12},
        {"tag": "shipping", "value": 0.9, "previous": 0.7, "change": 0.2, "n": 8, "previous_n": 7},
    ]
    cycle = closed_cycle(project, calendar.current_week(project) - timedelta(days=7), agenda={"movers": movers})
    client.force_login(lead)

    html = client.get(url("meeting-week", project, cycle.label)).content.decode()

    assert "-30 pts" in html and "+20 pts" in html
    assert "Items (this / last week)" in html and "8 / 7" in html
    # Each tag's failed outputs of the week, in explore, by the one writer of its queries (rules.explore.week_query).
    week_start, verdict = cycle.week, cycle.report["verdict_question"]
    failed = week_query(week_start, tags=("refunds",), gold=((verdict, "false"),))
    assert f'href="/p/{project.slug}/explore/?{failed.replace("&", "&amp;")}" data-explore="failed"' in html
    assert f"from={week_start.isoformat()}&to={(week_start + timedelta(days=6)).isoformat()}&tag=refunds" in failed


def test_an_open_week_is_built_live_and_says_so(client, project, lead, queue, metrics):
    client.force_login(lead)
    html = client.get(url("meeting-week", project, week_label(metrics))).content.decode()
    assert 'id="live-note"' in html and "provisional" in html
    assert "82.0%" in html and "41 of 50 items" in html
    assert "+7.0 pts" in html  # 30/40 = 75% the week before
    assert "0.750" in html and "+0.050" in html
    assert 'id="close-week"' in html  # the week is over and open: a lead may close it
    # Two points of the pass-rate trend, neither week closed: drawn dotted, as figures that may still change.
    assert html.count('class="point series-0 provisional"') == 2


def test_the_running_week_has_no_close_button_and_no_next_week(client, project, lead, this_week):
    client.force_login(lead)
    response = client.get(url("meeting-week", project, week_label(this_week)))
    html = response.content.decode()
    assert 'id="close-week"' not in html
    assert "no figure last week to compare with" in html  # last week exists; it has no figure
    assert 'rel="next"' not in html and 'rel="prev"' in html
    assert "No pass rate yet" in html  # empty charts are friendly, not broken


def test_a_week_without_figures_yet_does_not_say_last_week_had_none(client, project, lead, queue, metrics, this_week):
    """Monday morning: no gold answers or doubly labeled items yet this week, while last week had both."""
    # The hourly refresh ran (never computed, the tiles would say "not computed yet": test_meeting_never_computed).
    ReviewCycle.objects.create(project=project, week=this_week, figures_refreshed_at=timezone.now())
    client.force_login(lead)
    html = client.get(url("meeting-week", project, week_label(this_week))).content.decode()

    def tile(key):
        return html.split(f'data-tile="{key}"')[1].split("</div>")[0]

    assert "No gold answers yet this week." in tile("pass-rate")
    assert "last week 82.0%" in tile("pass-rate")  # 41 of 50
    assert "No item has two labels yet." in tile("alpha")
    assert "no figure last week" not in tile("pass-rate") + tile("alpha")


# Decisions ---------------------------------------------------------------------------------------------------


def test_a_lead_records_and_deletes_a_decision(client, project, lead, last_week):
    client.force_login(lead)
    label = week_label(last_week)
    response = client.post(
        url("decision-add", project, label),
        {"text": "  Add the refund policy  ", "owner": "Priya", "due_date": "2026-12-04"},
    )
    assert response.status_code == 302
    decision = Decision.objects.get()
    assert (decision.text, decision.owner, decision.due_date, decision.created_by) == (
        "Add the refund policy", "Priya", date(2026, 12, 4), lead,
    )  # fmt: skip
    assert decision.cycle.week == last_week and decision.cycle.status == CycleStatus.OPEN
    html = client.get(response["Location"]).content.decode()
    assert "Add the refund policy" in html and "2026-12-04" in html

    assert client.post(url("decision-delete", project, label, decision.pk)).status_code == 302
    assert not Decision.objects.exists()


def test_decisions_can_be_added_to_a_closed_week(client, project, lead, last_week):
    closed_cycle(project, last_week)
    client.force_login(lead)
    assert client.post(url("decision-add", project, week_label(last_week)), {"text": "Ship it"}).status_code == 302
    assert Decision.objects.get().cycle.status == CycleStatus.CLOSED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"text": ""}, "Write down what was decided."),
        ({"text": "   "}, "Write down what was decided."),
        ({"text": "x" * 2001}, "at most 2000 characters"),
        ({"text": "Fine", "due_date": "2026-13-45"}, "The due date must be a real date, up to 9999-12-31"),
        ({"text": "Fine", "due_date": "next friday"}, "The due date must be a real date, up to 9999-12-31"),
        ({"text": "Fine", "owner": "o" * 201}, "at most 200 characters"),
        ({"text": "nul\x00byte"}, "Null characters are not allowed."),
    ],
)
def test_bad_decision_input_is_shown_and_nothing_is_stored(client, project, lead, last_week, data, message):
    client.force_login(lead)
    response = client.post(url("decision-add", project, week_label(last_week)), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Decision.objects.exists()
    assert not ReviewCycle.objects.exists()  # not even an empty cycle row


# Closing the week --------------------------------------------------------------------------------------------


def test_a_lead_closes_an_ended_week_through_the_task(
    client, project, lead, queue, metrics, django_capture_on_commit_callbacks
):
    client.force_login(lead)
    label = week_label(metrics)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url("meeting-close", project, label))
    assert response.status_code == 302 and response["Location"].endswith("?closing=1")
    [message] = enqueued()  # close_week, written with the request and published after commit
    assert (message.task, message.args) == ("labeling.close_week", [project.pk, metrics.isoformat(), lead.pk])
    assert len(callbacks) == 1
    assert not ReviewCycle.objects.filter(status=CycleStatus.CLOSED).exists()
    closing = client.get(response["Location"]).content.decode()
    assert "close queued" in closing and "The close is queued, waiting for the worker" in closing
    assert 'http-equiv="refresh"' in closing
    # Without ?closing the page still knows: the outbox says the close is outstanding.
    assert "The close is queued" in client.get(url("meeting-week", project, label)).content.decode()
    # Asking twice while it waits queues nothing more.
    client.post(url("meeting-close", project, label))
    assert len(enqueued()) == 1

    OutboxMessage.objects.update(published_at=timezone.now(), started_at=timezone.now())  # a worker took it
    assert "closing…" in client.get(response["Location"]).content.decode()

    run_as_worker(message)  # what the worker does
    cycle = ReviewCycle.objects.get(project=project, week=metrics)
    assert cycle.status == CycleStatus.CLOSED and cycle.closed_by == lead
    html = client.get(response["Location"]).content.decode()
    assert 'id="frozen-note"' in html and 'http-equiv="refresh"' not in html and 'id="close-week"' not in html

    again = client.post(url("meeting-close", project, label), follow=True)
    assert "already closed" in again.content.decode()


def test_the_running_week_cannot_be_closed(client, project, lead, this_week, django_capture_on_commit_callbacks):
    client.force_login(lead)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url("meeting-close", project, week_label(this_week)))
    assert response.status_code == 409
    assert "still running" in response.content.decode()
    assert callbacks == [] and not OutboxMessage.objects.exists()


def test_a_lead_refreshes_the_live_figures_of_an_open_week(
    client, project, lead, queue, this_week, django_capture_on_commit_callbacks
):
    client.force_login(lead)
    label = week_label(this_week)
    assert 'id="refresh-figures"' in client.get(url("meeting-week", project, label)).content.decode()
    item = Item.objects.create(
        project=project, queue=queue, output=OutputFactory(project=project), week=this_week, overlap=1
    )
    assert not QueueWeek.objects.filter(project=project, week=this_week).exists()

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url("meeting-refresh", project, label))
    assert response.status_code == 302 and len(callbacks) == 1  # published after commit
    [message] = enqueued()
    assert (message.task, message.args) == ("labeling.refresh_metrics", [project.pk, this_week.isoformat()])
    page = client.get(url("meeting-week", project, label)).content.decode()
    assert "A refresh of the figures is queued, waiting for the worker" in page
    run_as_worker(message)  # what the worker does
    assert 'id="refresh-note"' not in client.get(url("meeting-week", project, label)).content.decode()

    assert QueueWeek.objects.get(project=project, week=this_week).items == 1 == item.queue.items.count()


def test_a_refresh_waiting_for_the_worker_says_to_reload_in_a_moment(client, project, lead, this_week):
    client.force_login(lead)

    page = client.post(url("meeting-refresh", project, week_label(this_week)), follow=True).content.decode()

    assert "Refresh asked for: the figures below are updated when the worker is done; reload in a moment." in page


@pytest.mark.django_db(transaction=True)
def test_a_refresh_done_before_the_answer_says_the_figures_are_up_to_date(
    client, project, lead, queue, this_week, monkeypatch
):
    """A worker fast enough (or the demo's eager Celery) finished the refresh before the page answers: it says the
    figures shown are the new ones, not to reload."""

    def fast_worker(message_id: int) -> None:  # the message published and run at once, as a worker would
        run_as_worker(OutboxMessage.objects.get(pk=message_id))

    monkeypatch.setattr(outbox_services, "_publish_after_commit", fast_worker)
    Item.objects.create(project=project, queue=queue, output=OutputFactory(project=project), week=this_week, overlap=1)
    client.force_login(lead)

    page = client.post(url("meeting-refresh", project, week_label(this_week)), follow=True).content.decode()

    assert "The week&#x27;s figures are recomputed: the page shows them." in page
    assert "reload in a moment" not in page and 'id="refresh-note"' not in page
    assert QueueWeek.objects.get(project=project, week=this_week).items == 1


def test_a_closed_weeks_figures_are_not_refreshed(client, project, lead, last_week, django_capture_on_commit_callbacks):
    closed_cycle(project, last_week)
    client.force_login(lead)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url("meeting-refresh", project, week_label(last_week)), follow=True)
    assert "its report is frozen" in response.content.decode() and callbacks == []
    assert not OutboxMessage.objects.exists()


# Markdown export ---------------------------------------------------------------------------------------------


def test_the_markdown_export_has_the_figures_decisions_and_inert_excerpts(client, project, expert, lead, last_week):
    cycle = closed_cycle(project, last_week)
    due = calendar.local_today(project) + timedelta(days=3)  # not overdue: the export would say so
    Decision.objects.create(cycle=cycle, text="Add the refund policy", owner="Priya", due_date=due)
    client.force_login(expert)
    label = week_label(last_week)
    response = client.get(url("meeting-markdown", project, label))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="support-bot-{label}.md"'
    text = response.content.decode()
    assert f"# Support bot: weekly review {label}" in text
    assert "82.0% (41 of 50 items; 95% interval 69.5% – 90.2%)" in text
    assert f"- Add the refund policy (owner: Priya; due {due.isoformat()})\n" in text
    assert HOSTILE_OUTPUT not in text and "<script>" not in text
    assert '\\<script\\>alert\\("x"\\)\\</script\\>' in text


def test_the_export_of_an_open_week_is_live(client, project, lead, queue, metrics):
    client.force_login(lead)
    text = client.get(url("meeting-markdown", project, week_label(metrics))).content.decode()
    assert "provisional" in text and "82.0% (41 of 50 items" in text and "No decisions recorded." in text


# Dashboards --------------------------------------------------------------------------------------------------


def test_the_dashboard_shows_the_last_twelve_weeks_by_default(client, project, engineer, queue, metrics, this_week):
    client.force_login(engineer)
    response = client.get(url("dashboard", project))
    assert response.status_code == 200
    html = response.content.decode()
    first = this_week - timedelta(weeks=11)
    assert f"{week_label(first)} to {week_label(this_week)}" in html
    assert html.count('<tr data-week="') == 12
    # Two pass-rate weeks, two alpha weeks; not closed, so provisional (drawn dotted).
    assert len(re.findall(r'class="point series-0( provisional)?"', html)) == 2 + 2
    assert 'data-series="pass"' in html and 'data-series="fail"' in html


def test_the_dashboard_range_queue_and_question_filters(client, project, lead, queue, metrics):
    client.force_login(lead)
    week = metrics
    response = client.get(url("dashboard", project), {"from": week_label(week), "to": week_label(week)})
    html = response.content.decode()
    assert response.status_code == 200 and html.count('<tr data-week="') == 1
    assert len(re.findall(r'class="point series-0( provisional)?"', html)) == 2  # pass rate and alpha of that week
    assert "82%" in html
    rating = client.get(url("dashboard", project), {"question": "helpful"}).content.decode()
    assert "Mean rating of “helpful”" in rating and 'data-value="3.5000"' in rating
    other = Queue.objects.create(project=project, slug="shipping", name="Shipping")
    empty = client.get(url("dashboard", project), {"queue": other.slug}).content.decode()
    assert "No pass rate yet" in empty


def test_the_dashboards_quota_of_all_queues_is_that_of_the_queues_with_one_as_on_the_meeting_page(
    client, project, lead, queue, metrics
):
    """Billing wants 20 items a week, a thumbs-down queue takes every one: "all queues" have billing's quota of 20, said
    to be 1 queue's of 2 and set against billing's 50 items alone, not the 50 + 7 of both (it said no quota at all)."""
    week = metrics
    thumbs_down = Queue.objects.create(project=project, slug="thumbs-down", name="Thumbs down")
    QueueWeek.objects.create(project=project, week=week, queue=thumbs_down, quota=None, items=7, items_complete=7,
                             labels_wanted=7, labels=7, backlog=0)  # fmt: skip
    client.force_login(lead)
    span = {"from": week_label(week), "to": week_label(week)}

    html = client.get(url("dashboard", project), span).content.decode()
    meeting = client.get(url("meeting-week", project, week_label(week))).content.decode()

    row = html.split(f'<tr data-week="{week_label(week)}">')[1].split("</tr>")[0]
    assert [cell.split("<")[0] for cell in row.split('<td class="num">')[1:]] == ["37", "107", "57", "20 ", "70"]
    assert "(1 of 2 queues)</span>" in row
    assert "on 57 items · quota 20 items in 1 of 2 queues (50 placed there)" in meeting
    billing = client.get(url("dashboard", project), {**span, "queue": queue.slug}).content.decode()
    assert '<td class="num">20</td>' in billing.split(f'<tr data-week="{week_label(week)}">')[1].split("</tr>")[0]


def test_a_queue_paused_this_week_leaves_its_quota_out_of_the_meeting_page_and_dashboard_as_on_the_platform_page(
    client, project, lead, queue, this_week, last_week
):
    """Billing (quota 20) runs; its lead paused Escalations (quota 30) this week. The platform page leaves a paused
    queue's labels wanted and quota out of the running week, but the meeting page and the dashboard counted them: the
    week looked short of a 50-item quota the lead had stopped on purpose. All three now leave it out. Last week, closed
    before the pause, keeps the figures its close froze."""
    escalations = Queue.objects.create(project=project, slug="escalations", name="Escalations", weekly_quota=30)
    for week in (last_week, this_week):
        QueueWeek.objects.create(project=project, week=week, queue=queue, quota=20, items=10, items_complete=4,
                                 labels_wanted=20, labels=8, backlog=12)  # fmt: skip
        QueueWeek.objects.create(project=project, week=week, queue=escalations, quota=30, items=5, items_complete=1,
                                 labels_wanted=10, labels=2, backlog=8)  # fmt: skip
    # The running week's items as those rows count them (the dashboard counts them now): 4 labeled twice, 6 open.
    label_outputs(project, 4, queue=queue.slug)
    for _ in range(6):
        Item.objects.create(project=project, queue=queue, output=OutputFactory(project=project), week=this_week,
                            overlap=2)  # fmt: skip
    with_both = {"done": 10, "wanted": 30, "quota": 50, "items": 15, "previous_done": 0, "change": 10}
    cycle = closed_cycle(project, last_week, headline={**sample_report()["headline"], "labels": with_both})
    update_queue(queue=escalations, actor=lead, values=QueueValues(slug="escalations", name="Escalations",
                                                                    weekly_quota=30, is_active=False))  # fmt: skip
    client.force_login(lead)

    meeting = client.get(url("meeting-week", project, week_label(this_week))).content.decode()
    tile = meeting.split('data-tile="labels"')[1].split("</div>")[0]
    assert "8 / 20" in tile and "on 10 items · quota 20 items" in tile
    span = {"from": week_label(last_week), "to": week_label(this_week)}
    dashboard = client.get(url("dashboard", project), span).content.decode()
    row = dashboard.split(f'<tr data-week="{week_label(this_week)}">')[1].split("</tr>")[0]
    assert [cell.split("<")[0] for cell in row.split('<td class="num">')[1:]] == ["8", "20", "10", "20", "12"]
    [platform] = [row for row in platform_rows() if row.project == project]
    assert (platform.this_week.labels, platform.this_week.labels_wanted) == (8, 20)
    # The weeks before the running one are as stored, on all three.
    closed = client.get(url("meeting-week", project, cycle.label)).content.decode()
    assert "on 15 items · quota 50 items" in closed.split('data-tile="labels"')[1].split("</div>")[0]
    row = dashboard.split(f'<tr data-week="{week_label(last_week)}">')[1].split("</tr>")[0]
    assert [cell.split("<")[0] for cell in row.split('<td class="num">')[1:]] == ["10", "30", "15", "50", "20"]
    assert (platform.last_week.labels, platform.last_week.labels_wanted) == (10, 30)


def test_the_dashboards_running_week_counts_the_items_placed_now_not_the_last_refresh(
    client, project, lead, engineer, queue, this_week, last_week
):
    """The last refresh stored 87 items for the running week; since then the queue's items changed (here: 3 placed,
    1 labeled twice). The home page counts the items placed now, and so does the dashboard's running week; a closed
    week keeps what was stored. The quality and agreement still come from the last refresh: the page says when that
    was, and a lead may refresh them from here."""
    for week in (last_week, this_week):
        QueueWeek.objects.create(project=project, week=week, queue=queue, quota=20, items=87, items_complete=80,
                                 labels_wanted=174, labels=160, backlog=14)  # fmt: skip
    label_outputs(project, 1, queue=queue.slug, answers=({"correct": True}, {"correct": True}))
    for _ in range(2):
        Item.objects.create(project=project, queue=queue, output=OutputFactory(project=project), week=this_week,
                            overlap=2)  # fmt: skip
    refreshed = ReviewCycle.objects.create(
        project=project, week=this_week, figures_refreshed_at=datetime(2026, 12, 1, 9, 5, tzinfo=UTC)
    )
    client.force_login(lead)
    span = {"from": week_label(last_week), "to": week_label(this_week)}

    html = client.get(url("dashboard", project), span).content.decode()

    row = html.split(f'<tr data-week="{week_label(this_week)}">')[1].split("</tr>")[0]
    assert [cell.split("<")[0] for cell in row.split('<td class="num">')[1:]] == ["2", "6", "3", "20", "4"]
    row = html.split(f'<tr data-week="{week_label(last_week)}">')[1].split("</tr>")[0]
    assert [cell.split("<")[0] for cell in row.split('<td class="num">')[1:]] == ["160", "174", "87", "20", "14"]
    note = html.split('id="running-week-note"')[1].split("</p>")[0]
    assert "counted now" in note and "as of 2026-12-01 09:05" in note and "every hour" in note
    refresh = html.split('id="dashboard-refresh"')[1].split("</form>")[0]
    assert url("meeting-refresh", project, week_label(this_week)) in refresh
    response = client.post(url("meeting-refresh", project, week_label(this_week)), {"next": "dashboard"})
    assert response.status_code == 302 and response.url == url("dashboard", project)
    refreshed.delete()
    client.force_login(engineer)  # refreshing is the leads'; without a finished refresh the page says so plainly
    html = client.get(url("dashboard", project), span).content.decode()
    assert 'id="dashboard-refresh"' not in html
    assert "as last computed" in html.split('id="running-week-note"')[1].split("</p>")[0]


def test_the_dashboard_says_when_the_running_weeks_figures_were_computed_after_the_outbox_is_swept(
    client, project, lead, queue, this_week
):
    """The "as of" of the running week's provisional figures is kept with the week, not read from the refresh's outbox
    row: once the sweep deletes that row (OUTBOX_KEEP_DAYS later) the page still says when they were computed."""
    label_outputs(project, 1, queue=queue.slug, answers=({"correct": True}, {"correct": True}))
    client.force_login(lead)
    client.post(url("meeting-refresh", project, week_label(this_week)), {"next": "dashboard"})
    (message,) = enqueued("labeling.refresh_metrics")
    before = timezone.localtime()
    run_as_worker(message)
    after = timezone.localtime()
    moments = {f"as of {moment:%Y-%m-%d %H:%M}" for moment in (before, after)}

    def note() -> str:
        html = client.get(url("dashboard", project)).content.decode()
        return html.split('id="running-week-note"')[1].split("</p>")[0]

    assert any(moment in note() for moment in moments)
    OutboxMessage.objects.filter(pk=message.pk).update(published_at=timezone.now() - timedelta(days=30))
    assert outbox_services.prune() >= 1 and not OutboxMessage.objects.filter(pk=message.pk).exists()
    assert any(moment in note() for moment in moments)
    # A refresh that failed since may have left the figures part old, part new: no time is claimed for them.
    cycles.record_failure(project=project, week=this_week, kind="refresh", error="the database went away")
    assert "as last computed" in note()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-W54"}, "no week 54"),
        # Each parameter named and its value given as the range's error does: "`from` (2026-W10) is after `to`".
        (
            {"from": "2026-W60"},
            '<p id="dashboard-error-from">`from` (2026-W60) is not a week: 2026 has no week 60.</p>',
        ),
        (
            {"to": "last week"},
            '<p id="dashboard-error-to">`to` (last week) is not a week or a day: write an ISO week, e.g. 2026-W48, '
            "or a date, e.g. 2026-11-26.</p>",
        ),
        ({"from": "2026-W10", "to": "2026-W01"}, "`from` (2026-W10) is after `to` (2026-W01)"),
        ({"from": "2020-W01", "to": "2026-W01"}, "Ask for 104 weeks at most; 314 weeks from `from` to `to`"),
        ({"queue": "nope"}, "no queue “nope”"),
        ({"question": "<b>x</b>"}, "no question “&lt;b&gt;x&lt;/b&gt;”"),
    ],
)
def test_a_bad_dashboard_filter_is_a_clear_400(client, project, lead, queue, rubric, params, message):
    client.force_login(lead)
    response = client.get(url("dashboard", project), params)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and 'id="dashboard-errors"' in html
    assert "<b>x</b>" not in html


# Query counts ------------------------------------------------------------------------------------------------


def test_the_closed_meeting_page_runs_a_fixed_number_of_queries(
    client, project, lead, last_week, django_assert_num_queries
):
    cycle = closed_cycle(project, last_week)
    client.force_login(lead)
    page = url("meeting-week", project, cycle.label)
    # session, user, project with membership, cycle (with the closed weeks beside it), decisions (with their authors),
    # earlier weeks' open decisions, failing cycles (for leads), the live state of the frozen agenda's items and of its
    # flags, the rubric versions published in the week, the current rubric (whose questions explore's links read)
    Decision.objects.create(cycle=cycle, text="One", created_by=lead)
    with django_assert_num_queries(11):
        assert client.get(page).status_code == 200
    for number in range(5):
        Decision.objects.create(
            cycle=cycle, text=f"More {number}", created_by=_member(project, f"lead{number}", "lead")
        )
    with django_assert_num_queries(11):
        assert client.get(page).status_code == 200


def test_the_dashboard_runs_a_fixed_number_of_queries(client, project, lead, queue, metrics, django_assert_num_queries):
    client.force_login(lead)
    # session, user, project with membership, queues, rubric, quality, agreement, throughput (stored weeks, the
    # running week counted now, the closed weeks, the latest closed week), retention, the running week's last refresh
    with django_assert_num_queries(13):
        assert client.get(url("dashboard", project)).status_code == 200
    for slug in ("a", "b", "c"):
        extra = Queue.objects.create(project=project, slug=slug, name=slug.upper())
        store_week(project, extra, metrics, passes=5, n=10, labels=20, agreement=False)
        label_outputs(project, 1, queue=slug, experts=[lead], answers=({"correct": True},))
    with django_assert_num_queries(13):
        assert client.get(url("dashboard", project)).status_code == 200


def test_the_meeting_page_shows_its_times_and_dates_in_the_projects_time_zone(client, project, lead):
    """A week closed at 00:30 on Monday in Berlin was closed on Monday, not at 23:30 on Sunday (the server's UTC);
    a project created at 00:30 on Monday in Auckland was created on that Monday, after the week before it ended."""
    type(project).objects.filter(pk=project.pk).update(time_zone="Europe/Berlin")
    project.refresh_from_db()
    week = date(2026, 11, 16)
    cycle = closed_cycle(project, week)
    ReviewCycle.objects.filter(pk=cycle.pk).update(closed_at=datetime(2026, 11, 22, 23, 30, tzinfo=UTC))
    client.force_login(lead)

    html = client.get(url("meeting-week", project, cycle.label)).content.decode()

    assert "Figures frozen when the week was closed, 2026-11-23 00:30" in html

    cycle.delete()
    type(project).objects.filter(pk=project.pk).update(
        time_zone="Pacific/Auckland",
        created_at=datetime(2026, 11, 22, 11, 30, tzinfo=UTC),  # Monday 00:30 there
    )
    html = client.get(url("meeting-week", project, week_label(date(2026, 11, 16)))).content.decode()

    assert 'id="before-project-note"' in html and "ended before the project was created (23 November 2026)" in html


def test_a_dataset_the_close_could_not_build_is_told_on_the_closed_weeks_page(client, project, lead, expert, last_week):
    """The close goes on when an auto dataset fails to build, and stored the failure in the frozen report only: the
    lead who closed the week saw "closed", nothing else, until someone opened the dataset. The closed week's page
    now tells its leads which dataset failed, with the error and a link to the dataset (experts are not told)."""
    moment = calendar.week_start(project, last_week) + timedelta(days=2)
    label_outputs(project, 2, occurred_at=moment)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    with connection.cursor() as cursor:  # the database refuses the rows, as a full disk would
        cursor.execute(
            "CREATE FUNCTION el_test_refuse_rows() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'could not extend file: No space left on device'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER el_test_refuse_rows BEFORE INSERT ON labeling_datasetrow "
            "FOR EACH STATEMENT EXECUTE FUNCTION el_test_refuse_rows()"
        )

    cycle = cycles.close_week(project_id=project.pk, week=last_week, closed_by=lead)

    assert cycle.is_closed
    client.force_login(lead)
    html = client.get(url("meeting-week", project, cycle.label)).content.decode()
    assert 'id="failed-builds"' in html
    assert dataset.slug in html and "No space left on device" in html
    assert url("dataset", project, dataset.slug) in html
    client.force_login(expert)
    assert 'id="failed-builds"' not in client.get(url("meeting-week", project, cycle.label)).content.decode()


def test_a_closed_week_says_the_zone_it_was_closed_in_and_its_report_the_same_zone_and_times_as_the_page(
    client, project, lead, expert, other_expert
):
    """A week closed under Los Angeles' calendar keeps saying so after the project moves to Honolulu (its dates are
    frozen in its report), and so does its report.md: one rule (`calendar.week_zone`) for both. Before, report.md
    named no zone beside the week's dates and wrote its moments in Honolulu's, the project's zone now."""
    type(project).objects.filter(pk=project.pk).update(time_zone="America/Los_Angeles")
    project.refresh_from_db()
    created_weeks_ago(project, 52)
    week = calendar.current_week(project) - timedelta(days=7)
    label_outputs(project, 1, experts=[expert, other_expert], occurred_at=calendar.week_start(project, week))
    cycle = cycles.close_week(project_id=project.pk, week=week)
    closed_at = datetime(2026, 11, 30, 16, 22, tzinfo=UTC)  # 08:22 in Los Angeles
    report = {**cycle.report, "generated_at": closed_at.isoformat()}
    ReviewCycle.objects.filter(pk=cycle.pk).update(closed_at=closed_at, report=report)
    type(project).objects.filter(pk=project.pk).update(time_zone="Pacific/Honolulu")
    client.force_login(lead)

    html = client.get(url("meeting-week", project, cycle.label)).content.decode()
    markdown = client.get(url("meeting-markdown", project, cycle.label)).content.decode()

    head = html.split("<h1>")[1].split("</p>")[0]
    assert "America/Los_Angeles" in head and "Pacific/Honolulu" not in head
    # The close time in the week's zone, named: the page's other times are in the project's, which its foot names.
    assert "Figures frozen when the week was closed, 2026-11-30 08:22 (America/Los_Angeles)" in html
    assert "Times in the project's time zone, Pacific/Honolulu." in html
    dates = f"Week {cycle.report['week_start']} to {cycle.report['week_end']} (America/Los\\_Angeles)."  # "_" escaped
    assert f"{dates} Closed; figures frozen at 2026-11-30 08:22 PST." in markdown
    assert "Honolulu" not in markdown and "HST" not in markdown


def test_the_agreement_tile_links_a_lead_to_the_weeks_outputs_the_experts_disagreed_on(
    client, project, lead, expert, queue
):
    """By the one writer of a week's explore links (rules.explore.week_query); not for an expert, who labels blind,
    nor from a week without an item of two labels."""
    week = calendar.current_week(project) - timedelta(days=14)
    cycle = closed_cycle(project, week)
    disagreed = week_query(week, disagree=True)
    link = f'href="/p/{project.slug}/explore/?{disagreed.replace("&", "&amp;")}" data-explore="disagree"'
    client.force_login(lead)
    html = client.get(url("meeting-week", project, cycle.label)).content.decode()
    assert link in html and "Outputs the experts disagreed on" in html.split('data-tile="alpha"')[1].split("</div>")[0]
    assert disagreed == f"from={week.isoformat()}&to={(week + timedelta(days=6)).isoformat()}&disagree=yes"
    client.force_login(expert)
    html = client.get(url("meeting-week", project, cycle.label)).content.decode()
    assert 'data-tile="alpha"' in html and 'data-explore="disagree"' not in html

    headline = sample_report()["headline"] | {"alpha": None}
    quiet = closed_cycle(project, week - timedelta(days=7), headline=headline)
    client.force_login(lead)
    html = client.get(url("meeting-week", project, quiet.label)).content.decode()
    assert 'data-tile="alpha"' in html and 'data-explore="disagree"' not in html
