"""A real chromium: what a lead or an engineer needs on the explore page to go from "wait, that's strange" to a
finding they can act on and share."""

import pytest
from playwright.sync_api import expect

from tests.helpers.browser import sign_in
from tests.helpers.labeling import label_outputs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REGRESSED = "gpt-4.1-mini-2025-04-14"


def test_an_engineer_makes_a_dataset_from_the_filter_on_screen(page, live_server, engineer, project):
    """Engineers build the datasets (they may create them), but the explore page offered "Make a dataset from this
    filter" to leads only: an engineer who found the outputs had to retype the filter on the new-dataset form."""
    label_outputs(project, 2, model=REGRESSED, texts=["Your refund will arrive by 14 March."] * 2)
    sign_in(page, live_server, "enzo")

    page.goto(f"{live_server.url}/p/{project.slug}/explore/?model={REGRESSED}")
    expect(page.locator("#total")).to_have_text("2 outputs")
    with page.expect_navigation():
        page.get_by_role("link", name="Make a dataset from this filter").click()

    expect(page.locator("h1")).to_have_text("New dataset")
    expect(page.locator("input[name=models]")).to_have_value(REGRESSED)
    # What stays a lead's: queues and exports.
    page.go_back()
    expect(page.get_by_role("link", name="Make a queue from this filter")).to_have_count(0)
    expect(page.locator("#add-form")).to_have_count(0)
