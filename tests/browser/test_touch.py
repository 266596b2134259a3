"""A real chromium as a touch phone (no hover, no keyboard): the labeling screen does not offer keyboard shortcuts
it cannot use ("Press ? for keyboard shortcuts", the key badges); a desktop browser still shows them."""

import pytest

from labeling.models import Queue
from labeling.services.rubrics import publish_rubric
from tests.helpers.browser import sign_in
from tests.helpers.labeling import make_items
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("touch", [True, False], ids=["phone", "desktop"])
def test_keyboard_hints_show_only_where_there_is_a_keyboard(browser, live_server, project, expert, touch):
    publish_rubric(project=project, questions=QUESTIONS)
    Queue.objects.create(project=project, slug="all", name="All answers", weekly_quota=10)
    make_items(project, 1)
    options = {"has_touch": True, "is_mobile": True, "viewport": {"width": 390, "height": 844}} if touch else {}
    context = browser.new_context(**options)
    page = context.new_page()
    try:
        sign_in(page, live_server, "erin")
        page.goto(f"{live_server.url}/p/{project.slug}/")
        page.get_by_role("button", name="Start labeling").first.click()
        page.locator(".ai-output").wait_for()

        assert page.get_by_text("for keyboard shortcuts").is_visible() is not touch
        assert page.locator("#label-form kbd").first.is_visible() is not touch
    finally:
        context.close()
