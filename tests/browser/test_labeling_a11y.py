"""The labeling screen with a screen reader and the keyboard alone: what a swap, a key, an error, a flag or a comment
changes is said in a live region that outlives the swaps, and the focus goes where the work goes on; the shortcut
hints are not part of the options' names; the one-letter shortcuts can be turned off, and a skip undone at once."""

import re

import pytest
from django.template.loader import render_to_string
from playwright.sync_api import expect

from expertloop.middleware import UNAVAILABLE_MESSAGE
from labeling.models import Queue, Skip, Slot, SlotState
from labeling.services.rubrics import publish_rubric
from tests.helpers.browser import sign_in
from tests.helpers.labeling import make_items
from tests.helpers.rubrics import questions

from .test_labeling import KEYS, current_item, open_next, press_and_follow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FOCUSED_ID = "() => document.activeElement && document.activeElement.id"


@pytest.fixture
def queue(project, rubric):
    return Queue.objects.create(project=project, slug="all", name="All answers")


def status(page):
    return page.locator("#screen-status")


def mark_status_region(page) -> None:
    """Mark the live region as it is now: a region swapped out and in again anew is not announced by screen readers."""
    page.evaluate("document.getElementById('screen-status').dataset.first = '1'")


def test_a_saved_label_or_a_skip_is_announced_and_the_focus_goes_to_the_new_items_heading(
    page, live_server, expert, project, queue
):
    make_items(project, 3)
    sign_in(page, live_server, "erin", keyboard=True)
    first = open_next(page, live_server, queue)
    expect(status(page)).to_have_attribute("role", "status")
    expect(status(page)).to_have_attribute("aria-live", "polite")
    mark_status_region(page)

    for key in KEYS:
        page.keyboard.press(key)
    press_and_follow(page, "Enter")

    second = current_item(page)
    assert second != first
    expect(status(page)).to_have_attribute("data-first", "1")  # the same region, still in the page
    expect(status(page)).to_contain_text(f"Label saved for item {first}.")
    expect(status(page)).to_contain_text(f"Item {second} loaded.")
    heading = page.locator("h1.item-title")
    expect(heading).to_be_focused()
    expect(heading).to_have_attribute("tabindex", "-1")
    expect(heading).to_have_text(f"Item {second}")

    press_and_follow(page, "s")

    third = current_item(page)
    expect(status(page)).to_have_attribute("data-first", "1")
    expect(status(page)).to_contain_text(f"Skipped item {second}")
    expect(status(page)).to_contain_text(f"Item {third} loaded.")
    expect(page.locator("h1.item-title")).to_be_focused()
    page.keyboard.press("y")  # the keys work from the heading
    assert page.locator("input[name=q-correct][value=yes]").is_checked()


def test_keys_move_the_focus_to_the_active_question_and_a_pick_is_announced(page, live_server, expert, project, queue):
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)
    expect(page.locator("#question-correct")).to_have_attribute("aria-current", "true")  # the active one at load

    page.keyboard.press("y")

    assert page.evaluate(FOCUSED_ID) == "question-helpful"
    expect(page.locator("#question-helpful")).to_have_attribute("aria-current", "true")
    assert page.locator("[aria-current]").count() == 1
    expect(status(page)).to_have_text("Question 1, Is the answer correct?: Yes selected.")

    page.keyboard.press("4")
    assert page.evaluate(FOCUSED_ID) == "question-tone"
    expect(status(page)).to_have_text("Question 2, How helpful is it?: 4 selected.")
    page.keyboard.press("j")
    assert page.evaluate(FOCUSED_ID) == "question-issues"
    page.keyboard.press("2")  # multi-choice: toggles, stays
    assert page.evaluate(FOCUSED_ID) == "question-issues"
    expect(status(page)).to_have_text("Question 4, Which problems?: evasive selected.")
    page.keyboard.press("2")
    expect(status(page)).to_have_text("Question 4, Which problems?: evasive not selected.")
    page.keyboard.press("k")
    assert page.evaluate(FOCUSED_ID) == "question-tone"

    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("e")  # the text question: keys typed there are text, Escape leaves it
    page.keyboard.type("jk y")
    assert page.locator("textarea[name=q-critique]").input_value() == "jk y"
    page.keyboard.press("Escape")
    page.keyboard.press("k")
    assert page.evaluate(FOCUSED_ID) == "question-issues"


def test_a_refused_label_ties_each_error_to_its_question_and_focuses_the_first(
    page, live_server, expert, project, queue
):
    publish_rubric(project=project, questions=questions(required=["correct", "tone"]))
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)

    press_and_follow(page, "Enter")  # nothing answered

    question = page.locator("#question-correct")
    expect(question).to_be_focused()
    error = page.locator("#error-correct")
    expect(error).to_be_visible()
    expect(question).to_have_attribute("aria-describedby", "error-correct")
    for option in page.locator("#question-correct input").all():
        expect(option).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#question-tone")).to_have_attribute("aria-describedby", "error-tone")
    expect(status(page)).to_contain_text("Some answers need attention; nothing was saved.")

    page.keyboard.press("y")  # answered: its error goes

    expect(error).to_be_hidden()
    expect(question).not_to_have_class("has-error")
    assert question.get_attribute("aria-describedby") is None
    for option in page.locator("#question-correct input").all():
        assert option.get_attribute("aria-invalid") is None
    expect(page.locator("#error-tone")).to_be_visible()  # not answered yet


