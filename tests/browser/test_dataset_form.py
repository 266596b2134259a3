"""A real chromium: the "new dataset" form refuses a Since or Until typed in part, as the meeting's due date does."""

import pytest
from playwright.sync_api import expect

from labeling.models import Dataset
from tests.helpers.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_partly_typed_until_is_refused_beside_the_field_not_dropped_as_no_bound(page, live_server, project, lead):
    """Chrome sends an empty value for a date typed in part: the dataset would be made with no end, the typed month
    silently gone. The page refuses it beside the field, the part kept to finish; finished, it is sent."""
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, live_server, "lena")
    new_dataset = f"{live_server.url}/p/{project.slug}/datasets/new"
    page.goto(new_dataset)
    page.fill("input[name=name]", "Last month")
    until = page.get_by_label("Until")
    until.click(position={"x": 16, "y": until.bounding_box()["height"] / 2})  # the month of mm/dd/yyyy
    page.keyboard.type("12")  # the month only
    assert until.evaluate("input => input.validity.badInput")

    posted = []
    page.on("request", lambda request: request.method == "POST" and posted.append(request.url.split("#")[0]))
    page.get_by_role("button", name="Create dataset").click()

    refusal = page.locator("#field-until .error")
    expect(refusal).to_be_visible()
    expect(refusal).to_have_text("Until is typed in part: finish it, or clear it for no end.")
    expect(until).to_have_attribute("aria-invalid", "true")
    expect(until).to_be_focused()
    assert until.evaluate("input => input.validity.badInput")  # what was typed is still there to finish
    assert new_dataset not in posted
    assert not Dataset.objects.exists()

    # Finished, the date is sent and kept.
    until.fill("2025-12-31")
    expect(refusal).to_have_count(0)
    with page.expect_navigation():
        page.get_by_role("button", name="Create dataset").click()
    assert str(Dataset.objects.get().filters["until"]).startswith("2025-12-31")
    assert errors == []


def test_a_refused_date_keeps_its_help_text_described_and_gets_it_back_alone_once_cleared(
    page, live_server, project, lead
):
    """A screen reader reads a date field's help text through its aria-describedby: the refusal adds its own id beside
    it, and clearing the refusal takes only that id away, never the help text's."""
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/datasets/new")
    until = page.get_by_label("Until")
    expect(until).to_have_attribute("aria-describedby", "id_until_helptext")
    until.click(position={"x": 16, "y": until.bounding_box()["height"] / 2})  # the month of mm/dd/yyyy
    page.keyboard.type("12")  # the month only

    page.get_by_role("button", name="Create dataset").click()

    expect(page.locator("#field-until .error")).to_be_visible()
    expect(until).to_have_attribute("aria-describedby", "id_until_helptext id_until-partial")
    expect(until).to_have_accessible_description(
        "Outputs before this day (not included). Until is typed in part: finish it, or clear it for no end."
    )

    until.fill("2025-12-31")  # finished: the refusal goes

    expect(page.locator("#field-until .error")).to_have_count(0)
    expect(until).to_have_attribute("aria-describedby", "id_until_helptext")
    expect(until).to_have_accessible_description("Outputs before this day (not included).")
    expect(until).not_to_have_attribute("aria-invalid", "true")
