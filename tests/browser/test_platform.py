"""A real chromium: an operator opens the platform page from the navigation, sorts it by pass rate, sees the failed
close stand out and follows a row to the project's meeting page; a lead without the permission gets a 404."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import expect

from labeling.models import Alert, AlertRule, CycleStatus, Queue, QueueWeek, ReviewCycle
from labeling.rules.calendar import current_week
from tests.factories import UserFactory
from tests.helpers.browser import sign_in
from tests.helpers.platform import plant_alerts, plant_projects, planted

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def platform(db):
    projects = plant_projects(5)
    last_week = current_week(projects[0]) - timedelta(days=7)
    ReviewCycle.objects.filter(project=projects[3], week=last_week).update(
        status=CycleStatus.OPEN,
        failure_kind="close",
        last_error="OperationalError: disk full",
        failed_at=timezone.now(),
    )
    operator = UserFactory(username="opal")
    operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    return projects


def _errors(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))
    return errors


def test_an_operator_sorts_by_pass_rate_sees_the_failed_close_and_opens_a_meeting(page, live_server, platform):
    errors = _errors(page)
    sign_in(page, live_server, "opal")
    with page.expect_navigation():
        page.get_by_role("link", name="Platform", exact=True).click()
    rows = page.locator("table.platform-table tbody tr")
    expect(rows).to_have_count(5)

    with page.expect_navigation():
        page.get_by_role("link", name="Pass rate").click()

    assert "sort=pass_rate&dir=desc" in page.url
    expect(page.locator('th[data-sort="pass_rate"]')).to_have_attribute("aria-sort", "descending")
    by_rate = sorted(range(5), key=lambda i: (-planted(i).passes / planted(i).n, platform[i].name))
    assert [row.get_attribute("data-project") for row in rows.all()] == [platform[i].slug for i in by_rate]

    failed = page.locator(f'tr[data-project="{platform[3].slug}"]')
    expect(failed).to_have_class(re.compile("needs-attention"))
    expect(failed.locator('[data-col="close"]')).to_contain_text("Close failed")
    expect(failed.locator('[data-col="close"]')).to_contain_text("OperationalError: disk full")
    highlighted = failed.evaluate("row => getComputedStyle(row).backgroundColor")
    plain = page.locator(f'tr[data-project="{platform[0].slug}"]').evaluate(
        "row => getComputedStyle(row).backgroundColor"
    )
    assert highlighted != plain
    expect(page.get_by_role("status")).to_contain_text("1 project with a failed or overdue weekly close")
    expect(failed.locator("svg.sparkline polyline")).to_have_count(1)

    with page.expect_navigation():
        failed.get_by_role("link", name=platform[3].name).click()
    page.wait_for_load_state()

    assert re.search(rf"/p/{platform[3].slug}/meeting/\d{{4}}-W\d{{2}}/$", page.url)
    expect(page.locator("h1")).to_contain_text("Week")
    assert errors == []


def test_a_lead_without_the_permission_gets_a_404(page, live_server, lead):
    sign_in(page, live_server, "lena")
    expect(page.get_by_role("link", name="Platform", exact=True)).to_have_count(0)

    response = page.goto(f"{live_server.url}/platform/")

    assert response.status == 404


@pytest.mark.parametrize("width", [1280, 1440])
def test_every_column_fits_the_screen_at_1280_px_and_up_whatever_the_names(page, live_server, platform, width):
    """The thirteen columns fit the screen: no column sits off-screen behind a sideways scroll (before: a table of
    about 1,830 px, Weekly close, Newest dataset, Ingest errors and Alerts out of sight at 1,280 to 1,440 px). With
    three queues, one of them paused, alerts open and acknowledged, a failed close and a queue name of 200 characters
    (one unbroken word), which wraps in its cell."""
    first = platform[0]
    Queue.objects.filter(project=first).update(name="Q" * 200)
    last_week = current_week(first) - timedelta(days=7)
    for slug, name, active in (
        ("refunds", "Refund and billing questions", True),
        ("escalations", "Escalations", False),
    ):
        queue = Queue.objects.create(project=first, slug=slug, name=name, weekly_quota=150, is_active=active)
        for week in (last_week, last_week + timedelta(days=7)):
            QueueWeek.objects.create(
                project=first, week=week, queue=queue, quota=150, items=150, labels=1234, labels_wanted=1500
            )
    plant_alerts(platform)
    Alert.objects.create(
        project=platform[4], rule=AlertRule.QUEUE_IDLE, key="x", title="No labels in Refund and billing questions"
    )
    page.set_viewport_size({"width": width, "height": 800})
    sign_in(page, live_server, "opal")
    page.goto(f"{live_server.url}/platform/")
    expect(page.locator("table.platform-table tbody tr")).to_have_count(5)

    assert page.evaluate("document.documentElement.scrollWidth") <= width
    wrapper = page.locator("table.platform-table").locator("xpath=..")
    assert wrapper.evaluate("box => box.scrollWidth <= box.clientWidth"), wrapper.evaluate("box => box.scrollWidth")
    for column in ("close", "dataset_age", "ingest_errors", "alerts", "trend"):
        right = page.locator(f'tr[data-project="{first.slug}"] [data-col="{column}"]').evaluate(
            "cell => cell.getBoundingClientRect().right"
        )
        assert right <= width, column
    name = page.locator(f'tr[data-project="{first.slug}"] [data-col="labels"] .queue-progress').first
    assert name.evaluate("cell => cell.getBoundingClientRect().width") < 600
