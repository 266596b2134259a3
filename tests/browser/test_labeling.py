"""A real chromium on the labeling screen: the keyboard alone labels, skips and flags; a label or a skip is
one request that swaps in the next screen, with history, reload and the back button working as with pages;
without JavaScript the forms still work; hostile output stays inert; two experts never get the same item;
`?` lists the keys."""

import json
import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from labeling.models import Flag, Label, Membership, Queue, Role, Skip, Slot, SlotState
from labeling.rules.access import LABELING_REFUSED
from labeling.services import assignment
from labeling.services.rubrics import publish_rubric
from tests.factories import PASSWORD
from tests.helpers.browser import PATIENCE_MS, current_item, press_and_follow, sign_in
from tests.helpers.labeling import make_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# y (correct) · 4 (helpful) · 1 (tone: friendly) · 2 (issues: toggle evasive) · Enter (submit)
KEYS = ["y", "4", "1", "2"]
ANSWERS = {"correct": True, "helpful": 4, "tone": "friendly", "issues": ["evasive"]}


@pytest.fixture
def queue(project, rubric):
    return Queue.objects.create(project=project, slug="all", name="All answers")


def open_next(page, live_server, queue) -> int:
    """Press the queue's "Start labeling" button on the project page (a POST that leases an item)."""
    page.goto(f"{live_server.url}/p/{queue.project.slug}/")
    with page.expect_navigation():
        page.locator(f"form[action$='/q/{queue.slug}/next'] button").click()
    return current_item(page)


def label_by_keyboard(page) -> int:
    """Answer the rubric with keys and submit with Enter; return the item that was labeled."""
    item_id = current_item(page)
    for key in KEYS:
        page.keyboard.press(key)
    press_and_follow(page, "Enter")
    return item_id


def test_an_expert_labels_skips_and_flags_with_the_keyboard_alone(page, live_server, expert, project, queue):
    make_items(project, 6)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)

    labeled, posts = [], []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    for _ in range(3):
        first = current_item(page)
        posts.clear()
        page.keyboard.press("y")
        assert page.locator(".question.is-active").get_attribute("data-key") == "helpful"  # moved on
        for key in KEYS[1:]:
            page.keyboard.press(key)
        assert page.locator("input[name=q-issues][value=evasive]").is_checked()
        press_and_follow(page, "Enter")
        labeled.append(first)
        assert current_item(page) != first  # auto-advanced to the next item
        assert len(posts) == 1  # one request per label: the POST saves it and leases the next item
        assert page.locator(".labeling").get_attribute("data-item-id") == str(current_item(page))
        assert "Label saved" in page.locator(".messages").inner_text()

    skipped = current_item(page)
    press_and_follow(page, "s")
    flagged = current_item(page)
    assert flagged != skipped

    page.keyboard.press("f")
    assert page.locator("#flag-note").evaluate("el => el === document.activeElement")
    page.keyboard.type("Says yes, ships next day: is that our policy?")  # keys typed here are text
    press_and_follow(page, "Enter")

    assert current_item(page) == flagged
    assert "Flagged for the weekly review meeting" in page.locator(".messages").inner_text()
    assert sorted(Label.objects.filter(expert=expert).values_list("item_id", flat=True)) == sorted(labeled)
    assert all(label.answers == ANSWERS for label in Label.objects.all())
    assert list(Skip.objects.values_list("item_id", "expert_id")) == [(skipped, expert.pk)]
    flag = Flag.objects.get()
    assert (flag.item_id, flag.expert_id) == (flagged, expert.pk)
    assert flag.note == "Says yes, ships next day: is that our policy?"
    assert not Label.objects.filter(item_id__in=[skipped, flagged]).exists()


