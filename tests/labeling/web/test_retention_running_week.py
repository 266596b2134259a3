"""The week-1 retention of the running week's headline cohort: its week 1 is the running week, so the figure is partial
("so far", until the week ends) on the meeting page, in report.md and in the API (`complete: false`), and is compared
with no complete cohort; the mean of the last cohorts leaves out cells stored while their week ran. Time is pinned to
Monday 2026-12-07 10:00 UTC, hours into 2026-W50: the figures do not depend on the real clock."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.models import CycleStatus, RetentionCell, ReviewCycle
from labeling.selectors.report import build_report
from tests.conftest import Api

MONDAY_10 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
W50 = date(2026, 12, 7)  # the running week at MONDAY_10
W49 = W50 - timedelta(weeks=1)
PARTIAL = "A partial figure, so far: its week 1 runs until 2026-12-14 00:00 UTC: not compared with complete cohorts"


@pytest.fixture(autouse=True)
def pinned(project, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: MONDAY_10)
    project.created_at = MONDAY_10 - timedelta(weeks=104)
    project.save(update_fields=["created_at"])


def store(project, cohort_week, offset, users, active, *, incomplete=False):
    RetentionCell.objects.create(
        project=project, segment="all", cohort_week=cohort_week, offset=offset, cohort_users=users,
        active_on=active, active_on_or_after=active, incomplete=incomplete,
    )  # fmt: skip


@pytest.fixture
def refreshed_at_nine(project):
    """The cells as the hourly refresh of 09:00 stored them: 7 cohorts before W49 at 50% in week 1, W49's week 1 (the
    running W50) 11 of 32 so far, W50's cohort at week 0."""
    for age in range(2, 9):
        store(project, W50 - timedelta(weeks=age), 0, 50, 50)
        store(project, W50 - timedelta(weeks=age), 1, 50, 25)
    store(project, W49, 0, 32, 32)
    store(project, W49, 1, 32, 11, incomplete=True)
    store(project, W50, 0, 20, 20, incomplete=True)


def tile(response, key):
    return next(tile for tile in response.context["tiles"] if tile["key"] == key)


def test_the_running_weeks_page_says_week1_retention_is_partial_and_gives_no_verdict(
    client, lead, project, refreshed_at_nine
):
    client.force_login(lead)
    response = client.get(reverse("labeling:meeting-week", args=[project.slug, "2026-W50"]))

    assert response.status_code == 200
    comparison = tile(response, "retention-comparison")
    assert comparison["value"] == "34.4% so far"
    assert PARTIAL in comparison["detail"]
    assert "Below" not in comparison["detail"] and "within" not in comparison["detail"]
    assert "its week 1 runs until 2026-12-14 00:00 UTC" in tile(response, "retention")["detail"]
    assert tile(response, "retention")["value"].endswith(" so far")
    assert PARTIAL in response.content.decode()


def test_the_markdown_export_says_it_too(client, lead, project, refreshed_at_nine):
    client.force_login(lead)
    text = client.get(reverse("labeling:meeting-markdown", args=[project.slug, "2026-W50"])).content.decode()

    rows = [line for line in text.splitlines() if line.startswith("| Week-1 retention")]
    assert len(rows) == 2
    assert "(so far: its week 1 runs until 2026-12-14 00:00 UTC)" in rows[0]
    assert PARTIAL in rows[1] and "Below" not in rows[1]


def test_the_api_marks_it_incomplete_with_no_verdicts(client, read_key, project, refreshed_at_nine):
    reader = Api(client, read_key.secret)
    running = reader.get("/api/v1/cycles/2026-W50/report").json()["headline"]["retention_week1"]
    ended = reader.get("/api/v1/cycles/2026-W49/report").json()["headline"]["retention_week1"]

    assert (running["complete"], running["ends_at"]) == (False, "2026-12-14T00:00:00Z")
    assert running["all"] == {"rate": 11 / 32, "returned": 11, "users": 32}  # the existing fields, as they were
    assert running["comparison"]["past"]["verdict"] is None
    assert running["comparison"]["past"]["cohorts"] == 7
    # Last week's report: its cohort (W48) had its week 1 in W49, over and stored after it ended.
    assert (ended["complete"], ended["ends_at"]) == (True, "2026-12-07T00:00:00Z")
    assert ended["comparison"]["past"]["verdict"] == "within"


def test_the_mean_of_the_last_cohorts_leaves_out_a_cell_stored_while_its_week_ran(client, read_key, project):
    """The refresh has not run since Sunday: W48's week-1 cell (W49) was stored while W49 ran, with its returns so far.
    W49 is over, but the stored figure is partial: last week's cohort is not final, and no mean counts it."""
    for age in range(3, 9):
        store(project, W50 - timedelta(weeks=age), 0, 50, 50)
        store(project, W50 - timedelta(weeks=age), 1, 50, 25)
    store(project, W50 - timedelta(weeks=2), 0, 50, 50)
    store(project, W50 - timedelta(weeks=2), 1, 50, 2, incomplete=True)
    store(project, W49, 0, 32, 32, incomplete=True)
    reader = Api(client, read_key.secret)

    running = reader.get("/api/v1/cycles/2026-W50/report").json()["headline"]["retention_week1"]
    past = running["comparison"]["past"]
    assert (past["cohorts"], past["returned"], past["users"]) == (6, 150, 300)

    ended = reader.get("/api/v1/cycles/2026-W49/report").json()["headline"]["retention_week1"]
    assert ended["comparison"]["past"]["verdict"] is None and ended["complete"] is False


def test_a_report_closed_after_its_week_ended_is_final_and_a_frozen_one_is_served_as_frozen(
    client, lead, project, refreshed_at_nine
):
    # A close runs from the end of the week on (services.cycles.close_week refuses earlier) and refreshes the cells
    # first: W48's week 1 (W49) is final then, with a verdict.
    report = build_report(project=project, week=W49, status=CycleStatus.CLOSED, now=timezone.now())
    assert report["headline"]["retention_week1"]["complete"] is True
    assert report["headline"]["retention_week1"]["comparison"]["past"]["verdict"] == "within"
    # A report frozen before `complete` existed reads as final, its verdicts as they were frozen.
    del report["headline"]["retention_week1"]["complete"]
    report["headline"]["retention_week1"]["comparison"]["past"]["verdict"] = "below"
    ReviewCycle.objects.create(project=project, week=W49, status=CycleStatus.CLOSED, report=report)
    client.force_login(lead)

    response = client.get(reverse("labeling:meeting-week", args=[project.slug, "2026-W49"]))

    detail = tile(response, "retention-comparison")["detail"]
    assert "Below the mean of the last 6 cohorts" in detail and "so far" not in detail
