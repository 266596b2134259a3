"""A real chromium: a lead withdraws a dataset version from the dataset's page, saying why."""

import pytest

from labeling.models import DatasetVersion, VersionStatus
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import build_version, create_dataset, withdraw_version
from tests.helpers.browser import sign_in
from tests.helpers.labeling import label_outputs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASON = "Gold for the refund answers was overturned in the weekly meeting."


def test_a_lead_opens_withdraw_types_a_reason_and_the_version_is_listed_withdrawn(page, live_server, lead, project):
    label_outputs(project, 3)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    build_version(dataset_id=dataset.pk)
    label_outputs(project, 2)
    build_version(dataset_id=dataset.pk)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/datasets/{dataset.slug}/")
    row = page.locator("tr[data-version='2']")

    row.get_by_text("Withdraw…").click()
    button = row.get_by_role("button", name="Withdraw v2")
    button.click()  # no reason yet: the browser asks for one and nothing is sent
    assert DatasetVersion.objects.get(number=2).status == VersionStatus.READY
    row.get_by_label("Why").fill(REASON)
    with page.expect_navigation():
        button.click()

    assert "v2 withdrawn" in page.locator(".messages").inner_text()
    shown = page.locator("tr[data-version='2']").inner_text()
    assert "withdrawn" in shown and REASON in shown and "by lena" in shown
    withdrawn = page.locator("tr[data-version='2']")
    assert withdrawn.locator("a.dl").count() == 0
    assert DatasetVersion.objects.get(number=2).status == VersionStatus.WITHDRAWN
    assert errors == []


def test_a_version_withdrawn_by_a_long_named_key_keeps_its_row_in_the_page(page, live_server, lead, project):
    """Who withdrew it wraps in its cell and the versions table fits the page (lead.css's global `[data-version]`
    rule once kept every cell of a version's row on one line: the table ran off the page)."""
    label_outputs(project, 3)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    build_version(dataset_id=dataset.pk)
    name = "Nightly evaluation pipeline of the support bot's refund and shipping answers"
    key = create_api_key(project=project, name=name, scopes=["datasets"], created_by=lead).api_key
    withdraw_version(dataset=dataset, number=1, reason=REASON, api_key=key)
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/datasets/{dataset.slug}/")

    by = page.locator("tr[data-version='1'] .withdrawn-by")
    assert name in by.inner_text()
    assert by.evaluate("d => d.getBoundingClientRect().height > 1.5 * parseFloat(getComputedStyle(d).lineHeight)")
    assert page.locator(".table-wrap").evaluate("w => w.scrollWidth <= w.clientWidth")
