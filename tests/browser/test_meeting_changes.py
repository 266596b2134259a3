"""A real chromium: the meeting page's "What changed" list and failure themes, computed by the hourly refresh's own
service, open the explore page on exactly the outputs they describe; hostile text in a slice name and in a failing
output stays text."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from labeling.models import FailureTheme, FailureThemeOutput, Output, week_label
from labeling.rules import calendar
from labeling.services import cycles
from tests.factories import OutputFactory
from tests.helpers.browser import sign_in
from tests.helpers.changes import add_outputs
from tests.helpers.themes import planted_corpus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOSTILE_MODEL = '<img src=x onerror="window.pwned=1">gpt-next'
HOSTILE_TEXT = "<script>window.pwned=2</script> refund money bank charge policy days"


@pytest.fixture
def changed_week(project, lead):
    """Four plain weeks, then a week with a new model thumbed down far more often than anything before it, and
    thumbs-down answers of three kinds; its figures recomputed as the hourly refresh does."""
    week = calendar.current_week(project) - timedelta(days=7)
    for offset in range(1, 5):
        add_outputs(project, week - timedelta(weeks=offset), 300, rated=200, down=20, model="gpt")
    add_outputs(project, week, 300, rated=200, model="gpt")
    add_outputs(project, week, 100, rated=80, down=28, model=HOSTILE_MODEL)
    documents, _ = planted_corpus(21, {"refund": 16, "tracking": 12, "account": 10})  # each theme on one page
    start = calendar.week_start(project, week)
    for n, (_, text) in enumerate(documents):
        OutputFactory(project=project, external_id=f"fail-{n:03d}", occurred_at=start + timedelta(hours=n),
                      feedback_score=-1, model="gpt", output=HOSTILE_TEXT if n == 0 else text)  # fmt: skip
    cycles.refresh_metrics(project=project, week=week)
    return week


def results(page) -> set[str]:
    return set(page.locator("li.result").evaluate_all("items => items.map(item => item.dataset.output)"))


@pytest.mark.postgres  # its search snippet is PostgreSQL's headline (SQLite shows the text as stored)
def test_a_lead_follows_what_changed_and_a_failure_theme_to_their_outputs(page, live_server, project, changed_week):
    label = week_label(changed_week)
    sign_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/p/{project.slug}/meeting/{label}/")

    changes = page.locator("#what-changed li.change-entry")
    new_rate = changes.filter(has=page.locator("xpath=self::*[@data-kind='new_slice_thumbs_down']"))
    expect(new_rate).to_have_count(1)
    expect(new_rate).to_contain_text(f"Thumbs-down rate of model {HOSTILE_MODEL} (new this week): 35.0%")
    expect(changes.filter(has=page.locator("xpath=self::*[@data-kind='new_slice']"))).to_have_count(1)

    with page.expect_navigation():
        new_rate.get_by_role("link").click()
    expect(page.locator("li.result").first).to_be_visible()
    thumbed_down = Output.objects.filter(project=project, model=HOSTILE_MODEL, feedback_score=-1)
    assert results(page) == set(thumbed_down.values_list("external_id", flat=True)) and len(results(page)) == 28
    page.go_back()

    themes = page.locator("#failure-themes li.theme")
    stored = FailureTheme.objects.filter(project=project, week=changed_week).count()
    assert stored >= 3  # the three planted kinds (and the new model's terse answers)
    expect(themes).to_have_count(stored)
    first = themes.first
    size = int(first.get_attribute("data-size"))
    with page.expect_navigation():
        first.get_by_role("link", name=f"Open all {size} in explore").click()
    members = FailureThemeOutput.objects.filter(theme__project=project, theme__week=changed_week, theme__rank=1)
    expect(page.locator("li.result")).to_have_count(size)
    assert results(page) == set(members.values_list("output__external_id", flat=True))

    page.goto(f"{live_server.url}/p/{project.slug}/explore/?q=fail-000")  # the hostile failing output: its tags dropped
    expect(page.locator("li.result .result-text")).to_contain_text("window.pwned=2 refund money")
    assert page.evaluate("window.pwned") is None  # neither the model name nor the output ran
