"""A real chromium: a lead sets up redaction rules with the live preview, sees a bad pattern refused, and saves."""

import pytest
from playwright.sync_api import expect

from labeling.models import RedactionRuleSet
from tests.helpers.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_lead_previews_and_saves_redaction_rules(page, live_server, lead, project):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}") or dialog.dismiss())
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/manage/queues/")
    with page.expect_navigation():
        page.locator(".tabs").get_by_role("link", name="Redaction").click()
    expect(page.locator("[data-version]")).to_contain_text("No rules yet")
    for label in ("E-mail addresses", "Phone numbers", "Payment card numbers", "IBANs"):
        page.get_by_label(label).check()
    page.fill("input[name=phone_region]", "GB")
    page.fill("textarea[name=sample]", "<img src=x onerror=alert(1)> jane@example.com, 020 7946 0958, ACCT-123456")
    page.fill("textarea[name=custom]", "account: \\bACCT-\\d{6}\\b")

    # The live preview (lead.js) asks the server; user text comes back escaped, never run.
    stored = page.locator("#redaction-preview [data-part=stored]")
    expect(stored).to_have_text("<img src=x onerror=alert(1)> [EMAIL], [PHONE], [CUSTOM:account]")
    expect(page.locator("#redaction-preview mark.redaction-match[data-kind=phone]")).to_have_text("020 7946 0958")
    expect(page.locator("#redaction-preview img")).to_have_count(0)

    page.fill("textarea[name=custom]", "account: (a+)+$")
    expect(page.locator("#redaction-preview .error-list")).to_contain_text("catastrophic backtracking")
    with page.expect_navigation():
        page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator("#field-custom .error")).to_contain_text("catastrophic backtracking")
    assert not RedactionRuleSet.objects.exists()

    page.fill("textarea[name=custom]", "account: \\bACCT-\\d{6}\\b")
    with page.expect_navigation():
        page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator(".messages")).to_contain_text("Redaction rules v1 saved")
    expect(page.locator("[data-version]")).to_contain_text("Version 1 in force")
    rule_set = RedactionRuleSet.objects.get(project=project)
    assert rule_set.builtins == ["email", "phone", "card", "iban"] and rule_set.phone_region == "GB"
    assert errors == []
