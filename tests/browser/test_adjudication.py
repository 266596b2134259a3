"""A real chromium: a lead settles a tie on the adjudication screen, then builds a dataset that holds it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from labeling.models import Dataset, DatasetVersion, Queue, Resolution, ResolutionStatus
from labeling.rules.gold import gold_answers
from labeling.services.version_files import render_version_files, sweep_superseded_files
from labeling.tasks import build_dataset
from tests.helpers.browser import sign_in
from tests.helpers.labeling import TIE_WITH_FIX, label_outputs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.redis  # the files are a worker's to render ("preparing…"); eager Celery renders them at once
def test_a_lead_settles_a_tie_and_builds_a_dataset_with_it(
    page, live_server, lead, expert, other_expert, project, rubric, settings
):
    Queue.objects.create(project=project, slug="all", name="All answers", overlap=2)
    texts = [f"Your parcel **{index}** arrives Friday." for index in range(2)]
    item, other = label_outputs(
        project, 2, answers=TIE_WITH_FIX, experts=[expert, other_expert], queue="all", texts=texts
    )
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/manage/adjudication/")
    expect(page.locator("#waiting-count")).to_have_text("2 waiting")
    row = page.locator(f"tr[data-item='{item.pk}']")
    expect(row).to_contain_text("Is the answer correct?")
    with page.expect_navigation():
        row.get_by_role("link", name="Decide").click()

    # Both experts, by name, side by side, with what each said; the AI answer as sanitised Markdown.
    question = page.locator("#question-correct")
    expect(question.locator(".answer[data-expert=erin]")).to_contain_text("Yes")
    expect(question.locator(".answer[data-expert=ezra]")).to_contain_text("No")
    expect(question.locator(".auto")).to_contain_text("Tie")
    expect(page.locator(".ai-output strong")).to_have_text("0")
    erin_box, ezra_box = question.locator(".answer[data-expert=erin]"), question.locator(".answer[data-expert=ezra]")
    assert erin_box.bounding_box()["y"] == ezra_box.bounding_box()["y"]  # side by side, not stacked
    expect(page.locator("#question-fix .answer[data-expert=ezra]")).to_contain_text("It arrives on Monday.")

    question.locator("label.pill", has_text="No").click()
    page.locator("#question-fix label.pick", has_text="Use ezra's text").click()
    page.fill("#adjudication-note", "The carrier's tracking says Monday.")
    with page.expect_navigation():
        page.get_by_role("button", name="Record gold answer").click()

    expect(page.locator(".messages")).to_contain_text(f"Gold answer of item {item.pk} recorded.")
    expect(page.locator(f".adjudication-list tr[data-item='{item.pk}']")).to_have_count(0)
    expect(page.locator(f".adjudication-list tr[data-item='{other.pk}']")).to_have_count(1)
    expect(page.locator("#waiting-count")).to_have_text("1 waiting")
    expect(page.locator(f".recent-decisions tr[data-item='{item.pk}']")).to_contain_text(
        "The carrier's tracking says Monday."
    )
    resolution = Resolution.objects.get(item=item)
    assert resolution.status == ResolutionStatus.RESOLVED
    assert gold_answers(resolution.automatic, resolution.adjudicated) == {
        "correct": False,
        "fix": "It arrives on Monday.",
    }

    # Datasets: create one, build it, see version 1 with the settled item as its only row.
    with page.expect_navigation():
        page.locator(".tabs").get_by_role("link", name="Datasets").click()
    with page.expect_navigation():
        page.get_by_role("link", name="New dataset").click()
    page.fill("input[name=name]", "Parcel answers")
    page.get_by_label("All answers").check()
    expect(page.locator("input[name=only_resolved]")).to_be_checked()
    page.fill("input[name=splits]", "train=50, test=50")
    with page.expect_navigation():
        page.get_by_role("button", name="Create dataset").click()
    expect(page.locator("h1")).to_have_text("Parcel answers")
    expect(page.locator(".messages")).to_contain_text("created")

    with page.expect_navigation():
        page.get_by_role("button", name="Build now").click()
    expect(page.locator(".messages")).to_contain_text("requested")
    # No worker runs in browser tests (without REDIS_URL, eager Celery has already built it): build as a worker would.
    dataset = Dataset.objects.get(slug="parcel-answers")
    build_dataset.apply(args=[dataset.pk])
    page.reload()
    version = page.locator(".versions tr[data-version='1']")
    expect(version).to_contain_text("ready")
    expect(version.locator("[data-rows]")).to_have_text("1")
    expect(version.locator(".downloads a", has_text="JSONL")).to_have_attribute(
        "href", f"/api/v1/projects/{project.slug}/datasets/parcel-answers/versions/1/download?format=jsonl"
    )
    expect(page.locator(".building-note")).to_have_count(0)

    # The Parquet and hf files are the worker's to render: "preparing…" until then, and the page refreshes itself.
    expect(version.locator(".downloads .preparing[data-format='parquet']")).to_have_text("PARQUET preparing…")
    render_version_files(version_id=DatasetVersion.objects.get(dataset=dataset, number=1).pk)
    expect(version.locator(".downloads a", has_text="PARQUET")).to_be_visible(timeout=15_000)  # no reload of ours
    expect(page.locator("[data-building]")).to_have_count(0)

    # Two weeks on, superseded and never downloaded, its files are swept to save disk: "Prepare" makes one again.
    settings.DATASET_FILES_KEEP_LATEST = 0
    sweep_superseded_files(now=timezone.now() + timedelta(days=settings.DATASET_FILES_KEEP_DAYS + 1))
    page.reload()
    expect(version.locator(".downloads a", has_text="PARQUET")).to_have_count(0)
    expect(page.locator("[data-building]")).to_have_count(0)  # nothing to wait for: the page does not ask for it
    with page.expect_navigation():
        version.get_by_role("button", name="Prepare PARQUET").click()
    expect(page.locator(".messages")).to_contain_text("The parquet file of v1 is being prepared")
    expect(version.locator(".downloads .preparing[data-format='parquet']")).to_have_text("PARQUET preparing…")
    expect(version.get_by_role("button", name="Prepare HF")).to_be_visible()
    render_version_files(version_id=DatasetVersion.objects.get(dataset=dataset, number=1).pk)
    expect(version.locator(".downloads a", has_text="PARQUET")).to_be_visible(timeout=15_000)
    assert errors == []