def test_a_flag_or_a_comment_mid_label_keeps_the_answers_given_so_far(page, live_server, expert, project, queue):
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)
    for key in [*KEYS, "j", "e"]:  # … and on to the text question, to write in it
        page.keyboard.press(key)
    page.keyboard.type("Promises next-day shipping")

    page.keyboard.press("Escape")
    page.keyboard.press("f")
    page.keyboard.type("Is next-day shipping our policy?")
    press_and_follow(page, "Enter")
    assert "Flagged for the weekly review meeting" in page.locator(".messages").inner_text()
    page.keyboard.press("c")
    page.keyboard.type("Asked the shipping team.")
    press_and_follow(page, "Control+Enter")
    assert "Asked the shipping team." in page.locator("#comments").inner_text()

    # The same item, with what the expert had answered and written still there: Enter sends all of it.
    assert page.locator("input[name=q-tone][value=friendly]").is_checked()
    assert page.locator("textarea[name=q-critique]").input_value() == "Promises next-day shipping"
    assert current_item(page) == item
    press_and_follow(page, "Enter")
    assert current_item(page) != item
    assert Label.objects.get(item_id=item).answers == {**ANSWERS, "critique": "Promises next-day shipping"}
    assert Flag.objects.get().item_id == item


HOSTILE = (
    '<img src=x onerror="window.__xss=1">\n\n'
    "<script>window.__xss=2</script>\n\n"
    "[x](javascript:window.__xss=3)\n\n"
    "</textarea><script>window.__xss=4</script>"
)


def test_the_next_item_address_leases_only_when_its_button_is_pressed(page, live_server, expert, project, queue):
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)

    page.goto(f"{live_server.url}/p/{project.slug}/q/{queue.slug}/next")  # as a prefetch or a bookmark would

    assert "Items are waiting" in page.locator("h1").inner_text()
    assert not Slot.objects.exclude(state=SlotState.FREE).exists()
    press_and_follow(page, "Enter")  # the button has the focus
    item = current_item(page)
    assert Slot.objects.get(state=SlotState.LEASED).item_id == item
    page.goto(f"{live_server.url}/p/{project.slug}/q/{queue.slug}/next")  # held: back to the same item
    assert current_item(page) == item


def test_hostile_output_shows_as_inert_text(page, live_server, expert, project, queue):
    make_items(project, 1, output=HOSTILE, input=[{"role": "user", "content": '<img src=y onerror="window.__xss=5">'}])
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, live_server, "erin", keyboard=True)

    open_next(page, live_server, queue)

    answer = page.locator(".ai-output")
    assert '<img src=x onerror="window.__xss=1">' in answer.inner_text()
    assert "<script>window.__xss=2</script>" in answer.inner_text()
    assert page.locator(".ai-output img, .ai-output script, .chat img, main script").count() == 0
    assert page.locator("a[href^='javascript:' i]").count() == 0
    assert page.evaluate("window.__xss") is None

    page.locator(".ai-output").get_by_text("javascript:window.__xss=3").click()
    for link in page.locator(".ai-output a").all():
        link.click()
    correction = page.locator("textarea[name=q-fix]").input_value()
    assert correction.endswith("</textarea><script>window.__xss=4</script>")  # text inside the box

    assert page.evaluate("window.__xss") is None
    assert dialogs == []


def test_two_experts_never_get_the_same_item(page, browser, live_server, expert, other_expert, project, queue):
    make_items(project, 8)
    other = browser.new_context().new_page()
    other.set_default_timeout(PATIENCE_MS)
    try:
        sign_in(page, live_server, "erin", keyboard=True)
        sign_in(other, live_server, "ezra", keyboard=True)
        mine, theirs = set(), set()
        for _ in range(3):
            a = open_next(page, live_server, queue)
            b = open_next(other, live_server, queue)
            assert a != b
            mine.add(label_by_keyboard(page))
            theirs.add(label_by_keyboard(other))
    finally:
        other.context.close()

    assert len(mine) == 3 and len(theirs) == 3
    assert mine.isdisjoint(theirs)
    assert set(Label.objects.filter(expert=expert).values_list("item_id", flat=True)) == mine
    assert set(Label.objects.filter(expert=other_expert).values_list("item_id", flat=True)) == theirs


