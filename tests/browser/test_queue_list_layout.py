"""The lead's queue list in a real chromium, at a laptop's width and a phone's: a rule of many long conditions wraps
inside its cell (each chip keeps its full text in a title), so it runs over no other cell, and at a laptop's width the
table fits its box (the Open column is not clipped); at a phone's the manage tabs wrap, so the page does not scroll
sideways (the table scrolls inside its own box)."""

import pytest

from labeling.models import Item, Queue
from labeling.services.queues import QueueValues, create_queue
from tests.helpers.browser import sign_in
from tests.helpers.changes import add_outputs
from tests.helpers.labeling import make_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_RULE = {
    "text_any": ["TBD", "to be confirmed", "we will get back to you", "someone will call you", "will reply tomorrow"],
    "tags_any": ["billing", "refund", "escalation"],
    "models": ["support-bot-large-2026-11-preview"],
}

COLUMNS = ["Queue", "Rule", "Sample", "Overlap", "Priority", "Experts", "Placed / quota", "Complete", "Open"]
# The column of each cell whose content reaches past the cell's edges (runs over its neighbours); and how far the
# table overflows its scrolling box.
OVERFLOW = """table => ({
  cells: [...table.querySelectorAll('tbody td')].filter(cell => {
    const box = cell.getBoundingClientRect();
    return cell.scrollWidth > cell.clientWidth || [...cell.querySelectorAll('*')].some(child => {
      const inner = child.getBoundingClientRect();
      return inner.width && (inner.right > box.right + 0.5 || inner.left < box.left - 0.5);
    });
  }).map(cell => cell.cellIndex),
  table: table.parentElement.scrollWidth - table.parentElement.clientWidth,
})"""


@pytest.mark.parametrize("width", [1280, 390])
def test_a_long_rule_wraps_in_its_cell_and_runs_over_no_other(page, live_server, project, lead, this_week, width):
    """A queue with a quota and items placed writes its longest figure, "1,234 of 10,000 items" with its bar: no
    queue had one, so that form was never laid out on a phone."""
    create_queue(project=project, values=QueueValues(slug="unsure", name="Unsure answers", rule=LONG_RULE))
    billing = create_queue(
        project=project,
        values=QueueValues(slug="billing", name="Billing", rule={"tags_any": ["billing"]}, weekly_quota=10_000),
    )
    placed = add_outputs(project, this_week, 1_234)
    Item.objects.bulk_create(
        Item(project=project, queue=billing, output=output, week=this_week, overlap=1) for output in placed
    )
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/manage/queues/")

    table = page.locator("table.queues")
    measured = table.evaluate(OVERFLOW)
    assert [COLUMNS[index] for index in measured["cells"]] == []
    if width == 1280:
        assert measured["table"] <= 0  # the whole table in its box: nothing clipped, no scrollbar
    assert page.evaluate("document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth") == 0
    chip = page.locator("tr[data-queue=unsure] .rule .chip").filter(has_text="answer contains")
    assert chip.get_attribute("title") == chip.text_content()
    quota = page.locator("tr[data-queue=billing] td.quota")
    assert quota.inner_text().split() == ["1,234", "of", "10,000", "items"]
    # The bar repeats the figure beside it: a screen reader reads the figure once.
    assert quota.locator("progress").get_attribute("aria-hidden") == "true"


@pytest.mark.parametrize("width", [1280, 900])
def test_a_queue_card_keeps_room_for_its_name_beside_a_long_waiting_figure(
    page, live_server, project, rubric, expert, last_week, width
):
    # The demo's "Weekly sample" card: "17 waiting, 6 from an earlier week" beside the other figures took the whole
    # row, and the queue's name and description were squeezed into a column a few letters wide.
    queue = Queue.objects.create(
        project=project,
        slug="sample",
        name="Weekly sample",
        description="A steady sample of every answer: the week's quality figures and the experts' agreement.",
        weekly_quota=40,
    )
    earlier = make_items(project, 6)
    Item.objects.filter(pk__in=[item.pk for item in earlier]).update(week=last_week)
    make_items(project, 11)
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, "erin")

    page.goto(f"{live_server.url}/p/{project.slug}/")

    card = page.locator(f"section.queue-card[data-queue={queue.slug}]")
    assert "17 waiting, 6 from an earlier week" in card.locator(".stat-waiting").inner_text()
    name = card.locator("h3").bounding_box()
    line = card.locator("h3").evaluate("h => parseFloat(getComputedStyle(h).lineHeight)")
    assert name["height"] < 1.5 * line  # the name on one line, not a letter or two a line
    assert card.locator(".queue-main").bounding_box()["width"] >= 180
    assert page.evaluate("document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth") == 0
