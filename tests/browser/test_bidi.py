"""A real chromium: a right-to-left override in user text (U+202E) reverses that text only, never the page's own
characters beside it (the quotes around an end user's comment, the words after a queue's name in the audit log)."""

import pytest
from playwright.sync_api import expect

from labeling.models import AuditEvent
from tests.factories import OutputFactory
from tests.helpers.browser import sign_in
from tests.helpers.labeling import TIE, label_outputs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OVERRIDE = "abc\u202edef"

# Each character of the element's text with its left and right edges on screen, in text order.
GLYPHS = """element => {
    const glyphs = [], walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (let i = 0; i < node.data.length; i++) {
            const range = document.createRange();
            range.setStart(node, i);
            range.setEnd(node, i + 1);
            const box = range.getBoundingClientRect();
            if (box.width > 0) glyphs.push({char: node.data[i], left: box.left, right: box.right});
        }
    }
    return glyphs;
}"""


def test_an_override_in_an_end_users_comment_stays_between_its_quotes(page, live_server, lead, project):
    OutputFactory(project=project, external_id="reversed", feedback_score=-1, feedback_comment=OVERRIDE)
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/explore/")

    comment = page.locator('.result[data-output="reversed"] .feedback-comment')
    expect(comment).to_contain_text("abc")
    glyphs = comment.evaluate(GLYPHS)
    opening, closing = glyphs[0], glyphs[-1]
    assert (opening["char"], closing["char"]) == ("“", "”")
    assert opening["left"] <= min(glyph["left"] for glyph in glyphs[1:])
    assert closing["right"] >= max(glyph["right"] for glyph in glyphs[:-1])  # the closing quote ends the line


def test_an_override_in_a_queue_name_leaves_the_rest_of_the_audit_sentence_in_order(page, live_server, lead, project):
    AuditEvent.objects.create(
        project=project,
        action="queue.outputs_added",
        actor=lead,
        details={"queue": OVERRIDE, "added": 5, "already_in": 0},
    )
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/manage/audit/")

    cell = page.locator("tr[data-action='queue.outputs_added'] td").last
    expect(cell).to_contain_text("already")
    glyphs = [glyph for glyph in cell.evaluate(GLYPHS) if glyph["char"].strip()]
    assert glyphs[-1]["char"] == ")"
    assert glyphs[-1]["right"] >= max(glyph["right"] for glyph in glyphs)  # the sentence's last word ends the line


ARABIC_FEEDBACK = "الرد غير مفيد"
QUOTED = """q => {
    const text = q.querySelector("bdi") || q, box = q.getBoundingClientRect(), inner = text.getBoundingClientRect();
    return {direction: getComputedStyle(q).direction, left: inner.left - box.left, right: box.right - inner.right};
}"""


def test_an_arabic_comment_is_quoted_at_the_english_sentences_ends(
    page, live_server, lead, expert, other_expert, project
):
    """A <q dir="auto"> took the comment's direction, so its marks swapped ends (”…“) in an English sentence: the
    <q> keeps the page's direction, its opening mark on the left, and the comment inside reads right to left."""
    [item] = label_outputs(project, answers=TIE, experts=[expert, other_expert], feedback_comment=ARABIC_FEEDBACK)
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/manage/adjudication/{item.pk}/")

    quoted = page.locator("q", has_text=ARABIC_FEEDBACK).first
    expect(quoted).to_be_visible()
    shape = quoted.evaluate(QUOTED)
    assert shape["direction"] == "ltr" and shape["left"] > 0 and shape["right"] > 0  # a mark on each side
    glyphs = quoted.evaluate(GLYPHS)
    assert glyphs[0]["right"] == max(glyph["right"] for glyph in glyphs)  # its first letter on the right