def test_question_mark_shows_the_keys(page, live_server, expert, project, queue):
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)
    overlay = page.locator("#keys-overlay")
    assert overlay.is_hidden()

    page.keyboard.press("?")

    assert overlay.is_visible()
    assert "Keyboard shortcuts" in overlay.inner_text()
    assert "Skip this item" in overlay.inner_text()
    page.keyboard.press("Escape")
    assert overlay.is_hidden()


def test_a_label_swaps_in_the_next_screen_in_one_request_without_a_page_load(page, live_server, expert, project, queue):
    make_items(project, 3)
    sign_in(page, live_server, "erin", keyboard=True)
    first = open_next(page, live_server, queue)
    requests = []
    page.on("request", lambda request: requests.append((request.method, request.resource_type, request.url)))

    label_by_keyboard(page)

    second = current_item(page)
    assert second != first
    # No document, script or stylesheet loaded again. Chromium may ask for the tab's icon again when the address
    # changes (pushState): the browser's doing, not the page's.
    loaded = [(method, kind) for method, kind, url in requests if not url.endswith("/favicon.svg")]
    assert loaded == [("POST", "fetch")]
    assert page.locator(".labeling").get_attribute("data-item-id") == str(second)
    assert page.title().startswith(f"Item {second} ")
    assert "Label saved" in page.locator(".messages").inner_text()
    assert Slot.objects.get(state=SlotState.LEASED, expert=expert).item_id == second


def test_reload_back_and_forward_show_the_screens_of_their_addresses(page, live_server, expert, project, queue):
    make_items(project, 3)
    sign_in(page, live_server, "erin", keyboard=True)
    first = open_next(page, live_server, queue)
    label_by_keyboard(page)
    second = current_item(page)

    page.reload()  # the leased item again
    assert current_item(page) == second
    assert page.locator(".labeling").get_attribute("data-item-id") == str(second)

    with page.expect_navigation():
        page.go_back()  # the labeled item, with the expert's own answers to change
    assert current_item(page) == first
    # The history step is a same-document one (pushState); label.js then reloads the address: wait for its screen.
    expect(page.locator(".labeling")).to_have_attribute("data-item-id", str(first))
    assert "labeled" in page.locator(".crumbs").inner_text()
    assert page.locator("input[name=q-tone][value=friendly]").is_checked()

    with page.expect_navigation():
        page.go_forward()
    expect(page.locator(".labeling")).to_have_attribute("data-item-id", str(second))
    label_by_keyboard(page)  # the keys still work on a screen reached through the history
    assert sorted(Label.objects.filter(expert=expert).values_list("item_id", flat=True)) == sorted([first, second])


def test_back_after_a_skip_shows_the_skipped_item_with_a_note(page, live_server, expert, project, queue):
    make_items(project, 3)
    sign_in(page, live_server, "erin", keyboard=True)
    skipped = open_next(page, live_server, queue)
    press_and_follow(page, "s")
    second = current_item(page)

    with page.expect_navigation():
        page.go_back()  # the skipped item: read-only, saying so, not a 404

    assert current_item(page) == skipped
    expect(page.locator("#skipped-note")).to_contain_text("You skipped this item")
    assert page.locator("#label-form").count() == 0
    with page.expect_navigation():
        page.locator("#go-on-labeling").click()  # back to the item leased after the skip
    expect(page.locator(".labeling")).to_have_attribute("data-item-id", str(second))


