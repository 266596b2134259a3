"""The meeting's "Pass rate by week" starts at the project's first week, and at the first week with figures, as the
dashboard does: a project two weeks old showed rows "2026-W33 | — | 0" from twelve weeks back, and a product adopted
with its history rows of the weeks before its experts labeled, on the page, in report.md and in the API's report."""

from datetime import timedelta

import pytest
from django.urls import reverse

from labeling.models import Queue, week_label
from labeling.rules import calendar
from tests.factories import OutputFactory, created_weeks_ago
from tests.helpers.metrics import store_week

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_a_young_projects_pass_rate_trend_starts_at_its_first_week(client, api, project, lead, rubric, this_week):
    created_weeks_ago(project, 2)
    week = this_week
    first = calendar.cycle_week(project, project.created_at)
    queue = Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2)
    store_week(project, queue, first, passes=3, n=4, labels=8)
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


def test_an_adopted_products_pass_rate_trend_starts_at_the_first_week_with_figures(
    client, api, project, lead, rubric, this_week
):
    """The project is 20 weeks old and its outputs go back as far, but its experts labeled only these last 4 weeks:
    the page and report.md list those, not 8 weeks without a value before them. The report's data keeps every point
    (the API's, and what a close freezes: a week closed late restates its point in later weeks' trends)."""
    created_weeks_ago(project, 20)
    OutputFactory(project=project, occurred_at=calendar.week_start(project, this_week - timedelta(weeks=19)))
    queue = Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2)
    adopted = this_week - timedelta(weeks=3)
    for k in range(4):
        store_week(project, queue, adopted + timedelta(weeks=k), passes=3, n=4, labels=8)
    client.force_login(lead)
    label = week_label(this_week)

    trend = api.get(f"/api/v1/cycles/{label}/report").json()["pass_rate_trend"]
    markdown = client.get(reverse("labeling:meeting-markdown", args=[project.slug, label])).content.decode()
    html = client.get(reverse("labeling:meeting-week", args=[project.slug, label])).content.decode()

    weeks = [week_label(adopted + timedelta(weeks=k)) for k in range(4)]
    before = week_label(adopted - timedelta(weeks=1))
    assert f"| {before} |" not in markdown and all(f"| {week} |" in markdown for week in weeks)
    chart = html.split('aria-label="Pass rate by week"')[1].split("</figure>")[0]
    assert before not in chart and weeks[0] in chart
    assert len(trend) == 12 and [point["week"] for point in trend][-4:] == weeks
