"""Steps a person takes in the real browser, shared by the chromium tests."""

from tests.factories import PASSWORD


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
