"""A real chromium on the labeling screen, about what an expert loses without noticing: a second tab on the item they
hold warns in both tabs at once (the label sent last would replace the other), and leaving an item with answers not
sent asks first; nothing is asked when nothing was typed, or once the label or skip is sent."""

import re

import pytest
from playwright.sync_api import expect

from labeling.models import Label, Queue
from tests.helpers.browser import PATIENCE_MS, sign_in
from tests.helpers.labeling import make_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WARNING = "This item is open in another tab too"


@pytest.fixture
def queue(project, rubric):
    return Queue.objects.create(project=project, slug="all", name="All answers")


@pytest.fixture
def context(browser):
    context = browser.new_context()
    context.set_default_timeout(PATIENCE_MS)
    yield context
    context.close()


def item_shown(page) -> int:
    return int(re.search(r"/items/(\d+)/$", page.url).group(1))


def open_next(page, live_server, queue) -> int:
    """Press the queue's "Start labeling" button on the project page (a POST that leases an item)."""
    page.goto(f"{live_server.url}/p/{queue.project.slug}/")
    with page.expect_navigation():
        page.locator(f"form[action$='/q/{queue.slug}/next'] button").click()
    return item_shown(page)


def send_and_wait(page, key) -> None:
    """Press the key that sends a form and wait for the screen the script swaps in."""
    page.evaluate("document.body.dataset.stale = '1'")
    page.keyboard.press(key)
    page.wait_for_selector("body:not([data-stale])", state="attached")


def label_by_keyboard(page) -> None:
    """Answer the rubric with keys and send it with Enter."""
    for key in ["y", "4", "1"]:
        page.keyboard.press(key)
    send_and_wait(page, "Enter")


def dialogs_of(page) -> list[str]:
    """The dialogs the page opens from now on (each accepted), by type."""
    seen = []

    def accept(dialog):
        seen.append(dialog.type)
        dialog.accept()

    page.on("dialog", accept)
    return seen


# A second tab ------------------------------------------------------------------------------------------------------


def test_the_queues_next_item_in_a_second_tab_warns_in_both_tabs_until_one_moves_on(
    context, live_server, expert, project, queue
):
    make_items(project, 2)
    first = context.new_page()
    sign_in(first, live_server, "erin")
    item = open_next(first, live_server, queue)
    second = context.new_page()

    second.goto(f"{live_server.url}/p/{project.slug}/q/{queue.slug}/next")  # the item erin holds

    assert item_shown(second) == item
    expect(second.locator("#other-tab")).to_contain_text(WARNING)
    expect(first.locator("#other-tab")).to_contain_text(WARNING)  # the older tab learns it too
    expect(first.locator("#other-tab")).to_have_attribute("role", "alert")
    first.fill("#comment-body", "Which tab is this?")
    send_and_wait(first, "Control+Enter")  # a comment swaps in the item's screen again: the warning stays
    expect(first.locator(".messages")).to_contain_text("Comment added.")
    expect(first.locator("#other-tab")).to_contain_text(WARNING)

    label_by_keyboard(second)  # labeled there: the second tab moves on to the next item

    assert item_shown(second) != item and Label.objects.filter(item_id=item).count() == 1
    expect(first.locator("#other-tab")).to_have_count(0)
    expect(second.locator("#other-tab")).to_have_count(0)


def test_two_tabs_on_different_items_show_no_warning(context, live_server, expert, project, queue):
    make_items(project, 3)
    first = context.new_page()
    sign_in(first, live_server, "erin")
    labeled = open_next(first, live_server, queue)
    label_by_keyboard(first)
    held = item_shown(first)
    second = context.new_page()
    second.goto(f"{live_server.url}/p/{project.slug}/items/{labeled}/")  # her label, to change

    third = context.new_page()
    third.goto(f"{live_server.url}/p/{project.slug}/items/{held}/")
    expect(first.locator("#other-tab")).to_contain_text(WARNING)  # the tabs hear each other by now

    expect(second.locator("#other-tab")).to_have_count(0)
    third.close()
    expect(first.locator("#other-tab")).to_have_count(0)  # the tab on the same item closed


# Leaving an item ---------------------------------------------------------------------------------------------------


def test_leaving_an_item_with_answers_not_sent_asks_first(context, live_server, expert, project, queue):
    make_items(project, 1)
    page = context.new_page()
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)
    page.keyboard.press("y")
    asked = dialogs_of(page)

    with page.expect_navigation():
        page.goto(f"{live_server.url}/p/{project.slug}/")

    assert asked == ["beforeunload"]
    assert not Label.objects.filter(item_id=item).exists()


def test_leaving_asks_nothing_when_nothing_was_typed_or_once_the_label_is_sent(
    context, live_server, expert, project, queue
):
    make_items(project, 3)
    page = context.new_page()
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)
    asked = dialogs_of(page)
    for key in ["j", "j", "k"]:  # moving between questions answers nothing
        page.keyboard.press(key)
    page.fill("#comment-body", "half a thought")
    page.fill("#comment-body", "")  # typed, then taken back

    page.goto(f"{live_server.url}/p/{project.slug}/")
    open_next(page, live_server, queue)
    label_by_keyboard(page)  # sent: the next item is on the screen, untouched
    page.keyboard.press("j")
    page.reload()
    page.fill("#skip-reason", "Not my area")
    send_and_wait(page, "Enter")  # skipped with the reason typed
    page.goto(f"{live_server.url}/p/{project.slug}/")

    assert asked == []
