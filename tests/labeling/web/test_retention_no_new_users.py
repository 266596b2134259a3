"""A week whose cohort is empty (every end user active in it had been seen before: a team using the tool every week,
as the demo's analysts and support agents do) has no week-1 retention to measure: the meeting page says so, rather
than "— vs — so far" and "has no users yet". Retention counts outputs as activity, as usage events (README, Retention
of end users): a project that sends no events still has cohorts. Time is pinned to Monday 2026-12-07 10:00 UTC, hours
into 2026-W50."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from labeling.models import RetentionCell

MONDAY_10 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
W50 = date(2026, 12, 7)
NO_NEW_USERS = (
    "No new end users in 2026-W49 (all those active then had been seen before): no week-1 retention to measure"
)


@pytest.fixture(autouse=True)
def pinned(project, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: MONDAY_10)
    project.created_at = MONDAY_10 - timedelta(weeks=104)
    project.save(update_fields=["created_at"])


@pytest.fixture
def one_early_cohort(project):
    """Twelve users first seen eight weeks ago, every one of them back each week since; no cohort after it."""
    first = W50 - timedelta(weeks=8)
    for offset in range(9):
        RetentionCell.objects.create(
            project=project, segment="all", cohort_week=first, offset=offset, cohort_users=12, active_on=12,
            active_on_or_after=12, incomplete=offset == 8,
        )  # fmt: skip


def tile(response, key):
    return next(tile for tile in response.context["tiles"] if tile["key"] == key)


def test_an_empty_cohort_is_said_to_have_no_new_users_not_dashes_so_far(client, lead, project, one_early_cohort):
    client.force_login(lead)
    response = client.get(reverse("labeling:meeting-week", args=[project.slug, "2026-W50"]))

    assert response.status_code == 200
    retention, comparison = tile(response, "retention"), tile(response, "retention-comparison")
    assert retention["value"] == "—" and comparison["value"] == "—"
    assert NO_NEW_USERS in retention["detail"] and NO_NEW_USERS in comparison["detail"]
    assert "has no users yet" not in response.content.decode()


def test_the_markdown_export_says_it_too(client, lead, project, one_early_cohort):
    client.force_login(lead)
    text = client.get(reverse("labeling:meeting-markdown", args=[project.slug, "2026-W50"])).content.decode()

    rows = [line for line in text.splitlines() if line.startswith("| Week-1 retention")]
    assert len(rows) == 1 and NO_NEW_USERS in rows[0] and "so far" not in rows[0]
