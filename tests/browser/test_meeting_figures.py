"""A real chromium: a lead follows the meeting page's headline figures to the outputs behind them in explore, and
finds there as many outputs as the figure counts (one queue: an item per output)."""

from datetime import UTC, date, datetime

import pytest
from playwright.sync_api import expect

from labeling.models import CycleStatus, Project, ReviewCycle, week_label
from labeling.services import cycles
from tests.factories import created_weeks_ago
from tests.helpers.browser import sign_in
from tests.helpers.labeling import AGREE, TIE, label_outputs
from tests.helpers.reports import sample_report

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WEEK = date(2026, 11, 9)  # 2026-W46, long over; the project made weeks before it (no clock near a week boundary)
FAIL = ({"correct": False, "helpful": 2}, {"correct": False, "helpful": 1})


@pytest.fixture
def closed_week(project, lead, expert, other_expert, rubric):
    """2026-W46 closed: 3 outputs passed and 2 failed by both experts, in one queue, one tagged `refund` among each."""
    Project.objects.filter(pk=project.pk).update(created_at=datetime(2026, 10, 1, 12, tzinfo=UTC))
    moment = datetime(2026, 11, 11, 12, tzinfo=UTC)
    experts = [expert, other_expert]
    label_outputs(project, 3, answers=AGREE, experts=experts, rubric=rubric, occurred_at=moment)
    label_outputs(project, 2, answers=FAIL, experts=experts, rubric=rubric, occurred_at=moment)
    cycles.close_week(project_id=project.pk, week=WEEK, now=datetime(2026, 11, 18, 12, tzinfo=UTC))
    return "2026-W46"


def test_a_lead_follows_the_pass_rate_to_the_outputs_it_counts(page, live_server, project, closed_week):
    sign_in(page, live_server, "lena")
    meeting = f"{live_server.url}/p/{project.slug}/meeting/{closed_week}/"
    page.goto(meeting)
    tile = page.locator("[data-tile=pass-rate]")
    expect(tile.locator(".tile-value")).to_have_text("60.0%")
    expect(tile.locator(".tile-detail")).to_contain_text("3 of 5 items")

    for link, count in (("Failed outputs", "2 outputs"), ("Passed outputs", "3 outputs")):
        page.goto(meeting)
        with page.expect_navigation():
            tile.get_by_role("link", name=link).click()
        expect(page.locator("h1")).to_have_text("Explore outputs")
        expect(page.locator("#total")).to_have_text(count)
        expect(page.locator("li.result")).to_have_count(int(count[0]))
        # The bar shows the filter it opened with: the verdict menu set, not a text field of its own.
        expect(page.locator("select[name=gold]")).to_have_value(
            f"correct:{'false' if link.startswith('F') else 'true'}"
        )

    page.goto(meeting)
    with page.expect_navigation():
        page.locator("[data-tile=labels]").get_by_role("link", name="Labeled outputs").click()
    expect(page.locator("#total")).to_have_text("5 outputs")  # 10 labels on 5 items, one output each


def test_an_expert_gets_no_link_to_gold_answers(page, live_server, project, closed_week):
    sign_in(page, live_server, "erin")
    page.goto(f"{live_server.url}/p/{project.slug}/meeting/{closed_week}/")
    expect(page.locator("[data-tile=pass-rate] .tile-value")).to_have_text("60.0%")
    expect(page.locator("[data-tile=pass-rate] a")).to_have_count(0)  # experts label blind: no gold filter for them
    expect(page.locator("[data-tile=alpha] a")).to_have_count(0)  # nor one of the others' disagreements
    # The project lets experts explore (the default); when it does not, no link (tests/labeling/web/
    # test_meeting_explore_links.py).
    expect(page.locator("[data-tile=labels]").get_by_role("link", name="Labeled outputs")).to_have_count(1)


def test_a_lead_follows_the_agreement_figure_to_the_outputs_the_experts_disagreed_on(
    page, live_server, project, lead, expert, other_expert, rubric
):
    """2026-W46: three outputs both experts passed, two they split on (a tie each). The agreement tile's link opens
    explore on exactly the two, with the bar's "Experts disagreed" set."""
    Project.objects.filter(pk=project.pk).update(created_at=datetime(2026, 10, 1, 12, tzinfo=UTC))
    moment = datetime(2026, 11, 11, 12, tzinfo=UTC)
    experts = [expert, other_expert]
    label_outputs(project, 3, answers=AGREE, experts=experts, rubric=rubric, occurred_at=moment)
    split = label_outputs(project, 2, answers=TIE, experts=experts, rubric=rubric, occurred_at=moment)
    cycles.close_week(project_id=project.pk, week=WEEK, now=datetime(2026, 11, 18, 12, tzinfo=UTC))
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/meeting/2026-W46/")
    tile = page.locator("[data-tile=alpha]")
    expect(tile.locator(".tile-detail")).to_contain_text("5 items with two labels or more")

    with page.expect_navigation():
        tile.get_by_role("link", name="Outputs the experts disagreed on").click()
    expect(page.locator("h1")).to_have_text("Explore outputs")
    expect(page.locator("#total")).to_have_text("2 outputs")
    shown = page.locator("li.result").evaluate_all("rows => rows.map(row => row.dataset.output)")
    assert sorted(shown) == sorted(item.output.external_id for item in split)
    expect(page.locator("select[name=disagree]")).to_have_value("yes")


def test_the_pass_rate_tiles_note_reads_as_a_note_not_as_body_text(page, live_server, project, lead):
    """Two queues answered the verdict question: the tile notes that explore counts outputs and the figure items. The
    note is set as the tile's other small print (its detail: small, muted), not at the body's size as before."""
    created_weeks_ago(project, 52)
    row = {"question": "correct", "kind": "binary", "n": 20, "passes": 15, "value": 0.75, "ci_low": 0.53,
           "ci_high": 0.89, "shares": None}  # fmt: skip
    quality = [{**row, "queue": slug, "queue_name": slug.title()} for slug in ("billing", "refunds")]
    report = sample_report(week=week_label(WEEK), week_start=WEEK.isoformat(), quality=quality)
    ReviewCycle.objects.create(project=project, week=WEEK, status=CycleStatus.CLOSED, report=report)
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/meeting/{week_label(WEEK)}/")

    note = page.locator("[data-tile=pass-rate] .tile-note")
    expect(note).to_contain_text("Explore counts outputs, this figure items")
    style = "element => [getComputedStyle(element).fontSize, getComputedStyle(element).color]"
    detail = page.locator("[data-tile=pass-rate] .tile-detail").evaluate(style)
    body = page.locator("body").evaluate(style)
    assert note.evaluate(style) == detail
    assert float(detail[0].removesuffix("px")) < float(body[0].removesuffix("px")) and detail[1] != body[1]
