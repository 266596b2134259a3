"""A real chromium: the explore page's order of results (newest, oldest, slowest, longest first) and walking past the
end of a page with the keyboard."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories import OutputFactory
from tests.helpers.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MODEL = "gpt-4.1-mini-2025-04-14"


def test_a_lead_sorts_the_results_slowest_first_and_the_next_page_and_the_link_keep_the_order(
    page, live_server, lead, project
):
    """Results came newest first only: the slow answers a lead looks for ("wait, that's strange") were wherever
    their time put them. The Order menu sorts them; the URL, the next page and a saved view keep the order."""
    start = timezone.now() - timedelta(hours=2)
    for n in range(53):
        latency = 1000 + (n * 37) % 53  # every latency once, in no order of time
        OutputFactory(project=project, external_id=f"out-{n}", model=MODEL, output=f"Answer {n}.",
                      occurred_at=start + timedelta(minutes=n), metadata={"latency_ms": latency})  # fmt: skip
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/explore/?model={MODEL}")
    expect(page.locator("#results .result").first).to_have_attribute("data-output", "out-52")  # newest first

    page.locator("#f-sort").select_option(label="Slowest first (latency_ms)")
    with page.expect_navigation():
        page.locator("#apply-filter").click()
    assert "sort=slowest" in page.url
    slowest = max(range(53), key=lambda n: (n * 37) % 53)
    expect(page.locator("#results .result").first).to_have_attribute("data-output", f"out-{slowest}")
    expect(page.locator("#f-sort")).to_have_value("slowest")

    with page.expect_navigation():
        page.locator("#next-page").click()
    assert "sort=slowest" in page.url
    fastest = min(range(53), key=lambda n: (n * 37) % 53)
    expect(page.locator("#results .result")).to_have_count(3)
    expect(page.locator("#results .result").last).to_have_attribute("data-output", f"out-{fastest}")
    expect(page.locator("#f-sort")).to_have_value("slowest")


def test_j_on_the_last_result_goes_on_to_the_next_page(page, live_server, lead, project):
    """j stopped at the 50th row: reading on meant reaching for the mouse and "Next 50". It follows that link now,
    and the hint says so."""
    start = timezone.now() - timedelta(hours=2)
    for n in range(52):
        OutputFactory(project=project, external_id=f"row-{n}", model=MODEL, output=f"Answer {n}.",
                      occurred_at=start + timedelta(minutes=n))  # fmt: skip
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/explore/?model={MODEL}")
    expect(page.locator("#keys-hint")).to_contain_text("on the last one: next page")
    page.locator(".result[data-output=row-2]").focus()  # the last row of the first page, newest first
    with page.expect_navigation():
        page.keyboard.press("j")
    assert "cursor=" in page.url
    expect(page.locator("#results .result")).to_have_count(2)
    page.keyboard.press("j")
    expect(page.locator(".result[data-output=row-1]")).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("j")  # the last page's last row: nowhere further to go
    expect(page.locator(".result[data-output=row-0]")).to_be_focused()
    assert errors == []