def test_back_twice_past_a_skip_shows_the_item_each_address_names(page, live_server, expert, project, queue):
    """Label one, skip the next, then Back, Back: each step shows its address's item. The skipped item's page is a
    full load (the reload of Back): it too reloads on the next Back, not keep its screen under the first address."""
    make_items(project, 3)
    sign_in(page, live_server, "erin", keyboard=True)
    first = open_next(page, live_server, queue)
    label_by_keyboard(page)
    skipped = current_item(page)
    press_and_follow(page, "s")

    with page.expect_navigation():
        page.go_back()
    assert current_item(page) == skipped
    expect(page.locator("#skipped-note")).to_contain_text("You skipped this item")

    page.go_back()  # within the first page's history: same-document, so only the page's own script can reload
    assert current_item(page) == first
    expect(page.locator(".labeling")).to_have_attribute("data-item-id", str(first))
    expect(page).to_have_title(re.compile(rf"^Item {first} "))
    assert "labeled" in page.locator(".crumbs").inner_text()
    assert page.locator("#skipped-note").count() == 0


def test_a_refused_label_swaps_in_its_errors_and_keeps_the_address(page, live_server, expert, project, queue):
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)

    press_and_follow(page, "Enter")  # nothing answered

    assert current_item(page) == item
    assert "nothing was saved" in page.locator(".form-error").inner_text()
    assert page.locator(".question.is-active").get_attribute("data-key") == "correct"  # the first in error
    assert not Label.objects.exists()
    label_by_keyboard(page)  # answered now, from the swapped screen
    assert list(Label.objects.values_list("item_id", flat=True)) == [item]


def test_the_last_label_of_a_queue_swaps_in_all_done(page, live_server, expert, project, queue):
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)

    label_by_keyboard(page)

    assert "All done in this queue" in page.locator("h1").inner_text()
    assert page.url.endswith(f"/p/{project.slug}/q/{queue.slug}/next")
    page.reload()
    assert "All done in this queue" in page.locator("h1").inner_text()


def test_back_forward_back_around_all_done_shows_the_screen_each_address_names(
    page, live_server, expert, project, queue
):
    """Forward onto "All done" reloads it as a full page: the Back after it still shows the labeled item."""
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)
    label_by_keyboard(page)
    expect(page.locator("h1")).to_contain_text("All done in this queue")

    with page.expect_navigation():
        page.go_back()
    expect(page.locator(".labeling")).to_have_attribute("data-item-id", str(item))
    with page.expect_navigation():
        page.go_forward()
    expect(page.locator("h1")).to_contain_text("All done in this queue")

    page.go_back()
    assert current_item(page) == item
    expect(page.locator(".labeling")).to_have_attribute("data-item-id", str(item))


def test_a_label_on_a_paused_queue_is_saved_and_swaps_in_the_home_page_saying_so(
    page, live_server, expert, project, queue
):
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    first = open_next(page, live_server, queue)
    Queue.objects.filter(pk=queue.pk).update(is_active=False)  # the lead pauses it while the expert labels

    label_by_keyboard(page)

    messages = page.locator(".messages").inner_text()
    assert f"Label saved for item {first}" in messages
    assert "“All answers” is paused: its lead stopped handing out items." in messages
    assert page.url == f"{live_server.url}/p/{project.slug}/"  # home: the expert's one project's page
    assert Label.objects.get(item_id=first, expert=expert).answers == ANSWERS
    assert not Slot.objects.filter(state=SlotState.LEASED).exists()


def test_back_and_forward_around_the_home_page_of_a_paused_queue_show_the_screen_each_address_names(
    page, live_server, expert, project, queue
):
    """Home does not load label.js: reached by a swap, it would share the labeled item's history, and a Back from it
    once Forward had loaded it as a page would change the address to the item's and leave home on the screen."""
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    first = open_next(page, live_server, queue)
    Queue.objects.filter(pk=queue.pk).update(is_active=False)
    home = f"{live_server.url}/p/{project.slug}/"
    label_by_keyboard(page)
    expect(page.locator(".messages")).to_contain_text("is paused")
    assert page.url == home

    with page.expect_navigation():
        page.go_back()
    expect(page.locator(".labeling")).to_have_attribute("data-item-id", str(first))
    with page.expect_navigation():
        page.go_forward()
    assert page.url == home and page.locator(".labeling").count() == 0

    page.go_back()
    assert current_item(page) == first
    expect(page.locator(".labeling")).to_have_attribute("data-item-id", str(first), timeout=PATIENCE_MS)
    assert "labeled" in page.locator(".crumbs").inner_text()