def test_after_a_flag_or_a_comment_the_focus_goes_to_what_it_says(page, live_server, expert, project, queue):
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)

    page.keyboard.press("f")
    page.keyboard.type("Is next-day shipping our policy?")
    press_and_follow(page, "Enter")

    said = page.locator(".messages .message").first
    expect(said).to_contain_text("Flagged for the weekly review meeting")
    expect(said).to_be_focused()
    page.keyboard.press("c")  # the keys go on working from there
    page.keyboard.type("Asked the shipping team.")
    press_and_follow(page, "Control+Enter")
    said = page.locator(".messages .message").first
    expect(said).to_contain_text("Comment added.")
    expect(said).to_be_focused()

    page.keyboard.press("f")
    press_and_follow(page, "Enter")  # an empty note is refused: back in the box to write it
    expect(page.locator(".messages")).to_contain_text("Say in a few words")
    expect(page.locator("#flag-note")).to_be_focused()
    assert current_item(page) == item


def test_the_shortcut_hints_are_not_part_of_the_options_names(page, live_server, expert, project, queue):
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)

    snapshot = page.locator("#label-form").aria_snapshot()

    assert 'radio "Yes"' in snapshot
    assert 'radio "4"' in snapshot
    assert 'checkbox "evasive"' in snapshot
    assert 'radio "y Yes"' not in snapshot
    assert page.locator("#label-form kbd:not([aria-hidden=true])").count() == 0


def test_the_one_letter_shortcuts_can_be_turned_off_for_this_browser(page, live_server, expert, project, queue):
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)

    page.locator("#keys-open").click()  # a button opens the list, not only `?`
    expect(page.locator("#keys-overlay")).to_be_visible()
    toggle = page.get_by_role("checkbox", name="One-key shortcuts")
    expect(toggle).to_be_checked()
    toggle.uncheck()
    page.keyboard.press("Escape")
    expect(page.locator("#keys-overlay")).to_be_hidden()
    # The hints of one-key shortcuts go, "c" for a comment with the others; those with Enter stay: they still work.
    expect(page.locator("#comment-form").get_by_text("to write")).to_be_hidden()
    expect(page.locator("#comment-form kbd", has_text="Ctrl")).to_be_visible()
    expect(page.locator("#skip-form kbd")).to_be_hidden()
    page.locator("#flag-box summary").click()
    expect(page.locator("#flag-form kbd").first).to_have_text("Enter")
    expect(page.locator("#flag-form kbd").first).to_be_visible()
    page.locator("#flag-box summary").click()

    page.evaluate("document.activeElement.blur()")
    for key in ["y", "s", "f", "?", "j"]:
        page.keyboard.press(key)
    assert not page.locator("input[name=q-correct][value=yes]").is_checked()
    expect(page.locator("#keys-overlay")).to_be_hidden()
    assert not Skip.objects.exists()
    assert current_item(page) == item

    page.reload()  # kept in this browser
    page.keyboard.press("y")
    assert not page.locator("input[name=q-correct][value=yes]").is_checked()
    page.locator("input[name=q-correct][value=yes]").check()
    page.locator("h1.item-title").focus()
    press_and_follow(page, "Enter")  # Enter, not a character key, still sends the label
    assert current_item(page) != item

    page.locator("#keys-open").click()
    page.get_by_role("checkbox", name="One-key shortcuts").check()
    page.keyboard.press("Escape")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("y")
    assert page.locator("input[name=q-correct][value=yes]").is_checked()


ONE_KEY_ACTIONS = {"#skip-form button": "s", "#flag-box summary": "f", "#comment-body": "c", "#keys-open": "?"}


def test_every_one_key_action_declares_its_key_until_one_key_shortcuts_are_turned_off(
    page, live_server, expert, project, queue
):
    """A screen reader says the key of each action with one (the comment box's `c` as Skip's `s`), and none of them
    once the one-key shortcuts are off: they then do nothing."""
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)
    for selector, key in ONE_KEY_ACTIONS.items():
        expect(page.locator(selector)).to_have_attribute("aria-keyshortcuts", key)

    page.locator("#keys-open").click()
    page.get_by_role("checkbox", name="One-key shortcuts").uncheck()
    page.keyboard.press("Escape")

    for selector in ONE_KEY_ACTIONS:
        expect(page.locator(selector)).not_to_have_attribute("aria-keyshortcuts", ONE_KEY_ACTIONS[selector])
    expect(page.locator("#submit-label")).to_have_attribute("aria-keyshortcuts", "Enter")


