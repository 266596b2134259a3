"""A real chromium: the weekly review meeting. Charts render, a lead records a decision, follows an agenda
link to the adjudication screen and closes the week; an expert reads the page but cannot close it."""

from datetime import timedelta

import pytest
from playwright.sync_api import Error, expect

from labeling.models import CycleStatus, Decision, OutboxMessage, Queue, ReviewCycle, week_label
from labeling.rules import calendar
from tests.factories import created_weeks_ago
from tests.helpers.browser import sign_in
from tests.helpers.labeling import TIE_WITH_FIX, label_outputs
from tests.helpers.metrics import store_retention, store_week
from tests.outbox import run_as_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def meeting_data(project, clear_of_week_start, lead, expert, other_expert, rubric):
    """Two weeks of stored metrics before the running week, and one tied item of the last of them waiting for a
    lead (a week's agenda lists its own and earlier weeks' ties). The pages read "the running week" later, on the
    live server: clear_of_week_start keeps it the week read here."""
    created_weeks_ago(project, 4)  # it existed in the weeks it has metrics of
    queue = Queue.objects.create(project=project, slug="all", name="All answers", overlap=2, weekly_quota=20)
    this_week = calendar.current_week(project)
    last_week = this_week - timedelta(days=7)
    store_week(project, queue, last_week - timedelta(days=7), passes=30, n=40)
    store_week(project, queue, last_week, passes=41, n=50)
    for cohort in (last_week - timedelta(days=14), last_week - timedelta(days=7)):
        store_retention(project, cohort, this_week)
    [item] = label_outputs(
        project, answers=TIE_WITH_FIX, experts=[expert, other_expert], queue="all",
        texts=["Your parcel **0** arrives Friday."],
        occurred_at=calendar.week_start(project, last_week) + timedelta(hours=12),
    )  # fmt: skip
    return {"week": last_week, "label": week_label(last_week), "item": item}


def watch_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))
    return errors


