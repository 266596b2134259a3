"""The platform page's change of this week's outputs is against the 4 weeks' mean scaled to the share of the week gone
by, as if outputs came at an even pace; the meeting page's "so far" change counts those weeks' outputs up to the same
moment instead. They are two baselines, so the platform's says which it is. Time is pinned to Wednesday 2026-12-09
12:00 UTC, 2.5 days into 2026-W50."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from labeling.models import ProjectWeek

WEDNESDAY_NOON = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
W50 = date(2026, 12, 7)


@pytest.fixture(autouse=True)
def pinned(project, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: WEDNESDAY_NOON)
    project.created_at = WEDNESDAY_NOON - timedelta(weeks=10)
    project.save(update_fields=["created_at"])


def _cell_html(html: str, slug: str, column: str) -> str:
    row = re.search(rf'<tr data-project="{slug}"[^>]*>(.*?)</tr>', html, flags=re.S)[1]
    return re.search(rf'<td[^>]*data-col="{column}"[^>]*>(.*?)</td>', row, flags=re.S)[1]


def test_this_weeks_change_names_its_even_pace_baseline(client, operator, project):
    for back in range(1, 5):
        ProjectWeek.objects.create(
            project=project, week=W50 - timedelta(weeks=back), outputs=70, computed_at=WEDNESDAY_NOON
        )
    ProjectWeek.objects.create(project=project, week=W50, outputs=50, computed_at=WEDNESDAY_NOON)
    client.force_login(operator)

    html = client.get("/platform/").content.decode()

    this_week = _cell_html(html, project.slug, "outputs")
    assert "+100%" in this_week  # 50 against 70 × 2.5 / 7 = 25
    assert "at an even pace" in this_week
    assert "title=\"Against 25 expected by now: the 4 weeks' mean, 70, × the 36% of the week gone by" in this_week
    last_week = _cell_html(html, project.slug, "outputs_last")
    assert "even pace" not in last_week  # a whole week against whole weeks
    assert "the meeting page counts each of those weeks' outputs up to the same moment" in html
