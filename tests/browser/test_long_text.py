"""A real chromium: an output, a tag or an end-user comment made of one long unbroken string (a base64 blob, a
URL, a run of one letter) wraps inside its box on every screen that shows it, instead of widening the page so
the lead scrolls sideways to reach the rest of it."""

import pytest

from labeling.models import Queue
from labeling.services.search_index import index_outputs
from tests.factories import OutputFactory
from tests.helpers.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

UNBROKEN = "A" * 5000


@pytest.fixture
def long_output(project):
    output = OutputFactory(project=project, external_id="blob", end_user_id="u-" + "B" * 190, model="m-" + "C" * 190,
                           session_id="s-1", tags=["T" * 100], output=f"refund {UNBROKEN}",
                           feedback_score=-1, feedback_comment=UNBROKEN)  # fmt: skip
    index_outputs(project_id=project.pk, output_ids=[output.pk])
    return output


def sideways_overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


@pytest.mark.parametrize("path", ["/", "/explore/?q=refund"])
def test_an_unbroken_string_wraps_on_the_project_and_explore_pages(page, live_server, lead, project, long_output, path):
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}{path}")

    assert page.get_by_text("AAAAAAAAAA").first.is_visible()
    assert sideways_overflow(page) == 0


def test_an_unbroken_string_wraps_in_the_queue_preview(page, live_server, lead, project, long_output):
    queue = Queue.objects.create(project=project, slug="all", name="All answers")
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/manage/queues/{queue.pk}/")

    page.get_by_role("button", name="Preview", exact=True).click()

    page.locator(".preview-examples").wait_for()
    assert sideways_overflow(page) == 0
    assert page.get_by_role("button", name="Save changes").is_visible()