def test_the_shortcut_list_shows_only_the_keys_that_work_with_one_key_shortcuts_off(
    page, live_server, expert, project, queue
):
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)
    page.locator("#keys-open").click()
    shortcuts = page.locator("#keys-overlay table.keys")
    expect(shortcuts.get_by_role("row", name="Skip this item")).to_be_visible()

    page.get_by_role("checkbox", name="One-key shortcuts").uncheck()

    for what in ["Skip this item", "Write a comment", "Answer the active yes/no question", "Show or hide this list"]:
        expect(shortcuts.get_by_role("row", name=what)).to_be_hidden()
    expect(shortcuts.get_by_role("row", name="Submit the label and go to the next item")).to_be_visible()
    arrows = shortcuts.get_by_role("row", name="Next / previous question")
    assert arrows.locator("td").first.inner_text().split() == ["↓", "/", "↑"]  # the arrows still work, not j and k

    page.keyboard.press("Escape")
    page.reload()  # the choice is kept in this browser, and so is the list it gives
    page.locator("#keys-open").click()
    expect(shortcuts.get_by_role("row", name="Write a comment")).to_be_hidden()
    page.get_by_role("checkbox", name="One-key shortcuts").check()
    expect(shortcuts.get_by_role("row", name="Write a comment")).to_be_visible()


def test_a_message_the_screen_writes_itself_is_in_a_named_region(page, live_server, expert, project, queue):
    """A message label.js writes (the server did not answer) sits in the "Messages" region, as the server's do, not
    outside every landmark where a screen reader's list of regions never finds it."""
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)
    page.route("**/items/**", lambda route: route.abort() if route.request.method == "POST" else route.continue_())
    for key in KEYS:
        page.keyboard.press(key)

    page.keyboard.press("Enter")

    region = page.get_by_role("region", name="Messages")
    expect(region).to_contain_text("The server did not answer, so nothing changed here.")
    assert page.locator(".messages").count() == 1
    assert current_item(page) == item


def test_the_status_region_and_the_messages_stay_inside_main_through_the_swaps(
    page, live_server, expert, project, queue
):
    """Nothing of the screen is outside a landmark, and the messages open <main>, where "Skip to main content" lands:
    the status region label.js keeps through the swaps and the messages the server sends with the next item."""
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    first = open_next(page, live_server, queue)
    expect(page.locator("main > #screen-status")).to_have_count(1)
    mark_status_region(page)

    for key in KEYS:
        page.keyboard.press(key)
    press_and_follow(page, "Enter")

    expect(page.locator("main > #screen-status[data-first='1']")).to_have_count(1)
    expect(page.locator("#screen-status")).to_have_count(1)
    expect(page.locator("main > .messages:first-child")).to_contain_text(f"Label saved for item {first}")
    assert page.evaluate("[...document.body.children].map(child => child.tagName)") == ["A", "HEADER", "MAIN"]


def test_the_database_down_while_a_label_is_sent_says_so_inside_main_and_keeps_the_screen(
    page, live_server, expert, project, queue
):
    """The database down while a label is sent: the 503 page (bare.html) is not swapped in for the screen (its answers
    would vanish from sight); the screen stays, <main> keeps the id and tabindex "Skip to main content" needs, and the
    message saying it may not have been saved is an alert in <main>'s "Messages" region."""
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)
    unavailable = render_to_string("labeling/unavailable.html", {"message": UNAVAILABLE_MESSAGE})
    page.route(
        re.compile(r"/items/\d+/$"),
        lambda route: (
            route.fulfill(status=503, body=unavailable, content_type="text/html; charset=utf-8")
            if route.request.method == "POST"
            else route.continue_()
        ),
    )

    for key in KEYS:
        page.keyboard.press(key)
    page.keyboard.press("Enter")

    expect(page.locator("main > section.messages[aria-label='Messages'] [role=alert]")).to_contain_text(
        "may not have been saved"
    )
    expect(page.locator("#label-form")).to_be_visible()
    main = page.locator("main")
    assert (main.get_attribute("id"), main.get_attribute("tabindex")) == ("main", "-1")
    expect(page.locator("main > #screen-status")).to_have_count(1)
    expect(page.locator("body > a.skip-link[href='#main']")).to_have_count(1)


def test_a_skip_says_so_with_an_undo_that_hands_the_item_back(page, live_server, expert, project, queue):
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    skipped = open_next(page, live_server, queue)

    press_and_follow(page, "s")
    assert current_item(page) != skipped
    expect(page.locator(".messages")).to_contain_text(f"Skipped item {skipped}")

    with page.expect_navigation():
        page.locator(".messages").get_by_role("button", name="Undo").click()

    assert current_item(page) == skipped
    expect(page.locator(".messages")).to_contain_text(f"Item {skipped} is yours to label again.")
    assert page.locator("#label-form").count() == 1
    assert not Skip.objects.filter(item_id=skipped).exists()
    assert Slot.objects.filter(item_id=skipped, expert=expert, state=SlotState.LEASED).exists()
