"""A real chromium: a lead finds the new model's refund promises on the explore page, makes a dataset from the
filter (the form comes filled in, saying how the search changed and what it could not carry), and its first version
holds those answers with their gold."""

import re
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from labeling.models import Dataset, Output
from labeling.services.datasets import build_version
from labeling.services.search_index import index_outputs
from tests.helpers.browser import sign_in
from tests.helpers.labeling import label_outputs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REGRESSED = "gpt-4.1-mini-2025-04-14"


def test_a_lead_makes_a_dataset_of_the_refund_promises_from_the_explore_filter(
    browser, page, live_server, lead, project
):
    label_outputs(project, 2, model=REGRESSED, texts=["Sorry! Your refund will arrive by 14 March."] * 2)
    label_outputs(project, 1, model=REGRESSED, texts=["It ships Friday."])
    label_outputs(project, 1, model="gpt-4o-mini", texts=["Your refund will arrive by 2 March."])
    index_outputs(project_id=project.pk, output_ids=list(Output.objects.values_list("pk", flat=True)))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, live_server, "lena")

    finding = urlencode([("q", '"refund will arrive by"'), ("model", REGRESSED), ("feedback", "none")])
    page.goto(f"{live_server.url}/p/{project.slug}/explore/?{finding}")
    expect(page.locator("#total")).to_have_text("2 outputs")
    with page.expect_navigation():
        page.get_by_role("link", name="Make a dataset from this filter").click()

    expect(page.locator("h1")).to_have_text("New dataset")
    expect(page.locator("input[name=models]")).to_have_value(REGRESSED)
    expect(page).to_have_url(re.compile(r"/datasets/new\?explore="))
    expect(page.locator("textarea[name=text_any]")).to_have_value("refund will arrive by")
    notes = page.locator("#from-explore")
    expect(notes).to_contain_text("becomes “Answer contains any of”")
    expect(notes.locator(".left-out li")).to_have_text(["“end-user feedback” is not a dataset filter."])
    page.fill("input[name=name]", "Refund promises")
    with page.expect_navigation():
        page.get_by_role("button", name="Create dataset").click()

    expect(page.locator(".definition")).to_contain_text(REGRESSED)
    expect(page.locator(".definition")).to_contain_text("Answer contains any of“refund will arrive by” in any case")
    version = build_version(dataset_id=Dataset.objects.get(slug="refund-promises").pk)
    assert sorted(version.rows.values_list("external_id", flat=True)) == ["out-00000", "out-00001"]
    assert errors == []