@pytest.mark.parametrize("action", ["label", "skip"])
def test_a_label_or_skip_on_an_item_no_longer_yours_keeps_the_screen_and_back_and_forward_show_each_address(
    page, live_server, expert, project, queue, action
):
    """The expert's role was changed while the item was open: the 404 page that answers the label or the skip loads
    no label.js, so swapped in it would take the item's history. The screen stays with the answers, saying why;
    Back and Forward then show the page each address names (the project page, the item's 404)."""
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)
    item_url, project_url = page.url, f"{live_server.url}/p/{project.slug}/"
    Membership.objects.filter(user=expert, project=project).update(role=Role.ENGINEER)

    with page.expect_response(lambda r: r.request.method == "POST" and r.url.startswith(item_url)):  # or its /skip
        for key in KEYS if action == "label" else ["s"]:
            page.keyboard.press(key)
        if action == "label":
            page.keyboard.press("Enter")

    expect(page.locator(".messages")).to_contain_text(LABELING_REFUSED)
    assert page.url == item_url and page.locator(".labeling").get_attribute("data-item-id") == str(item)
    if action == "label":
        assert page.locator("input[name=q-tone][value=friendly]").is_checked()
    assert not Label.objects.exists() and not Skip.objects.exists()

    with page.expect_navigation():
        page.go_back()
    assert page.url == project_url and page.locator(".labeling").count() == 0
    with page.expect_navigation():
        page.go_forward()
    assert page.url == item_url and page.locator(".labeling").count() == 0
    expect(page.get_by_role("alert")).to_contain_text(LABELING_REFUSED)


def test_without_javascript_the_form_posts_and_the_next_page_loads(browser, live_server, expert, project, queue):
    make_items(project, 2)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(PATIENCE_MS)
    try:
        sign_in(page, live_server, "erin")
        first = open_next(page, live_server, queue)
        page.locator("input[name=q-correct][value=yes]").check()
        with page.expect_navigation():
            page.locator("#submit-label").click()
        assert current_item(page) != first
        assert "Label saved" in page.locator(".messages").inner_text()
    finally:
        context.close()
    # `issues`, optional and left unticked, is answered: none of its options applies.
    assert list(Label.objects.values_list("item_id", "answers")) == [(first, {"correct": True, "issues": []})]


def test_a_label_sent_after_the_session_ended_is_kept_and_sent_after_signing_in_again(
    page, live_server, expert, project, queue
):
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)
    for key in [*KEYS, "j", "e"]:
        page.keyboard.press(key)
    page.keyboard.type("Promises next-day shipping")
    page.keyboard.press("Escape")
    context = page.context
    kept = [cookie for cookie in context.cookies() if "sessionid" not in cookie["name"]]
    context.clear_cookies()  # signed out meanwhile: the session expired, or they signed out in another tab
    context.add_cookies(kept)

    page.keyboard.press("Enter")

    # The screen with the answers stays, saying why nothing was saved.
    expect(page.locator(".messages")).to_contain_text("You were signed out, so this was not saved.")
    assert page.locator(".labeling").get_attribute("data-item-id") == str(item)
    assert page.locator("input[name=q-tone][value=friendly]").is_checked()
    assert not Label.objects.exists()
    with page.expect_navigation():
        page.get_by_role("link", name="Sign in again").click()
    page.fill("input[name=username]", "erin")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert page.locator(".labeling").get_attribute("data-item-id") == str(item)  # its answers put back from this tab
    assert page.locator("input[name=q-tone][value=friendly]").is_checked()
    assert page.locator("textarea[name=q-critique]").input_value() == "Promises next-day shipping"
    press_and_follow(page, "Enter")
    assert current_item(page) != item
    assert Label.objects.get(item_id=item).answers == {**ANSWERS, "critique": "Promises next-day shipping"}


