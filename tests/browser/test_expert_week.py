"""A real chromium through an expert's week, where the work meets the network and the expert's second thoughts: a
server error or a slow answer while a label is sent, and going back to change a label just given."""

import re

import pytest
from playwright.sync_api import expect

from labeling.models import Label, Queue
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory
from tests.helpers.browser import current_item, press_and_follow, sign_in
from tests.helpers.labeling import make_items
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# y (correct) · 4 (helpful) · 1 (tone: friendly) · 2 (issues: toggle evasive)
KEYS = ["y", "4", "1", "2"]
CHECKED = "[...document.querySelectorAll('#label-form input:checked')].map(input => input.name + '=' + input.value)"
NGINX_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    "<hr><center>nginx</center></body></html>"
)


@pytest.fixture
def queue(project, rubric):
    return Queue.objects.create(project=project, slug="all", name="All answers")


def open_next(page, live_server, queue) -> int:
    page.goto(f"{live_server.url}/p/{queue.project.slug}/")
    with page.expect_navigation():
        page.locator(f"form[action$='/q/{queue.slug}/next'] button").press("Enter")
    return current_item(page)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_while_a_label_is_sent_keeps_the_screen_and_its_answers(
    page, live_server, expert, project, queue, status
):
    """A proxy's 502 page (or the app's 500 or 503) was swapped in for the whole screen: the answers vanished from
    sight, Enter did nothing, and only a reload brought them back. Now the screen stays, says it may not have been
    saved, and Enter sends the same answers again once the server is back."""
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)

    def failing(route):
        if route.request.method == "POST":
            route.fulfill(status=status, body=NGINX_502, content_type="text/html")
        else:
            route.continue_()

    page.route(re.compile(r"/items/\d+/$"), failing)
    for key in KEYS:
        page.keyboard.press(key)
    given = page.evaluate(CHECKED)
    page.keyboard.press("Enter")

    alert = page.locator(".messages [role=alert]")
    expect(alert).to_contain_text("may not have been saved")
    expect(alert).to_contain_text("Enter")
    expect(page.locator("#label-form")).to_be_visible()
    assert current_item(page) == item
    assert page.evaluate(CHECKED) == given
    assert not Label.objects.filter(item_id=item).exists()

    page.unroute(re.compile(r"/items/\d+/$"))
    press_and_follow(page, "Enter")

    expect(page.locator(".messages")).to_contain_text(f"Label saved for item {item}")
    assert Label.objects.get(item_id=item, expert=expert).answers["tone"] == "friendly"


