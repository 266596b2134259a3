"""A real chromium at a phone's size (390×844, also what a 780 px window shows at 200% zoom): the home, project,
labeling and own pages fit the screen's width, so nothing scrolls sideways; a wide table scrolls inside its own box
and a queue card's figures wrap. And a 200-character model name (ingest allows it) fits explore's filter bar. A lead's
explore page (its header actions), meeting page (its movers table) and members page (its pending invitations) fit too
(accessibility walkthrough T #4, WCAG 1.4.10)."""

from datetime import timedelta

import pytest

from labeling.models import CycleStatus, ExpertWeek, Queue, ReviewCycle, week_label
from labeling.rules.calendar import current_week
from labeling.services.invitations import invite_member
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, OutputFactory, created_weeks_ago
from tests.helpers.browser import sign_in
from tests.helpers.labeling import make_items
from tests.helpers.reports import sample_report
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def sideways_overflow(page) -> int:
    return page.evaluate("document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth")


@pytest.fixture
def expert_with_work(project, other_project, expert):
    publish_rubric(project=project, questions=QUESTIONS, guidelines="# How to judge\n\nBe fair.")
    Queue.objects.create(project=project, slug="refunds", name="Refund complaints", weekly_quota=10)
    make_items(project, 2)
    MembershipFactory(project=other_project, user=expert, role="expert")  # so that home lists both projects
    return expert


def test_the_home_project_and_labeling_pages_fit_a_phone(page, live_server, project, expert_with_work):
    page.set_viewport_size(PHONE)
    sign_in(page, live_server, "erin")

    page.goto(f"{live_server.url}/")
    page.locator("table.home-queues").first.wait_for()
    assert sideways_overflow(page) == 0, "home"
    wrapper = page.locator("table.home-queues").first.locator("xpath=..")
    assert wrapper.evaluate("box => box.scrollWidth <= box.clientWidth || getComputedStyle(box).overflowX == 'auto'")

    page.goto(f"{live_server.url}/p/{project.slug}/")
    waiting = page.get_by_text("Waiting for me", exact=False).first
    assert sideways_overflow(page) == 0, "project"
    box = waiting.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]

    page.get_by_role("button", name="Start labeling").first.click()
    page.locator(".ai-output").wait_for()
    assert sideways_overflow(page) == 0, "labeling"

    last_week = current_week(project) - timedelta(weeks=1)
    ExpertWeek.objects.create(project=project, week=last_week, expert=expert_with_work, labels=120, skips=3, flags=2,
                              gold_rate=0.75, gold_agreement={"correct": {"agree": 90, "compared": 120}})  # fmt: skip
    page.goto(f"{live_server.url}/me/")  # the expert's own page: five figures and the past weeks per project
    page.locator("table.past-weeks").wait_for()
    assert sideways_overflow(page) == 0, "own page"


def test_a_long_unbroken_model_name_fits_explores_filter_bar(page, live_server, lead, project):
    OutputFactory(project=project, external_id="long-model", model="m" * 200)
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/explore/")

    page.locator("details.filter-more summary").click()
    page.locator("label.check").get_by_text("m" * 200).wait_for()
    assert sideways_overflow(page) == 0


def test_a_leads_explore_meeting_and_members_pages_fit_a_phone(page, live_server, project, lead):
    OutputFactory(project=project, external_id="one", tags=["refunds"])
    created_weeks_ago(project, 4)
    last_week = current_week(project) - timedelta(weeks=1)
    movers = [{"tag": "international-shipping-and-customs", "value": 0.5, "previous": 0.8, "change": -0.3, "n": 10,
               "previous_n": 12}]  # fmt: skip
    report = sample_report(week=week_label(last_week), week_start=last_week.isoformat(), agenda={"movers": movers})
    ReviewCycle.objects.create(project=project, week=last_week, status=CycleStatus.CLOSED, report=report)
    invite_member(project=project, email="a.very.long.address.for.a.phone@customer-support.example.com",
                  role="expert", invited_by=lead)  # fmt: skip
    page.set_viewport_size(PHONE)
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/explore/")
    page.locator("#export-csv").wait_for()
    assert sideways_overflow(page) == 0, "explore"

    page.goto(f"{live_server.url}/p/{project.slug}/meeting/{week_label(last_week)}/")
    page.locator("table.movers").wait_for()
    assert sideways_overflow(page) == 0, "meeting"

    page.goto(f"{live_server.url}/p/{project.slug}/manage/members/")
    page.locator("table.invitations").wait_for()
    assert sideways_overflow(page) == 0, "members"
