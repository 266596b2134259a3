"""A real chromium as a touch phone (no hover, no keyboard): the labeling screen does not offer keyboard shortcuts
it cannot use ("Press ? for keyboard shortcuts", the key badges); a desktop browser still shows them."""

import pytest
from playwright.sync_api import expect

from labeling.models import Queue
from labeling.services.rubrics import publish_rubric
from tests.helpers.browser import sign_in
from tests.helpers.labeling import make_items
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


PHONE = {"has_touch": True, "is_mobile": True, "viewport": {"width": 390, "height": 844}}


def _first_item(browser, live_server, project, **options):
    """A browser context (`options`: PHONE, or a desktop's defaults) where erin has started labeling: the first
    item's output is on screen. The caller closes the context."""
    context = browser.new_context(**options)
    page = context.new_page()
    try:
        sign_in(page, live_server, "erin")
        page.goto(f"{live_server.url}/p/{project.slug}/")
        page.get_by_role("button", name="Start labeling").first.click()
        page.locator(".ai-output").wait_for()
    except Exception:
        context.close()
        raise
    return context, page


@pytest.mark.parametrize("touch", [True, False], ids=["phone", "desktop"])
def test_keyboard_hints_show_only_where_there_is_a_keyboard(browser, live_server, project, expert, touch):
    publish_rubric(project=project, questions=QUESTIONS)
    Queue.objects.create(project=project, slug="all", name="All answers", weekly_quota=10)
    make_items(project, 1)
    context, page = _first_item(browser, live_server, project, **(PHONE if touch else {}))
    try:
        assert page.get_by_text("for keyboard shortcuts").is_visible() is not touch
        assert page.locator("#label-form kbd").first.is_visible() is not touch
    finally:
        context.close()


LONG_ANSWER = "\n\n".join(f"Step {n}: open *My orders*, choose the order and fill in the form." for n in range(150))


def test_on_a_phone_one_tap_reaches_the_label_past_a_long_output_and_back_up_is_one_scroll(
    browser, live_server, project, expert
):
    """On a phone the label form comes after the whole output and its panels: a long answer put it thousands of pixels
    down, scrolled to by hand on every item. A link at the top, "Go to your label", and another at the end of the
    answer take the expert to the question to answer (its focus there, for a screen reader too); the address and the
    history stay as they were, so Back still leaves the item."""
    publish_rubric(project=project, questions=QUESTIONS)
    Queue.objects.create(project=project, slug="all", name="All answers", weekly_quota=10)
    make_items(project, 2, output=LONG_ANSWER)
    context, page = _first_item(browser, live_server, project, **PHONE)
    try:
        assert page.locator("#label-form").bounding_box()["y"] > 5 * 844  # far below the first screen
        address, history = page.url, page.evaluate("history.length")

        top = page.get_by_role("link", name="Go to your label").first
        assert top.bounding_box()["y"] < 844  # on the first screen
        top.tap()

        first = page.locator("#question-correct")
        expect(first).to_be_focused()
        box = first.bounding_box()
        assert 0 <= box["y"] < 844  # in view
        assert (page.url, page.evaluate("history.length")) == (address, history)
        page.locator("#question-correct .option", has_text="Yes").tap()
        expect(page.locator("#question-correct input[value=yes]")).to_be_checked()

        page.evaluate(
            "window.scrollTo(0, document.querySelector('.ai-output').getBoundingClientRect().bottom + scrollY - 400)"
        )  # read to the end of the answer
        end = page.locator(".ai-answer").get_by_role("link", name="Go to your label")
        expect(end).to_be_in_viewport()
        end.tap()
        expect(page.locator("#question-helpful")).to_be_focused()  # the next one not answered
        assert 0 <= page.locator("#question-helpful").bounding_box()["y"] < 844
    finally:
        context.close()


def test_on_a_wide_screen_the_label_is_beside_the_output_and_no_link_goes_there(page, live_server, project, expert):
    """The form is in view beside the output: a link to it would be one more Tab stop for nothing."""
    publish_rubric(project=project, questions=QUESTIONS)
    Queue.objects.create(project=project, slug="all", name="All answers", weekly_quota=10)
    make_items(project, 1, output=LONG_ANSWER)
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_server, "erin")
    page.goto(f"{live_server.url}/p/{project.slug}/")
    page.get_by_role("button", name="Start labeling").first.click()
    page.locator(".ai-output").wait_for()

    expect(page.get_by_role("link", name="Go to your label")).to_have_count(0)  # not displayed: no role either


def test_at_200_percent_zoom_the_keyboard_reaches_the_label_by_the_same_link(page, live_server, project, expert):
    """A 1280 px window at 200% zoom lays the screen out as a phone does: Tab past the shortcuts' button reaches the
    link, Enter on it puts the focus on the question to answer, and the answer keys work from there."""
    publish_rubric(project=project, questions=QUESTIONS)
    Queue.objects.create(project=project, slug="all", name="All answers", weekly_quota=10)
    make_items(project, 1, output=LONG_ANSWER)
    page.set_viewport_size({"width": 640, "height": 400})
    sign_in(page, live_server, "erin", keyboard=True)
    page.goto(f"{live_server.url}/p/{project.slug}/")
    page.get_by_role("button", name="Start labeling").first.click()
    page.locator(".ai-output").wait_for()
    # label.js (deferred) takes the link's Enter: pressed before it ran, the browser follows #label-form instead.
    page.wait_for_load_state("domcontentloaded")

    page.locator("h1").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Go to your label").first).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.locator("#question-correct")).to_be_focused()
    expect(page.locator("#question-correct")).to_be_in_viewport()
    page.keyboard.press("y")
    expect(page.locator("#question-correct input[value=yes]")).to_be_checked()
    expect(page.locator("#question-helpful")).to_be_focused()