def test_on_a_slow_network_the_label_being_sent_says_so_until_the_next_item_shows(
    page, live_server, expert, project, queue
):
    """Three seconds of latency: after Enter nothing on the screen moved, so the expert could not tell a label being
    saved from a key that did nothing. Now the form is marked busy and its button says "Saving…" until the next item
    is swapped in."""
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    first = open_next(page, live_server, queue)
    for key in KEYS:
        page.keyboard.press(key)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 3000, "downloadThroughput": 50_000, "uploadThroughput": 20_000},
    )

    page.keyboard.press("Enter")

    expect(page.locator("#label-form")).to_have_attribute("aria-busy", "true", timeout=1_000)
    expect(page.locator("#submit-label")).to_contain_text("Saving", timeout=1_000)
    assert current_item(page) == first
    expect(page.locator(".messages")).to_contain_text(f"Label saved for item {first}", timeout=15_000)
    assert current_item(page) != first
    expect(page.locator("#label-form")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#submit-label")).to_contain_text("Submit label")


def test_after_a_failed_send_the_button_says_what_it_does_again(page, live_server, expert, project, queue):
    """A send that failed leaves the form as it was: not busy, its button "Submit label" again."""
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)
    page.route(
        re.compile(r"/items/\d+/$"),
        lambda route: route.abort() if route.request.method == "POST" else route.continue_(),
    )
    for key in KEYS:
        page.keyboard.press(key)
    page.keyboard.press("Enter")

    expect(page.locator(".messages [role=alert]")).to_contain_text("did not answer")
    expect(page.locator("#label-form")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#submit-label")).to_contain_text("Submit label")
    expect(page.locator("#submit-label")).to_be_enabled()


def test_the_saved_message_leads_back_to_change_the_label_just_given(page, live_server, expert, project, queue):
    """Second thoughts right after Enter: "Label saved for item 1." offered no way back but the browser's Back (no
    button on the screen, not in the shortcut list). Now the message links to the item, reached by Shift+Tab from
    the new item's heading; the label changed there replaces the first, and the expert is back on their next item."""
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    first = open_next(page, live_server, queue)
    for key in KEYS:
        page.keyboard.press(key)
    press_and_follow(page, "Enter")
    second = current_item(page)

    change = page.locator(".messages .message a", has_text="Change this label")
    expect(change).to_have_attribute("href", f"/p/{project.slug}/items/{first}/")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(change).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert current_item(page) == first
    expect(page.locator("#submit-label")).to_contain_text("Update label")
    assert "q-tone=friendly" in page.evaluate(CHECKED)
    page.locator("#question-correct").focus()
    page.keyboard.press("n")
    press_and_follow(page, "Enter")

    expect(page.locator(".messages")).to_contain_text(f"Label changed for item {first}")
    assert current_item(page) == second
    assert Label.objects.get(item_id=first, expert=expert).answers["correct"] is False


def test_at_the_end_of_a_queue_the_expert_sees_their_week_and_one_key_takes_the_next_queues_item(
    page, live_server, expert, project, queue
):
    """The last item of a queue whose weekly quota is placed: "All done" said "new outputs arrive during the week;
    check back later" (none would: the quota is full), showed nothing of the expert's week, and its "Go to …" link
    opened a second page with another button to press. Now it says the quota is reached, counts the expert's labels
    there this week, and Tab then Enter leases the next queue's item at once."""
    queue.weekly_quota = 1
    queue.save(update_fields=["weekly_quota"])
    make_items(project, 1)
    vip = Queue.objects.create(project=project, slug="vip", name="VIP answers", rule={"tags_any": ["vip"]})
    make_items(project, 2, tags=["vip"])
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)
    for key in KEYS:
        page.keyboard.press(key)
    press_and_follow(page, "Enter")

    card = page.locator(".done-card")
    expect(page.locator("h1")).to_have_text("All done in this queue")
    expect(card).to_contain_text("This week's quota of 1 item is placed: no new items come to this queue this week")
    expect(card).not_to_contain_text("check back later")
    expect(card).to_contain_text("This week you gave 1 label here")
    page.keyboard.press("Tab")
    expect(page.locator(".done-card button.primary")).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")

    item = current_item(page)
    assert vip.items.filter(pk=item).exists()
    expect(page.locator(".labeling .crumbs")).to_contain_text("VIP answers")


def test_long_guidelines_opened_with_g_are_read_to_the_end_with_the_keyboard(page, live_server, expert, project, queue):
    """Guidelines of many screens open with g in the label panel, which scrolls on its own; the focus stayed on the
    page, so Page Down scrolled the output beside them and their second screen was out of reach without a mouse. Now
    g puts the focus in them, Page Down reads on, and g again closes them and goes back to the active question."""
    rules = "".join(f"\n\n## Rule {n}\n\n" + "Refunds go to the original payment method. " * 15 for n in range(30))
    publish_rubric(project=project, questions=QUESTIONS, guidelines="# How to judge" + rules)
    make_items(project, 1)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)
    panel = page.locator("aside.work")

    page.keyboard.press("g")
    expect(page.locator("#guidelines")).to_have_attribute("open", "")
    expect(page.locator("#guidelines .markdown")).to_be_focused()
    before = panel.evaluate("panel => panel.scrollTop")
    page.keyboard.press("PageDown")
    page.keyboard.press("PageDown")

    page.wait_for_function("([panel, before]) => panel.scrollTop > before + 600", arg=[panel.element_handle(), before])
    page.keyboard.press("g")
    expect(page.locator("#guidelines")).not_to_have_attribute("open", "")
    expect(page.locator("#question-correct")).to_be_focused()


