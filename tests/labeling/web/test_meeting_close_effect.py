"""The "Close the week" button says what the close does to the week after: it opens it when it has no cycle yet; an
older week closed out of order, whose next week is open or closed already, opens none. Time is pinned to Monday
2026-12-07 10:00 UTC (2026-W50 running)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from labeling.models import CycleStatus, ReviewCycle

MONDAY_10 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def pinned(project, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: MONDAY_10)
    project.created_at = MONDAY_10 - timedelta(weeks=104)
    project.save(update_fields=["created_at"])


def close_effect(client, project, label) -> str:
    response = client.get(reverse("labeling:meeting-week", args=[project.slug, label]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="close-week"' in html
    return html.split('id="close-effect">')[1].split("</span>")[0]


def test_closing_the_latest_ended_week_opens_the_next(client, lead, project):
    client.force_login(lead)

    assert close_effect(client, project, "2026-W49") == (
        "Resolves gold answers, rebuilds weekly datasets, freezes this report and opens the next week (2026-W50)."
    )


@pytest.mark.parametrize("status", [CycleStatus.OPEN, CycleStatus.CLOSED])
def test_closing_an_older_week_out_of_order_opens_none(client, lead, project, status):
    ReviewCycle.objects.create(project=project, week=date(2026, 11, 23), status=status)  # 2026-W48
    client.force_login(lead)

    assert close_effect(client, project, "2026-W47") == (
        "Resolves gold answers, rebuilds weekly datasets and freezes this report: the next week, 2026-W48, is "
        f"{status} already."
    )
