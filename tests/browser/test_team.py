"""A real chromium, the whole team story without the Django admin: a lead creates a project and invites an
expert; the expert opens the emailed link, sets a password, lands on the project and labels; the lead changes
the expert's role, then removes them; the expert's next request is refused and the item they held is free."""

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from playwright.sync_api import expect

from labeling.models import Invitation, Label, Membership, Project, Queue, Slot, SlotState
from tests.factories import UserFactory
from tests.helpers.browser import PATIENCE_MS, sign_in
from tests.helpers.labeling import make_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_lead_builds_a_team_and_a_removed_expert_loses_access_at_once(browser, page, live_server):
    UserFactory(username="lena", is_staff=True)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, live_server, "lena")

    # The lead creates the project, one pass/fail question from scratch.
    with page.expect_navigation():  # until the page has loaded, projects.js may not suggest the slug yet
        page.get_by_role("link", name="New project").first.click()
    page.get_by_label("Name").fill("Refund assistant")
    page.get_by_role("radio", name="From scratch").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Create project").click()
    project = Project.objects.get(slug="refund-assistant")
    assert Membership.objects.get(project=project, user__username="lena").role == "lead"
    queue = Queue.objects.create(project=project, slug="all", name="All answers")
    make_items(project, 3)

    # ... and invites an expert by email, from the getting-started list of the project's page it landed on.
    page.locator("#getting-started").get_by_role("link", name="Invite an expert").click()
    page.get_by_label("Email").fill("erin@example.com")
    page.get_by_label("Role").last.select_option("expert")
    with page.expect_navigation():
        page.get_by_role("button", name="Send invitation").click()
    assert page.locator("tr[data-invitation='erin@example.com']").is_visible()
    (invitation_mail,) = mail.outbox
    assert invitation_mail.to == ["erin@example.com"]
    link = re.search(r"https?://\S+/invitations/\S+", invitation_mail.body).group(0)

    # The expert opens the link in their own browser, chooses a password and lands on the project.
    expert_context = browser.new_context()
    expert = expert_context.new_page()
    expert.set_default_timeout(PATIENCE_MS)
    expert.goto(live_server.url + urlsplit(link).path)
    assert "Refund assistant" in expert.content()
    expert.get_by_label("Username").fill("erin")
    expert.get_by_label("Password", exact=True).fill("a long Pass phrase 7")
    expert.get_by_label("Password again").fill("a long Pass phrase 7")
    with expert.expect_navigation():
        expert.get_by_role("button", name="Create account and join").click()
    assert expert.url.endswith(f"/p/{project.slug}/")
    assert Invitation.objects.get(email="erin@example.com").accepted_at is not None

    # ... and labels an item with the keyboard; submitting leases the next one.
    with expert.expect_navigation():
        expert.locator(f"form[action$='/q/{queue.slug}/next'] button").click()
    expert.keyboard.press("y")
    expert.keyboard.press("Enter")  # label.js swaps the next item's screen in: no page load to wait for
    expect(expert.locator(".messages")).to_contain_text("Label saved")
    assert Label.objects.filter(expert__username="erin", item__project=project).count() == 1
    held = Slot.objects.get(expert__username="erin", state=SlotState.LEASED)

    # The lead changes the expert's role, then removes them.
    page.reload()
    row = page.locator("tr", has_text="erin").first
    row.get_by_role("combobox").select_option("engineer")
    with page.expect_navigation():
        row.get_by_role("button", name="Change").click()
    assert Membership.objects.get(project=project, user__username="erin").role == "engineer"
    row = page.locator("tr", has_text="erin").first
    row.locator("summary").click()
    with page.expect_navigation():
        row.get_by_role("button", name="Remove erin").click()
    assert not Membership.objects.filter(project=project, user__username="erin").exists()

    # The expert's next request is refused, the item they held is free, their label stays.
    response = expert.goto(expert.url)
    assert response.status == 404
    held.refresh_from_db()
    assert held.state == SlotState.FREE and held.expert_id is None
    assert Label.objects.filter(expert__username="erin", item__project=project).count() == 1
    assert errors == []
    expert_context.close()
