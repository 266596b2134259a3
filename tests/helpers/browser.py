"""Steps a person takes in the real browser, shared by the chromium tests."""

import re

from tests.factories import PASSWORD

# How long an action (a click, a fill) and an assertion (`expect(...)`) wait, alike: Playwright's `expect` keeps its
# own 5 s default otherwise, half the actions' patience under a full suite's load. A page a test opens itself (a
# second context, a second person) sets it too.
PATIENCE_MS = 10_000


def sign_in(page, live_server, username, *, keyboard=False):
    """Sign in on the login page, submitting with the button (or with Enter, for the keyboard-only tests)."""
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        if keyboard:
            page.keyboard.press("Enter")
        else:
            page.click("button[type=submit]")


def current_item(page) -> int:
    """The item the labeling screen shows (its URL's id)."""
    match = re.search(r"/items/(\d+)/$", page.url)
    assert match, page.url
    return int(match.group(1))


def press_and_follow(page, key) -> None:
    """Press `key` and wait for the screen it leads to: a page load, or a screen the script swapped in."""
    page.evaluate("document.body.dataset.stale = '1'")
    page.keyboard.press(key)
    page.wait_for_selector("body:not([data-stale])", state="attached")
