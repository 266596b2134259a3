"""A real chromium: a lead creates a queue through the form, previews its rule, and publishes a rubric version."""

import pytest
from playwright.sync_api import expect

from labeling.models import Membership, Queue, Rubric
from labeling.services.rubrics import publish_rubric
from tests.factories import OutputFactory
from tests.helpers.browser import sign_in
from tests.helpers.rubrics import BINARY

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_lead_creates_a_queue_and_sees_it_listed(page, live_server, lead, expert, other_expert, project):
    OutputFactory.create_batch(3, project=project, tags=["billing"])
    OutputFactory.create_batch(2, project=project, tags=["shipping"])
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/manage/queues/")
    with page.expect_navigation():  # until the page has loaded, lead.js may not suggest the slug yet
        page.get_by_role("link", name="New queue").click()
    page.fill("input[name=name]", "Billing complaints")
    assert page.input_value("input[name=slug]") == "billing-complaints"  # suggested by lead.js
    page.fill("input[name=tags_any]", "billing, refunds")
    # The live preview (lead.js) counts this week's outputs for the rule being typed.
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#rule-preview [data-count=matched]")).to_have_text("3")
    expect(page.locator("#rule-preview [data-count=outputs]")).to_have_text("5")
    page.fill("textarea[name=metadata]", "locale=en-GB|de-DE")
    page.check("input[name=feedback_scores][value='-1']")
    page.fill("input[name=sample_rate]", "1")
    page.fill("input[name=weekly_quota]", "25")
    page.fill("input[name=overlap]", "3")
    page.fill("input[name=priority]", "4")
    page.get_by_label("erin").check()

    with page.expect_navigation():
        page.get_by_role("button", name="Create queue").click()
    assert "Billing complaints" in page.locator("h1").inner_text()
    assert "created" in page.locator(".messages").inner_text()
    assert page.get_by_role("button", name="Backfill this week's outputs").is_visible()

    with page.expect_navigation():
        page.locator(".tabs").get_by_role("link", name="Queues").click()
    row = page.locator("tr[data-queue=billing-complaints]")
    assert "Billing complaints" in row.inner_text()
    assert "tags any of billing, refunds" in row.inner_text()
    assert "of 25 items" in row.inner_text()
    assert "erin" in row.inner_text() and "ezra" not in row.inner_text()
    queue = Queue.objects.get(slug="billing-complaints")
    assert queue.rule == {"tags_any": ["billing", "refunds"], "metadata": {"locale": ["en-GB", "de-DE"]},
                          "feedback_scores": [-1]}  # fmt: skip
    assert (queue.weekly_quota, queue.overlap, queue.priority) == (25, 3, 4)
    assert errors == []


def test_a_lead_publishes_a_rubric_version_and_sees_both(page, live_server, lead, project):
    # One question, so that the version this test publishes can add a second (`tone`).
    publish_rubric(project=project, questions=[BINARY], guidelines="Be **kind**.")
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/manage/rubric/")
    assert page.locator(".guidelines strong").inner_text() == "kind"
    questions = page.locator("textarea[name=questions]")
    assert "key: correct" in questions.input_value()
    questions.fill(questions.input_value() + "- key: tone\n  kind: choice\n  prompt: Tone?\n  options: [warm, cold]\n")
    page.fill("textarea[name=guidelines]", "Be **kind** and *brief*.")
    with page.expect_navigation():
        page.get_by_role("button", name="Publish new version").click()

    assert "Rubric v2 published" in page.locator(".messages").inner_text()
    versions = page.locator("table.versions tbody tr")
    assert versions.count() == 2
    assert versions.nth(0).get_attribute("data-version") == "2"
    assert versions.nth(1).get_attribute("data-version") == "1"
    assert page.locator(".guidelines em").inner_text() == "brief"
    assert [r.version for r in Rubric.objects.filter(project=project)] == [2, 1]
    assert len(Rubric.objects.get(project=project, version=2).questions) == 2


def test_an_expert_cannot_open_the_lead_screens(page, live_server, expert, project):
    sign_in(page, live_server, "erin")
    response = page.goto(f"{live_server.url}/p/{project.slug}/manage/queues/")
    assert response.status == 404


def test_the_live_preview_counts_the_answers_holding_a_typed_phrase(page, live_server, lead, project):
    OutputFactory.create_batch(2, project=project, output="Your refund will ARRIVE by 14 March.")
    OutputFactory.create_batch(3, project=project, output="Your refund is on its way.")
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/manage/queues/new")
    expect(page.locator("#rule-preview [data-count=matched]")).to_have_text("5")

    page.fill("textarea[name=text_any]", "refund will arrive")  # no click: lead.js previews as the lead types

    expect(page.locator("#rule-preview [data-count=matched]")).to_have_text("2")
    # Each example shows the phrase that matched, marked, and links to its output.
    expect(page.locator("#rule-preview .preview-examples mark")).to_have_text(["refund will ARRIVE"] * 2)
    expect(page.locator("#rule-preview .preview-examples a.example-link")).to_have_count(2)


def test_only_the_newest_preview_is_shown_and_older_requests_are_cancelled(page, live_server, lead, project):
    OutputFactory.create_batch(3, project=project, tags=["billing"])
    OutputFactory.create_batch(2, project=project, tags=["shipping"])
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/manage/queues/new")
    expect(page.locator("#rule-preview [data-count=outputs]")).to_have_text("5")
    held, failed = [], []
    page.on("requestfailed", lambda request: failed.append((request.url, request.failure or "")))

    def hold_billing(route):
        # A slow answer for the first rule typed: it is still in flight when the lead types the next.
        if "tags_any=billing" in route.request.url:
            held.append(route)
        else:
            route.continue_()

    page.route("**/manage/queues/preview?*", hold_billing)
    page.fill("input[name=tags_any]", "billing")
    page.get_by_role("button", name="Preview").click()
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the first preview was never asked for"
    page.fill("input[name=tags_any]", "shipping")
    page.get_by_role("button", name="Preview").click()

    expect(page.locator("#rule-preview [data-count=matched]")).to_have_text("2")
    for route in held:  # the stale answer arrives late, if at all: it must not replace the newer one
        try:
            route.continue_()
        except Exception:  # noqa: BLE001 — the page already cancelled it
            pass
    page.wait_for_timeout(500)
    expect(page.locator("#rule-preview [data-count=matched]")).to_have_text("2")
    assert any("tags_any=billing" in url and "ABORTED" in failure.upper() for url, failure in failed), failed


def test_a_lead_demoted_while_editing_sees_why_the_preview_is_refused_not_a_page_in_the_box(
    page, live_server, lead, project
):
    """The preview's refusal (a 404 page, as to any role that does not manage queues) is a whole page: the box says
    the preview could not be loaded and why, without the page's navigation."""
    OutputFactory.create_batch(2, project=project, tags=["billing"])
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/manage/queues/new")
    expect(page.locator("#rule-preview [data-count=outputs]")).to_have_text("2")

    Membership.objects.filter(user=lead, project=project).update(role="expert")
    page.fill("input[name=tags_any]", "billing")

    preview = page.locator("#rule-preview")
    expect(preview).to_have_text(
        "The preview could not be loaded. Only the project's leads and admins manage its queues."
    )
    expect(preview.locator("nav, header, h1, a")).to_have_count(0)
