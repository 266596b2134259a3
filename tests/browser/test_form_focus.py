"""Keyboard and screen-reader users after a refused form, and on any page (accessibility walkthrough T): focus goes
to the first invalid field, which names its error; the sign-in refusal is announced and ties to its fields; the
first Tab stop skips past the top bar to the page's content."""

import pytest
from playwright.sync_api import expect

from labeling.models import week_label
from labeling.rules import calendar
from tests.factories import created_weeks_ago
from tests.helpers.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def focused(page) -> dict:
    return page.evaluate(
        """() => { const el = document.activeElement, box = el.getBoundingClientRect();
                   return {name: el.getAttribute('name'), id: el.id, tag: el.tagName,
                           describedby: el.getAttribute('aria-describedby'),
                           inView: box.top >= 0 && box.bottom <= innerHeight}; }"""
    )


def test_a_refused_decision_brings_focus_to_its_first_invalid_field_in_view(page, live_server, project, lead):
    created_weeks_ago(project, 4)
    label = week_label(calendar.current_week(project))
    page.set_viewport_size({"width": 1280, "height": 600})
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/meeting/{label}/")

    page.get_by_label("Owner").fill("lead")
    page.get_by_role("button", name="Add decision").click()

    expect(page.locator("#id_text_error")).to_be_visible()
    expect(page.locator("#id_text")).to_be_focused()  # not the top of the page, nor nothing after the #anchor jump
    assert focused(page) == {
        "name": "text", "id": "id_text", "tag": "TEXTAREA", "describedby": "id_text_error", "inView": True
    }  # fmt: skip
    assert page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"


def test_a_refused_sign_in_is_announced_and_focus_is_on_the_field_it_describes(page, live_server, expert):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "erin")
    page.fill("input[name=password]", "not the password")
    with page.expect_navigation():
        page.click("button[type=submit]")

    refusal = page.get_by_role("alert")
    expect(refusal).to_have_text("Your username and password didn't match. Please try again.")
    expect(page.locator("input[name=username]")).to_be_focused()
    assert focused(page)["name"] == "username" and focused(page)["describedby"] == "sign-in-error"
    expect(page.locator("input[name=password]")).to_have_attribute("aria-invalid", "true")


def test_the_first_tab_stop_skips_to_the_main_content(page, live_server, lead, project):
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/")

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box["y"] >= 0 and box["width"] > 20  # on screen while it has focus
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.tagName") == "MAIN"
    page.keyboard.press("Tab")  # the next stop is in the page's content, not the top bar
    assert page.evaluate("!!document.activeElement.closest('main')")
