"""A real chromium, onboarding a second team in minutes: a staff lead of one project lands on it when signing in,
creates a project by copying it (picking the project chooses "copy"), sees the getting-started list with the curl
line to paste, and the home page then shows both projects."""

import pytest

from labeling.models import Membership, Project, Queue, Rubric
from labeling.services.queues import QueueValues, create_queue
from tests.factories import MembershipFactory, UserFactory
from tests.helpers.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_staff_lead_copies_a_project_follows_the_checklist_and_sees_both_at_home(page, live_server, project, rubric):
    stella = UserFactory(username="stella", is_staff=True)
    MembershipFactory(project=project, user=stella, role="lead")
    create_queue(project=project, values=QueueValues(slug="refunds", name="Refunds", weekly_quota=20, overlap=2))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))

    sign_in(page, live_server, "stella")
    assert page.url.endswith("/p/support-bot/")  # her one project

    with page.expect_navigation():  # until the page has loaded, projects.js may not suggest the slug yet
        page.get_by_role("link", name="New project").click()
    page.get_by_label("Name").fill("Support bot DE")
    assert page.input_value("input[name=slug]") == "support-bot-de"
    page.get_by_label("Project to copy").select_option(label="Support bot")
    assert page.get_by_role("radio", name="Copy the rubric and queues of …").is_checked()  # projects.js chose it
    with page.expect_navigation():
        page.get_by_role("button", name="Create project").click()

    assert page.url.endswith("/p/support-bot-de/")
    checklist = page.locator("#getting-started")
    assert "2 of 6 done" in checklist.inner_text()  # the copied rubric and queue
    assert checklist.locator("li.done").evaluate_all("items => items.map(item => item.dataset.step)") == [
        "rubric",
        "queue",
    ]
    curl = page.locator("#ingest-curl").inner_text()
    assert curl.startswith(f"curl -sS {live_server.url}/api/v1/outputs") and "support-bot-de:first-1" in curl
    assert f"OTEL_EXPORTER_OTLP_ENDPOINT={live_server.url}/api/v1/otel" in page.locator("#ingest-otel").inner_text()
    assert (
        checklist.get_by_role("link", name="ingest key (create one)").get_attribute("href") == "/p/support-bot-de/keys/"
    )
    copy = Project.objects.get(slug="support-bot-de")
    assert Rubric.objects.get(project=copy).questions == rubric.questions
    assert list(Queue.objects.filter(project=copy).values_list("slug", "weekly_quota", "overlap")) == [
        ("refunds", 20, 2)
    ]
    assert Membership.objects.get(project=copy).user == stella

    with page.expect_navigation():
        page.get_by_role("link", name="expertloop").click()
    assert page.url == f"{live_server.url}/"
    cards = page.locator("section.home-project")
    assert cards.evaluate_all("cards => cards.map(card => card.dataset.project)") == ["support-bot", "support-bot-de"]
    assert "to adjudicate" in cards.first.inner_text().lower() and "Refunds" in cards.last.inner_text()
    assert errors == []
