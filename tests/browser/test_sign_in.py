"""A real chromium signs in and reads the project overview; hostile AI output stays inert text."""

import pytest
from django.test import override_settings

from tests.factories import OutputFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE = (
    '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    '<a href="javascript:window.__xss=3">click</a></textarea><svg onload="window.__xss=4">'
)


def test_an_expert_signs_in_and_sees_outputs_as_text(page, live_server, expert, project):
    OutputFactory(project=project, output=HOSTILE, end_user_id="u-hostile")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url
    page.fill("input[name=username]", "erin")
    page.fill("input[name=password]", "correct horse battery")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/p/support-bot/")  # her one project: the home page sends her straight there

    cell = page.locator("td.output-text").first
    assert cell.inner_text().startswith('<img src=x onerror="window.__xss=1">')
    assert page.locator("td.output-text img, td.output-text script, td.output-text svg").count() == 0
    assert page.evaluate("window.__xss") is None
    assert dialogs == []


def test_a_wrong_password_is_refused(page, live_server, expert):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "erin")
    page.fill("input[name=password]", "wrong")
    page.keyboard.press("Enter")

    assert page.locator(".error").inner_text().startswith("Your username and password didn't match")


@override_settings(SIGNIN_ACCOUNT_FAILURE_LIMIT=3, SIGNIN_LOCKOUT_SECONDS=600)
def test_repeated_wrong_passwords_lock_the_account_with_a_clear_message(page, live_server, expert):
    for _ in range(3):
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", "erin")
        page.fill("input[name=password]", "wrong")
        with page.expect_navigation():
            page.keyboard.press("Enter")

    assert "Too many failed sign-ins for this account" in page.locator(".error").inner_text()
    assert "10 minutes" in page.locator(".error").inner_text()
    page.get_by_role("link", name="Back to sign in").click()
    page.fill("input[name=username]", "erin")
    page.fill("input[name=password]", "correct horse battery")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "locked" in page.locator(".error").inner_text()
