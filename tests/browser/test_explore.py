"""A real chromium: a lead searches the outputs, narrows by a tag and a metadata value (a facet fetched by
explore.js), reads a conversation, saves the view, adds five results to a queue, and an expert gets them."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone
from playwright.sync_api import expect

from labeling.models import Item, Queue, SavedView
from labeling.services.search_index import index_outputs
from tests.factories import OutputFactory
from tests.helpers.browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def outputs_worth_finding(project):
    """Eight refund promises in English (two sessions of four turns), and near misses the filters leave out."""
    now = timezone.now()
    made = []
    for n in range(8):
        made.append(
            OutputFactory(project=project, external_id=f"promise-{n}", occurred_at=now - timedelta(minutes=n),
                          session_id=f"chat-{n // 4}", tags=["billing"], metadata={"locale": "en-GB"},
                          input=[{"role": "user", "content": f"Where is my refund? (turn {n})"}],
                          output=f"Your refund will arrive by {n + 10} March.")
        )  # fmt: skip
    made.append(OutputFactory(project=project, external_id="german", tags=["billing"], metadata={"locale": "de-DE"},
                              output="Ihre refund kommt bald."))  # fmt: skip
    made.append(OutputFactory(project=project, external_id="shipping", tags=["shipping"],
                              metadata={"locale": "en-GB"}, output="No refund: the parcel ships Friday."))  # fmt: skip
    made.append(OutputFactory(project=project, external_id="unrelated", tags=["billing"],
                              metadata={"locale": "en-GB"}, output="Your invoice is attached."))  # fmt: skip
    index_outputs(project_id=project.pk, output_ids=[output.pk for output in made])


def test_a_lead_finds_outputs_saves_the_view_and_sends_five_to_an_expert(
    browser, page, live_server, lead, expert, project, rubric
):
    queue = Queue.objects.create(project=project, slug="refunds", name="Refunds", overlap=1)
    outputs_worth_finding(project)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/")
    with page.expect_navigation():
        page.get_by_role("link", name="Explore outputs").click()
    page.fill("input[name=q]", "refund")
    with page.expect_navigation():
        page.get_by_role("button", name="Search", exact=True).click()
    assert page.url.endswith("/explore/?q=refund")  # the canonical filter, without the bar's empty fields
    expect(page.locator("#total")).to_have_text("10 outputs")
    expect(page.locator(".result mark").first).to_have_text("refund")

    page.locator(".filter-more summary").click()
    page.fill("#f-tag", "billing")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#total")).to_have_text("9 outputs")
    # The facets arrive after the list (explore.js); the locale value adds the metadata filter.
    facet = page.locator("#explore-summary .facet[data-facet=locale]").get_by_role("link", name="en-GB")
    expect(facet).to_be_visible()
    with page.expect_navigation():
        facet.click()
    assert "meta=locale%3Aen-GB" in page.url and "tag=billing" in page.url
    expect(page.locator("#total")).to_have_text("8 outputs")
    expect(page.locator(".filter-chip")).to_have_count(3)
    expect(page.locator("#explore-charts svg").first).to_be_visible()

    filtered = page.url
    with page.expect_navigation():
        page.locator(".result[data-output=promise-0] .session-link").click()
    expect(page.locator("h1")).to_contain_text("chat-0")
    expect(page.locator(".turn")).to_have_count(4)
    assert page.locator(".turn").first.get_attribute("data-output") == "promise-3"  # oldest first
    page.go_back()
    assert page.url == filtered

    page.fill("#view-name", "Refund date promises")
    with page.expect_navigation():
        page.get_by_role("button", name="Save this view").click()
    expect(page.locator(".messages")).to_contain_text("Saved the view “Refund date promises”")
    saved_list = page.locator(".saved-view-list")
    expect(saved_list.get_by_role("link", name="Refund date promises", exact=True)).to_be_visible()
    assert SavedView.objects.get().query == "q=refund&tag=billing&meta=locale%3Aen-GB"

    picked = ["promise-0", "promise-1", "promise-2", "promise-5", "promise-7"]
    for external_id in picked:
        page.locator(f".result[data-output={external_id}] input[name=output]").check()
    page.select_option("#add-queue", "refunds")
    with page.expect_navigation():
        page.get_by_role("button", name="Add selected").click()
    expect(page.locator(".messages")).to_contain_text("5 outputs added to Refunds")
    assert page.url == filtered
    assert sorted(Item.objects.filter(queue=queue).values_list("output__external_id", flat=True)) == picked
    assert errors == []

    expert_page = browser.new_context().new_page()
    sign_in(expert_page, live_server, "erin")
    expert_page.goto(f"{live_server.url}/p/{project.slug}/")
    card = expert_page.locator("section.queue-card[data-queue=refunds]")
    expect(card.locator(".stat-waiting")).to_have_text("5")
    with expert_page.expect_navigation():
        card.get_by_role("button", name="Start labeling").click()
    expect(expert_page.locator(".ai-output")).to_contain_text("Your refund will arrive by")
    expert_page.context.close()


def test_the_counts_say_so_when_the_session_ended_or_the_server_failed_instead_of_showing_its_page(
    page, live_server, lead, project
):
    """explore.js put whatever the summary request answered into the side panel: after the session ended, the sign-in
    page (a form inside the explore page); on a proxy's 502, its error page. It now says what happened, with a link."""
    outputs_worth_finding(project)
    sign_in(page, live_server, "lena")

    def session_ends(route):
        Session.objects.all().delete()  # as when it expired: the request still carries the cookie
        route.continue_()

    page.route("**/explore/summary*", session_ends)
    page.goto(f"{live_server.url}/p/{project.slug}/explore/?q=refund")
    expect(page.locator("#explore-summary .error")).to_have_text(
        "Your session has ended: sign in again to see the counts."
    )
    expect(page.locator("#explore-summary input[name=password]")).to_have_count(0)
    with page.expect_navigation():
        page.locator("#explore-summary").get_by_role("link", name="sign in again").click()
    assert "/login/" in page.url

    sign_in(page, live_server, "lena")
    page.unroute("**/explore/summary*")
    page.route("**/explore/summary*", lambda route: route.fulfill(status=502, body="<h1>502 Bad Gateway</h1>"))
    page.goto(f"{live_server.url}/p/{project.slug}/explore/?q=refund")
    expect(page.locator("#explore-summary .error")).to_contain_text("The counts could not be loaded (error 502)")
    expect(page.locator("#explore-summary h1")).to_have_count(0)
    expect(page.locator("#explore-summary").get_by_role("link", name="open them as a page")).to_be_visible()
