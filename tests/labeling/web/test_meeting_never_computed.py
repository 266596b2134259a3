"""Figures never computed read as not computed yet, on the meeting page, in report.md and in the API's report: before
the first refresh of a week the page said "No end-user activity yet" beside outputs from 3 users, "-16 vs last week
(16)" beside "0 / 0", "no quota" for a queue with a quota of 50; report.md said "live, provisional figures as of <now>"
over those zeros with no word of the labels they leave out, which the page warns of."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.models import Queue, ReviewCycle, week_label
from labeling.rules import calendar
from labeling.services import cycles
from tests.factories import created_weeks_ago
from tests.helpers.labeling import AGREE, label_outputs
from tests.helpers.metrics import store_week

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def tile(html: str, key: str) -> str:
    part = html.split(f'data-tile="{key}">')[1].split('<div class="tile"')[0].split("</section>")[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part)).strip()


def note(html: str, marker: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.split(marker)[1].split("</p>")[0])).strip()


def test_a_week_never_computed_says_so_on_the_page_in_the_export_and_the_api(client, api, project, lead, rubric):
    created_weeks_ago(project, 10)
    week = calendar.current_week(project)
    queue = Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2, weekly_quota=50)
    store_week(project, queue, week - timedelta(days=7), passes=7, n=8, labels=16)
    label_outputs(project, 1, answers=AGREE, end_user_id="user-1")
    client.force_login(lead)
    label = week_label(week)
    page_url = reverse("labeling:meeting-week", args=[project.slug, label])
    export_url = reverse("labeling:meeting-markdown", args=[project.slug, label])

    html = client.get(page_url).content.decode()
    markdown = client.get(export_url).content.decode()
    freshness = api.get(f"/api/v1/cycles/{label}/report").json()["freshness"]

    labels = tile(html, "labels")
    assert "not computed yet" in labels and "vs last week" not in labels and "no quota" not in labels
    assert "(16 in all)" in labels and "so far" not in labels
    assert "No end-user activity" not in tile(html, "retention") and "not computed yet" in tile(html, "retention")
    assert "not computed yet" in note(html, 'id="live-note"') and "as last computed" not in html
    assert "2 labels saved this week, and no finished computation" in note(html, 'id="stale-note"')
    assert "live, provisional figures as of" not in markdown
    assert "Open: provisional figures, not computed yet." in markdown
    assert "2 labels saved this week, and no finished computation of these figures is recorded" in markdown
    assert "| Labels done (so far) | not computed yet |" in markdown
    assert freshness == {"refreshed_at": None, "labels_since": 2, "computed": False}

    cycles.refresh_metrics(project=project, week=week)
    html = client.get(page_url).content.decode()
    markdown = client.get(export_url).content.decode()
    refreshed_at = ReviewCycle.objects.get(project=project, week=week).figures_refreshed_at
    as_of = f"{timezone.localtime(refreshed_at, project.tzinfo):%Y-%m-%d %H:%M}"

    labels = tile(html, "labels")
    assert "2 / 2" in labels and "on 1 item ·" in labels and "quota 50 items" in labels
    assert f"Open: provisional figures, computed {as_of}" in markdown and "saved this week" not in markdown
    assert "(1 item; quota 50 items)" in markdown
    assert 'id="stale-note"' not in html


def test_the_first_week_never_computed_has_no_change_in_the_api_report(api, project, rubric):
    """The schema has `change` absent in the project's first week (nothing to compare with), computed or not."""
    label_outputs(project, 1, answers=AGREE, end_user_id="user-1")
    label = week_label(calendar.current_week(project))

    labels = api.get(f"/api/v1/cycles/{label}/report").json()["headline"]["labels"]

    assert labels["first_week"] is True and labels["not_computed"] is True
    assert "change" not in labels