def test_a_label_sent_from_a_screen_older_than_a_new_sign_in_is_kept_and_sent_after_a_reload(
    page, browser, live_server, expert, project, queue
):
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)
    for key in KEYS:
        page.keyboard.press(key)
    other_tab = page.context.new_page()  # signs out and in again: the sign-in renews the form token of the site
    other_tab.goto(f"{live_server.url}/p/{project.slug}/")
    with other_tab.expect_navigation():
        other_tab.get_by_role("button", name="Sign out").click()
    sign_in(other_tab, live_server, "erin", keyboard=True)

    page.keyboard.press("Enter")

    expect(page.locator(".messages")).to_contain_text("out of date, so this was not saved")
    assert page.locator(".labeling").get_attribute("data-item-id") == str(item)
    assert page.locator("input[name=q-tone][value=friendly]").is_checked()
    assert not Label.objects.exists()
    with page.expect_navigation():
        page.get_by_role("link", name="Reload this item").click()
    assert page.locator("input[name=q-tone][value=friendly]").is_checked()  # put back from this tab
    press_and_follow(page, "Enter")
    assert current_item(page) != item
    assert Label.objects.get(item_id=item).answers == ANSWERS


def test_a_digit_picks_the_rating_of_that_value_on_a_scale_from_zero(page, live_server, expert, project, queue):
    """On a 0-10 scale the key 7 answers 7 (it answered 6, the seventh step); yes/no still takes y, n, 1 and 2."""
    publish_rubric(
        project=project,
        questions=[
            {"key": "likely", "kind": "rating", "scale": [0, 10], "prompt": "Would the customer recommend us?"},
            {"key": "correct", "kind": "binary", "prompt": "Correct?"},
        ],
    )
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    first = open_next(page, live_server, queue)

    assert page.locator("input[name=q-likely][value='7'] ~ kbd").inner_text() == "7"
    page.keyboard.press("7")
    page.keyboard.press("2")  # the yes/no question, by its place: no
    press_and_follow(page, "Enter")
    page.keyboard.press("0")
    page.keyboard.press("y")
    press_and_follow(page, "Enter")

    answers = dict(Label.objects.filter(expert=expert).values_list("item_id", "answers"))
    second = next(item_id for item_id in answers if item_id != first)
    assert (answers[first], answers[second]) == ({"likely": 7, "correct": False}, {"likely": 0, "correct": True})


def renewals(requests) -> list:
    return [url for method, url in requests if method == "POST" and url.endswith("/renew")]


def test_a_screen_in_use_keeps_its_item_past_the_lease_length(
    page, settings, live_server, expert, other_expert, project, queue
):
    """While the expert works on the item, the page renews its lease: it is not handed to anyone else, and the label
    is saved however long it took."""
    settings.LEASE_SECONDS = 4
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)
    requests = []
    page.on("request", lambda request: requests.append((request.method, request.url)))

    for key in [*KEYS, "j", "k", "j", "k", "j", "k", "j", "k"]:  # about 9 s of work, input every second
        page.keyboard.press(key)
        page.wait_for_timeout(1000)

    assert renewals(requests)
    assert assignment.next_item(expert=other_expert, queue=queue) is None  # still the expert's
    press_and_follow(page, "Enter")
    assert Label.objects.get(item_id=item, expert=expert).answers == ANSWERS


def test_a_renewal_without_an_answer_to_go_by_is_not_tried_every_second(
    page, settings, live_server, expert, project, queue
):
    """The server down (a 503, a sign-in page): a busy screen waits a sixth of the lease (at most 30 s) before trying
    again, instead of posting on every key and every second while the expert works."""
    settings.LEASE_SECONDS = 6
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)
    opened = time.monotonic()
    page.route("**/renew", lambda route: route.fulfill(status=503, body="down", content_type="text/plain"))
    requests = []
    page.on("request", lambda request: requests.append((request.method, request.url)))

    for key in ["j", "k"] * 16:  # 8 s of work or more on a busy machine, 32 keys: the renewal is due after 4 s
        page.keyboard.press(key)
        page.wait_for_timeout(250)
    worked = time.monotonic() - opened

    # Once due, at most one try a second (a sixth of the lease), one more for the timers' phase: 6 in 8 s, however
    # long the keys took on a loaded machine; never one per key.
    assert 1 <= len(renewals(requests)) <= max(worked - 4, 0) + 2, (worked, renewals(requests))