def test_the_home_page_starts_labeling_in_a_queue_with_work_waiting(
    page, live_server, expert, project, other_project, queue
):
    """Monday morning, the home page: it counted what waits in each queue but offered no way to start there, only the
    project's name to follow to another page. Now a queue with work waiting has its own button (named with the
    queue, for a screen reader's list of buttons), which leases an item at once; a queue with none has no button."""
    MembershipFactory(project=other_project, user=expert, role="expert")  # two projects: the home page lists both
    Queue.objects.create(project=project, slug="vip", name="VIP answers", rule={"tags_any": ["vip"]})
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    assert page.url == f"{live_server.url}/"

    expect(page.locator("tr[data-queue='vip'] button")).to_have_count(0)
    start = page.get_by_role("button", name="Start labeling in All answers")
    for _ in range(30):
        page.keyboard.press("Tab")
        if start.evaluate("button => button === document.activeElement"):
            break
    expect(start).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert queue.items.filter(pk=current_item(page)).exists()


def test_a_label_saved_before_the_proxy_gave_up_is_sent_again_without_a_second_label_or_an_edit(
    page, live_server, expert, project, queue
):
    """A proxy can give up (502) after the label was saved, while the next screen was being made: the screen said
    "nothing was saved", which was untrue. It says the label may not have been saved, and Enter sending the same
    answers again leaves one label and no edit of it."""
    make_items(project, 2)
    sign_in(page, live_server, "erin", keyboard=True)
    item = open_next(page, live_server, queue)

    def saved_then_lost(route):
        if route.request.method == "POST":
            route.fetch()  # the server saves the label; the proxy's 502 is what reaches the browser
            route.fulfill(status=502, body=NGINX_502, content_type="text/html")
        else:
            route.continue_()

    page.route(re.compile(r"/items/\d+/$"), saved_then_lost)
    for key in KEYS:
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    expect(page.locator(".messages [role=alert]")).to_contain_text("may not have been saved")
    assert Label.objects.filter(item_id=item, expert=expert).count() == 1

    page.unroute(re.compile(r"/items/\d+/$"))
    press_and_follow(page, "Enter")

    label = Label.objects.get(item_id=item, expert=expert)
    assert (label.answers["tone"], label.revisions.count()) == ("friendly", 0)


def test_the_item_screen_says_where_the_expert_is_in_the_queues_week_after_each_label(
    page, live_server, expert, project, clear_of_week_start, queue
):
    """The labeling screen showed nothing of the week: no count of the labels given, of what still waits, or of the
    queue's quota, which only the project page and "All done" showed. Now a line under the crumbs says it as "All done"
    does, kept right as each label swaps the next item in; it is not a live region (not said on every item), and the
    status says only when the item is the last one waiting."""
    queue.weekly_quota = 5
    queue.save(update_fields=["weekly_quota"])
    make_items(project, 3)
    sign_in(page, live_server, "erin", keyboard=True)
    open_next(page, live_server, queue)
    progress = page.locator("#item-progress")

    expect(progress).to_have_text(
        "This week you gave 0 labels here · 3 waiting for you, this one included · items complete: 0 of 3 placed · "
        "quota 5"
    )
    assert progress.evaluate("line => line.closest('[aria-live], [role=status], [role=alert]')") is None
    for given in (1, 2):
        for key in KEYS:
            page.keyboard.press(key)
        press_and_follow(page, "Enter")
        left = 3 - given
        expect(progress).to_have_text(
            f"This week you gave {given} label{'s' if given > 1 else ''} here · {left} waiting for you, this one "
            f"included · items complete: {given} of 3 placed · quota 5"
        )
    expect(page.locator("#screen-status")).to_have_text(re.compile(r"Item \d+ loaded\. The last one waiting for you"))
