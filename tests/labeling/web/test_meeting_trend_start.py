"""The meeting's "Pass rate by week" starts at the project's first week, as the dashboard does: a project two weeks
old showed rows "2026-W33 | — | 0" from twelve weeks back, on the page, in report.md and in the API's report."""

from datetime import timedelta

import pytest
from django.urls import reverse

from labeling.models import Queue, week_label
from labeling.rules import calendar
from tests.factories import created_weeks_ago
from tests.helpers.metrics import store_week

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_a_young_projects_pass_rate_trend_starts_at_its_first_week(client, api, project, lead, rubric):
    created_weeks_ago(project, 2)
    week = calendar.current_week(project)
    first = calendar.cycle_week(project, project.created_at)
    queue = Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2)
    store_week(project, queue, week, passes=3, n=4, labels=8)
    client.force_login(lead)
    label = week_label(week)

    trend = api.get(f"/api/v1/cycles/{label}/report").json()["pass_rate_trend"]
    markdown = client.get(reverse("labeling:meeting-markdown", args=[project.slug, label])).content.decode()
    html = client.get(reverse("labeling:meeting-week", args=[project.slug, label])).content.decode()

    weeks = [week_label(first + timedelta(weeks=k)) for k in range((week - first).days // 7 + 1)]
    assert [point["week"] for point in trend] == weeks
    assert f"| {week_label(first - timedelta(days=7))} |" not in markdown and f"| {weeks[0]} |" in markdown
    chart = html.split('aria-label="Pass rate by week"')[1].split("</figure>")[0]
    assert week_label(first - timedelta(days=7)) not in chart and weeks[0] in chart