def test_an_idle_screen_renews_nothing_and_lets_its_item_go(
    page, settings, live_server, expert, other_expert, project, queue
):
    settings.LEASE_SECONDS = 3
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)
    requests = []
    page.on("request", lambda request: requests.append((request.method, request.url)))

    page.wait_for_timeout(5000)  # no key, no click, no scroll

    assert renewals(requests) == []
    assert assignment.next_item(expert=other_expert, queue=queue).pk == item


def test_a_lost_item_says_so_at_once_and_keeps_the_answers(
    page, settings, live_server, expert, other_expert, project, queue
):
    """The item went to another expert meanwhile (the lease ran out: the expert was away): the next renewal says so
    on the screen, before more work goes into it; the answers stay on the screen and in the tab, and Enter saves
    nothing and keeps them too."""
    settings.LEASE_SECONDS = 4
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)
    for key in [*KEYS, "j", "e"]:
        page.keyboard.press(key)
    page.keyboard.type("Promises next-day shipping")
    page.keyboard.press("Escape")
    Slot.objects.filter(item_id=item).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert assignment.next_item(expert=other_expert, queue=queue).pk == item

    page.keyboard.press("j")  # still working: the page renews, and learns the item is gone

    expect(page.locator(".messages")).to_contain_text(
        "You had this item open longer than 4 seconds without saving, so it went to another expert.", timeout=6000
    )
    expect(page.locator(".messages")).to_contain_text("Your answers are kept in this tab")
    expect(page.get_by_role("link", name="Take the next item")).to_be_visible()
    assert page.locator("input[name=q-tone][value=friendly]").is_checked()
    kept = json.loads(page.evaluate(f"sessionStorage.getItem('expertloop-unsent-answers:{item}')"))
    assert ["q-critique", "Promises next-day shipping"] in kept["fields"]

    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(f"/items/{item}/")):
        page.keyboard.press("Enter")  # sent anyway: refused, and the screen stays

    expect(page.locator(".messages")).to_contain_text("it went to another expert")
    assert page.locator(".labeling").get_attribute("data-item-id") == str(item)
    assert page.locator("textarea[name=q-critique]").input_value() == "Promises next-day shipping"
    assert not Label.objects.exists()


def test_a_reload_or_back_and_forward_mid_item_keeps_the_answers_not_sent_yet(
    page, live_server, expert, project, queue
):
    make_items(project, 3)
    sign_in(page, live_server, "erin", keyboard=True)
    first = open_next(page, live_server, queue)
    label_by_keyboard(page)
    second = current_item(page)
    for key in [*KEYS, "j", "e"]:
        page.keyboard.press(key)
    page.keyboard.type("Draft critique")
    page.keyboard.press("Escape")
    page.fill("#comment-body", "A comment half written")
    page.fill("#skip-reason", "Not my area")

    page.reload()

    def assert_draft_is_back():
        assert page.locator("input[name=q-tone][value=friendly]").is_checked()
        assert page.locator("input[name=q-issues][value=evasive]").is_checked()
        assert page.locator("textarea[name=q-critique]").input_value() == "Draft critique"
        assert page.locator("#comment-body").input_value() == "A comment half written"
        assert page.locator("#skip-reason").input_value() == "Not my area"

    assert current_item(page) == second
    assert_draft_is_back()
    with page.expect_navigation():
        page.go_back()
    expect(page.locator(".labeling")).to_have_attribute("data-item-id", str(first))
    assert page.locator("textarea[name=q-critique]").input_value() == ""  # the first item's label: no draft of it
    with page.expect_navigation():
        page.go_forward()
    expect(page.locator(".labeling")).to_have_attribute("data-item-id", str(second))
    assert_draft_is_back()

    page.locator("#comment-body").focus()
    page.keyboard.press("Escape")
    press_and_follow(page, "Enter")  # saved: the draft is gone

    assert Label.objects.get(item_id=second).answers == {**ANSWERS, "critique": "Draft critique"}
    assert page.evaluate(f"sessionStorage.getItem('expertloop-draft:{second}')") is None


