"""A week closed while the week before it is still open compares with that week's actual figures: W44 closed with
W43 open froze "+22 vs last week (0)" (W43's figures were never computed), and W43 closed later showed 2 labels."""

from datetime import timedelta

import pytest
from django.urls import reverse

from labeling.models import ReviewCycle, week_label
from labeling.rules import calendar
from labeling.services import cycles
from tests.factories import created_weeks_ago
from tests.helpers.labeling import label_outputs

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_closing_a_week_before_the_one_before_it_freezes_that_weeks_actual_labels(
    client, api, project, lead, expert, other_expert, rubric
):
    created_weeks_ago(project, 5)
    this_week = calendar.current_week(project)
    before_last, last = this_week - timedelta(days=14), this_week - timedelta(days=7)
    experts = [expert, other_expert]
    for week, outputs in ((before_last, 1), (last, 3)):  # 2 labels, then 6
        occurred_at = calendar.week_start(project, week) + timedelta(hours=1)
        label_outputs(project, outputs, experts=experts, occurred_at=occurred_at)

    cycles.close_week(project_id=project.pk, week=last)  # before_last is still open, its figures never computed

    labels = ReviewCycle.objects.get(project=project, week=last).report["headline"]["labels"]
    assert (labels["done"], labels["previous_done"], labels["change"]) == (6, 2, 4)
    # Computed, not closed: only the rows the comparison reads (its own hourly refresh computes the rest).
    assert not ReviewCycle.objects.filter(project=project, week=before_last, status="closed").exists()
    client.force_login(lead)
    page = client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(last)])).content.decode()
    labels_tile = page.split('data-tile="labels"')[1].split("</div>")[0]
    assert "+4" in labels_tile and "(2)" in labels_tile
    api_labels = api.get(f"/api/v1/cycles/{week_label(last)}/report").json()["headline"]["labels"]
    assert api_labels["previous_done"] == 2
    assert "| 2 | +4 |" in api.get(f"/api/v1/cycles/{week_label(last)}/report?format=markdown").content.decode()
