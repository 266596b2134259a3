"""The API docs page (Swagger UI) renders under the site's content security policy without a violation."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_page_renders_without_a_content_security_policy_violation(page, live_server):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))

    page.goto(f"{live_server.url}/api/docs/")

    page.locator(".opblock").first.wait_for()  # Swagger UI drew the endpoints
    assert page.locator(".opblock", has_text="/api/v1/outputs").count() >= 1
    # Its page style (no body margin, border-box) comes from a stylesheet: an inline <style> is blocked.
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"
    assert errors == []