def test_a_lead_runs_the_meeting_and_closes_the_week(page, live_server, project, lead, meeting_data):
    errors = watch_errors(page)
    label, item = meeting_data["label"], meeting_data["item"]
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/meeting/")
    running = week_label(meeting_data["week"] + timedelta(days=7))
    expect(page.locator("h1")).to_have_text(f"Week {running}")  # no week closed yet: the running week
    with page.expect_navigation():
        page.get_by_role("link", name=f"‹ {label}").click()
    expect(page.locator("h1")).to_have_text(f"Week {label}")
    expect(page.locator("#live-note")).to_contain_text("provisional")

    # Charts: inline SVG with data points, each with its numbers behind a <details>.
    pass_rate = page.locator("figure[data-chart=pass-rate]")
    expect(pass_rate.locator("svg circle.point")).to_have_count(2)
    expect(pass_rate.locator("svg polygon.band")).to_have_count(1)
    expect(pass_rate.locator("svg circle.point").last).to_have_attribute("data-value", "0.8200")
    assert pass_rate.locator("svg").bounding_box()["height"] > 100  # drawn, not collapsed
    expect(page.locator("figure[data-chart=retention] svg polyline")).to_have_count(3)
    expect(page.locator("figure[data-chart=agreement] svg rect.bar")).to_have_count(2)
    pass_rate.locator("summary").click()
    expect(pass_rate.locator("table tbody tr").last).to_contain_text("41/50 passed")
    expect(page.locator("[data-tile=pass-rate] .tile-value")).to_have_text("82.0%")
    expect(page.locator("[data-tile=retention] .tile-detail")).to_contain_text("pass 6 of 10 users")

    # A decision, recorded and listed; an empty one is refused with a message.
    page.get_by_role("button", name="Add decision").click()
    expect(page.locator(".decision-form .error")).to_have_text("Write down what was decided.")
    page.get_by_label("Decision").fill("Add the refund policy to the retrieval context")
    page.get_by_label("Owner").fill("Priya")
    page.get_by_label("Due date").fill("2026-12-04")
    with page.expect_navigation():
        page.get_by_role("button", name="Add decision").click()
    expect(page.locator(".messages")).to_contain_text("Decision recorded.")
    row = page.locator(".decision-log tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Add the refund policy to the retrieval context")
    expect(row).to_contain_text("Priya")
    expect(row).to_contain_text("2026-12-04")

    # The agenda's adjudication link opens the item's adjudication screen.
    agenda_item = page.locator(f".adjudication-agenda li[data-item='{item.pk}']")
    # The excerpt is the plain text the output's Markdown shows, not its asterisks.
    expect(agenda_item.locator(".excerpt")).to_have_text("Your parcel 0 arrives Friday.")
    with page.expect_navigation():
        agenda_item.get_by_role("link", name=f"Item {item.pk}").click()
    assert page.url.endswith(f"/p/{project.slug}/manage/adjudication/{item.pk}/")
    expect(page.locator("#question-correct .auto")).to_contain_text("Tie")
    page.go_back()

    # Close the week: the close is queued; the page says so and reloads itself until the report is frozen.
    with page.expect_navigation():
        page.get_by_role("button", name="Close the week").click()
    expect(page.locator(".messages")).to_contain_text(f"Closing the week {label}")
    if not ReviewCycle.objects.filter(project=project, week=meeting_data["week"], status="closed").exists():
        expect(page.locator("#cycle-status")).to_have_text("close queued")
        expect(page.locator("#closing-note")).to_contain_text("queued, waiting for the worker")
        # No worker runs in browser tests (with eager Celery the close already ran): close as the worker would.
        run_as_worker(OutboxMessage.objects.get(task="labeling.close_week"))
    expect(page.locator("#frozen-note")).to_be_visible()
    expect(page.locator("#cycle-status")).to_have_text("closed")
    expect(page.get_by_role("button", name="Close the week")).to_have_count(0)
    cycle = ReviewCycle.objects.get(project=project, week=meeting_data["week"])
    assert cycle.status == CycleStatus.CLOSED and cycle.closed_by == lead
    assert cycle.report["week"] == label
    expect(page.locator(".decision-log tbody tr")).to_contain_text("Add the refund policy")
    assert errors == []


def test_an_expert_reads_the_meeting_but_cannot_close_it(page, live_server, project, expert, meeting_data):
    errors = watch_errors(page)
    label = meeting_data["label"]
    sign_in(page, live_server, "erin")
    page.goto(f"{live_server.url}/p/{project.slug}/meeting/{label}/")
    expect(page.locator("figure[data-chart=pass-rate] svg circle.point")).to_have_count(2)
    expect(page.get_by_role("button", name="Close the week")).to_have_count(0)
    expect(page.locator(".decision-form")).to_have_count(0)
    expect(page.locator(".adjudication-agenda .item-link")).to_have_count(1)
    expect(page.locator(".adjudication-agenda a")).to_have_count(0)  # the adjudication screen is for leads

    # Posting the close form anyway, with a valid CSRF token, is refused and changes nothing.
    token = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "csrftoken")
    response = page.request.post(
        f"{live_server.url}/p/{project.slug}/meeting/{label}/close", headers={"X-CSRFToken": token}
    )
    assert response.status == 404
    assert not ReviewCycle.objects.filter(project=project, status=CycleStatus.CLOSED).exists()
    page.reload()
    expect(page.locator("#live-note")).to_be_visible()
    assert errors == []


class SlowAnswers:
    """Each POST reaches the server at once, but its answer reaches the page only when `release` is called: the
    second click of a double click (or a second Enter) comes while the first answer is on its way, as on a slow
    network."""

    def __init__(self, page, pattern: str):
        self.page, self.held = page, []
        page.route(pattern, self._hold)

    def _hold(self, route):
        if route.request.method != "POST":
            route.continue_()
            return
        self.held.append((route, route.fetch(max_redirects=0)))

    def wait_for_first(self) -> None:
        for _ in range(200):
            if self.held:
                return
            self.page.wait_for_timeout(25)
        raise AssertionError("the form was not sent")

    def release(self) -> None:
        """Let the answers through (a page that sent a second request dropped the first's answer)."""
        held, self.held = self.held, []
        for route, response in held:
            try:
                route.fulfill(response=response)
            except Error:
                pass  # the request the page gave up on


