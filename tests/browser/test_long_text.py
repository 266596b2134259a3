"""A real chromium: an output, a tag, an end-user comment or an expert's note made of one long unbroken string (a
base64 blob, a URL, a run of one letter) wraps inside its box on every screen that shows it, instead of widening
the page so the lead scrolls sideways to reach the rest of it."""

import pytest

from labeling.models import Queue
from labeling.services.labels import comment_on_item, flag_item
from labeling.services.search_index import index_outputs
from tests.factories import OutputFactory
from tests.helpers.browser import sign_in
from tests.helpers.labeling import label_outputs

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


@pytest.fixture
def long_notes(project, expert, other_expert, rubric):
    """A tied item whose experts wrote one unbroken string as critique, flag note and comment; and a flagged item
    of one label whose correction is one unbroken string (shown as the automatic answer)."""
    given = ({"correct": True, "critique": UNBROKEN}, {"correct": False, "critique": UNBROKEN})
    [tied] = label_outputs(project, answers=given, experts=[expert, other_expert], queue="all", session_id="s-1")
    flag_item(expert=expert, item=tied, note=UNBROKEN)
    comment_on_item(author=other_expert, item=tied, body=UNBROKEN)
    [single] = label_outputs(project, answers=({"correct": True, "fix": UNBROKEN},), experts=[expert], queue="solo")
    flag_item(expert=expert, item=single, note="Is this correction right?")
    return single


@pytest.mark.parametrize(
    "path",
    ["/meeting/", "/explore/session?id=s-1", "/manage/adjudication/{single}/"],
    ids=["meeting agenda", "conversation", "adjudication"],
)
def test_an_unbroken_note_or_answer_of_an_expert_wraps(page, live_server, lead, project, long_notes, path):
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}{path.format(single=long_notes.pk)}")

    assert page.get_by_text("AAAAAAAAAA").first.is_visible()
    assert sideways_overflow(page) == 0