def press_on_layout(page, key: str, code: str) -> None:
    """A key as a non-Latin layout sends it: the letter it types there, the code of its place on the keyboard."""
    page.evaluate(
        "([key, code]) => (document.activeElement || document.body).dispatchEvent("
        "new KeyboardEvent('keydown', {key, code, bubbles: true, cancelable: true}))",
        [key, code],
    )


def test_letter_keys_work_on_a_russian_hebrew_or_arabic_layout(page, live_server, expert, project, queue):
    """On a Russian layout the y key types "н": the shortcut goes by the key's place (KeyY), as on a Latin layout."""
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)

    press_on_layout(page, "н", "KeyY")  # y: yes

    assert page.locator("input[name=q-correct][value=yes]").is_checked()
    assert page.locator(".question.is-active").get_attribute("data-key") == "helpful"  # moved on
    press_on_layout(page, "о", "KeyJ")  # j: next question
    assert page.locator(".question.is-active").get_attribute("data-key") == "tone"
    press_on_layout(page, "ל", "KeyK")  # k, on a Hebrew layout: previous question
    assert page.locator(".question.is-active").get_attribute("data-key") == "helpful"
    press_on_layout(page, "ب", "KeyF")  # f, on an Arabic layout: flag
    assert page.locator("#flag-note").evaluate("el => el === document.activeElement")


def test_the_shortcuts_overlay_takes_the_focus_and_gives_it_back(page, live_server, expert, project, queue):
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)
    page.locator("input[name=q-tone][value=curt]").focus()

    page.keyboard.press("?")

    in_overlay = "() => document.getElementById('keys-overlay').contains(document.activeElement)"
    assert page.evaluate(in_overlay)
    for _ in range(3):  # Tab stays in the dialog, not behind it
        page.keyboard.press("Tab")
        assert page.evaluate(in_overlay)
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(in_overlay)
    page.keyboard.press("Escape")
    assert page.locator("#keys-overlay").is_hidden()
    assert page.locator("input[name=q-tone][value=curt]").evaluate("el => el === document.activeElement")


def test_arrow_keys_move_between_the_options_of_a_focused_radio_group(page, live_server, expert, project, queue):
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)
    page.locator("input[name=q-tone][value=friendly]").focus()

    page.keyboard.press("ArrowDown")

    assert page.locator("input[name=q-tone][value=curt]").is_checked()  # the browser's own radio group keys
    assert page.locator("input[name=q-tone][value=curt]").evaluate("el => el === document.activeElement")
    assert page.locator(".question.is-active").get_attribute("data-key") == "tone"
    page.keyboard.press("j")  # j still moves between questions
    assert page.locator(".question.is-active").get_attribute("data-key") == "issues"


def test_shift_s_goes_to_the_skip_reason_and_enter_skips_with_it(page, live_server, expert, project, queue):
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)

    page.keyboard.press("Shift+S")

    assert page.locator("#skip-reason").evaluate("el => el === document.activeElement")
    assert not Skip.objects.exists()  # not skipped yet: the reason comes first
    page.keyboard.type("Not my area")
    press_and_follow(page, "Enter")
    assert current_item(page) != item
    assert list(Skip.objects.values_list("item_id", "reason")) == [(item, "Not my area")]
    page.keyboard.press("?")
    assert "Skip with a reason" in page.locator("#keys-overlay").inner_text()
