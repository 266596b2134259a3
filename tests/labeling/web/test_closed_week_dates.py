"""A closed week's dates are read in the zone it was closed in (`calendar.week_zone`), its decisions' too, and its
report.md names that zone once."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from labeling.models import Decision, ReviewCycle
from labeling.rules import calendar
from labeling.services import cycles
from tests.factories import created_weeks_ago
from tests.helpers.labeling import label_outputs

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

# 03:00 UTC on 1 December: still 30 November in Los Angeles (19:00), already 1 December in Tokyo (12:00).
DONE_AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _week_closed_in_los_angeles(project, experts):
    type(project).objects.filter(pk=project.pk).update(time_zone="America/Los_Angeles")
    project.refresh_from_db()
    created_weeks_ago(project, 52)
    week = calendar.current_week(project) - timedelta(days=7)
    label_outputs(project, 1, experts=experts, occurred_at=calendar.week_start(project, week))
    return cycles.close_week(project_id=project.pk, week=week)


def test_a_closed_weeks_decision_is_done_on_its_day_in_the_zone_the_week_was_closed_in(
    client, api, project, lead, expert, other_expert
):
    """The week was closed under Los Angeles' calendar and the project moved to Tokyo since: the decision marked done
    on 30 November in Los Angeles reads "done 2026-11-30" on the page, in report.md and in the API, as the rest of the
    closed week's dates do. Before, it read "done 2026-12-01", the day in Tokyo."""
    cycle = _week_closed_in_los_angeles(project, [expert, other_expert])
    decision = cycles.add_decision(user=lead, cycle=cycle, text="Retrain the refund prompt")
    cycles.mark_decision_done(user=lead, project=project, decision_id=decision.pk)
    Decision.objects.filter(pk=decision.pk).update(done_at=DONE_AT)
    type(project).objects.filter(pk=project.pk).update(time_zone="Asia/Tokyo")
    client.force_login(lead)

    html = client.get(reverse("labeling:meeting-week", args=[project.slug, cycle.label])).content.decode()
    markdown = client.get(reverse("labeling:meeting-markdown", args=[project.slug, cycle.label])).content.decode()
    report = api.get(f"/api/v1/cycles/{cycle.label}/report").json()

    row = html.split(f'data-decision="{decision.pk}"')[1].split("</tr>")[0]
    assert "done 2026-11-30" in row
    assert "- Retrain the refund prompt (done 2026-11-30)" in markdown
    assert [entry["done_on"] for entry in report["decisions"]] == ["2026-11-30"]


def test_an_open_weeks_decision_is_done_on_its_day_in_the_projects_zone(client, project, lead):
    """An open week's dates are the project's: the same moment is 1 December in Tokyo."""
    type(project).objects.filter(pk=project.pk).update(time_zone="Asia/Tokyo")
    project.refresh_from_db()
    created_weeks_ago(project, 52)
    week = calendar.current_week(project) - timedelta(days=7)
    decision = cycles.decide_in_week(user=lead, project=project, week=week, text="Retrain the refund prompt")
    cycles.mark_decision_done(user=lead, project=project, decision_id=decision.pk)
    Decision.objects.filter(pk=decision.pk).update(done_at=DONE_AT)
    client.force_login(lead)

    markdown = client.get(
        reverse("labeling:meeting-markdown", args=[project.slug, decision.cycle.label])
    ).content.decode()

    assert "- Retrain the refund prompt (done 2026-12-01)" in markdown


def test_a_closed_weeks_report_md_names_its_zone_once(client, project, lead, expert, other_expert):
    """The header named the zone after the week's dates and again after the close time ("… (America/Los_Angeles).
    Closed; figures frozen at 2026-11-30 08:22 PST (America/Los_Angeles)."), and once more after a restatement's time:
    the dates name it, the moments after them keep only their abbreviation."""
    cycle = _week_closed_in_los_angeles(project, [expert, other_expert])
    closed_at = datetime(2026, 11, 30, 16, 22, tzinfo=UTC)  # 08:22 in Los Angeles
    restated_at = datetime(2026, 12, 2, 18, 5, tzinfo=UTC)  # 10:05 in Los Angeles
    report = {
        **cycle.report,
        "generated_at": closed_at.isoformat(),
        "compared_again": {"with_week": "2026-W47", "at": restated_at.isoformat()},
    }
    ReviewCycle.objects.filter(pk=cycle.pk).update(closed_at=closed_at, report=report)
    client.force_login(lead)

    markdown = client.get(reverse("labeling:meeting-markdown", args=[project.slug, cycle.label])).content.decode()

    header = markdown.split("## Headline")[0]
    assert header.count("America/Los\\_Angeles") == 1
    assert (
        f"Week {report['week_start']} to {report['week_end']} (America/Los\\_Angeles). "
        "Closed; figures frozen at 2026-11-30 08:22 PST. "
        "Its comparison with 2026-W47 was made again from that week's final figures at 2026-12-02 10:05 PST."
    ) in header
