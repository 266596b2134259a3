"""A real chromium: a right-to-left override in user text (U+202E) reverses that text only, never the page's own
characters beside it (the quotes around an end user's comment, the words after a queue's name in the audit log)."""

import pytest
from playwright.sync_api import expect

from labeling.models import AuditEvent, Queue
from tests.factories import OutputFactory
from tests.helpers.browser import sign_in
from tests.helpers.labeling import TIE, label_outputs, make_items

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


MIXED_OUTPUT = (
    "Thanks for writing: here is the answer in both languages.\n\n"
    "شكرا لتواصلك معنا. يمكنك إرجاع المنتج خلال ثلاثين يوما.\n\n"
    "- Open *My orders* and choose the order.\n"
    "- اختر المنتج واطبع الملصق.\n\n"
    "## סיכום\n\n"
    "> ההחזר יגיע תוך שבוע.\n\n"
    "| Step | الخطوة |\n|---|---|\n| Print | اطبع |\n"
)
# Each block element of the output: its first word and the direction it is laid out in.
BLOCKS = "p, ul, li, h1, h2, h3, h4, h5, h6, blockquote, table, th, td"
DIRECTIONS = r"""([output, blocks]) => [...output.querySelectorAll(blocks)].map(
    element => [element.textContent.trim().split(/\s/)[0], getComputedStyle(element).direction]
)"""


def test_each_paragraph_of_a_mixed_direction_output_takes_its_own_direction(page, live_server, expert, project, rubric):
    """An AI answer of English and Arabic (or Hebrew) paragraphs took one direction, its first paragraph's, for all:
    the Arabic ones sat on the left, their full stop at the wrong end. Each paragraph, list item, heading, quote and
    cell now takes its own direction from its text, as GitHub renders Markdown; a list, a quote or a table as its
    first text (its marks and border on that side)."""
    Queue.objects.create(project=project, slug="all", name="All answers")
    [item] = make_items(project, 1, output=MIXED_OUTPUT)
    sign_in(page, live_server, "erin")

    page.goto(f"{live_server.url}/p/{project.slug}/q/all/next")
    with page.expect_navigation():
        page.get_by_role("button", name="Take the next item").click()

    assert f"/items/{item.pk}/" in page.url
    shown = page.evaluate(DIRECTIONS, [page.locator(".ai-output").element_handle(), BLOCKS])
    assert shown == [
        ["Thanks", "ltr"],
        ["شكرا", "rtl"],
        ["Open", "ltr"],  # the list, as its first item
        ["Open", "ltr"],
        ["اختر", "rtl"],
        ["סיכום", "rtl"],
        ["ההחזר", "rtl"],  # the quote, as its first paragraph
        ["ההחזר", "rtl"],
        ["Step", "ltr"],  # the table, as its first cell
        ["Step", "ltr"],
        ["الخطوة", "rtl"],
        ["Print", "ltr"],
        ["اطبع", "rtl"],
    ]
    quote = page.locator(".ai-output blockquote").evaluate("quote => getComputedStyle(quote).borderRightWidth")
    assert quote == "3px"  # its rule on the side it starts from
