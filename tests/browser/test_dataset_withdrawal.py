"""A real chromium: a lead withdraws a dataset version from the dataset's page, saying why."""

import pytest

from labeling.models import DatasetVersion, VersionStatus
from labeling.services.datasets import build_version, create_dataset
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