def test_a_double_click_or_a_second_enter_on_add_decision_records_one_decision(
    page, live_server, project, lead, meeting_data
):
    """The page sends a POST form once (submit-once.js): the second click or Enter is ignored, not a second row."""
    errors = watch_errors(page)
    label = meeting_data["label"]
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/meeting/{label}/")
    slow = SlowAnswers(page, "**/decisions")

    page.get_by_label("Decision").fill("Add the refund policy to the retrieval context")
    # Raw mouse clicks: a locator would wait for the page to finish loading, which no user does.
    button = page.get_by_role("button", name="Add decision").bounding_box()
    x, y = button["x"] + button["width"] / 2, button["y"] + button["height"] / 2
    page.mouse.click(x, y)
    slow.wait_for_first()
    page.mouse.click(x, y)
    page.wait_for_timeout(300)  # time for a second request, if the page sends one
    assert Decision.objects.count() == 1
    with page.expect_navigation():
        slow.release()
    expect(page.locator(".messages")).to_contain_text("Decision recorded.")
    expect(page.locator(".decision-log tbody tr")).to_have_count(1)

    page.get_by_label("Decision").fill("Ask the retrieval team for the policy's owner")
    page.get_by_label("Owner").focus()
    page.keyboard.press("Enter")
    slow.wait_for_first()
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    assert Decision.objects.count() == 2
    with page.expect_navigation():
        slow.release()
    expect(page.locator(".decision-log tbody tr")).to_have_count(2)
    assert sorted(Decision.objects.values_list("text", flat=True)) == [
        "Add the refund policy to the retrieval context",
        "Ask the retrieval team for the policy's owner",
    ]
    assert errors == []


def test_a_partly_typed_due_date_is_refused_beside_the_field_and_an_empty_one_means_none(
    page, live_server, project, lead, meeting_data
):
    """Chrome sends an empty value for a date typed in part (a month, no day or year): the form would record the
    decision with no due date and the typed part gone. The page refuses it beside the field, the part kept."""
    errors = watch_errors(page)
    label = meeting_data["label"]
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/meeting/{label}/")
    page.get_by_label("Decision").fill("Ask the retrieval team for the policy's owner")
    due = page.get_by_label("Due date")
    month = {"x": 16, "y": due.bounding_box()["height"] / 2}  # the first part of mm/dd/yyyy
    due.click(position=month)
    page.keyboard.type("12")  # the month only
    assert due.evaluate("input => input.validity.badInput")

    decision_add = f"{live_server.url}/p/{project.slug}/meeting/{label}/decisions"
    posted = []
    page.on("request", lambda request: request.method == "POST" and posted.append(request.url.split("#")[0]))
    page.get_by_role("button", name="Add decision").click()
    refusal = page.locator(".decision-form .field.has-error .error")
    expect(refusal).to_be_visible()  # the submit was handled, in the page or not at all
    expect(refusal).to_have_text("The due date is typed in part: finish it, or clear it for no due date.")
    assert decision_add not in posted
    assert not Decision.objects.exists()
    expect(due).to_have_attribute("aria-invalid", "true")
    expect(due).to_be_focused()
    assert due.evaluate("input => input.validity.badInput")  # what was typed is still there to finish

    # Cleared, the date is empty, which means no due date: the decision is recorded without one.
    due.click(position=month)
    page.keyboard.press("Backspace")
    assert not due.evaluate("input => input.validity.badInput")
    expect(refusal).to_have_count(0)
    with page.expect_navigation():
        page.get_by_role("button", name="Add decision").click()
    expect(page.locator(".messages")).to_contain_text("Decision recorded.")
    decision = Decision.objects.get()
    assert decision.due_date is None
    expect(page.locator(".decision-log tbody tr")).to_contain_text("—")
    assert errors == []
