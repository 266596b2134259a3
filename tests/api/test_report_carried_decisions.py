"""A week's report carries the earlier weeks' decisions still open, as the meeting page does: in the API's JSON and
in report.md, frozen at the close (one marked done later stays in the closed week's report)."""

from datetime import timedelta

import pytest
from django.urls import reverse

from labeling.models import week_label
from labeling.rules import calendar
from labeling.services import cycles
from tests.factories import created_weeks_ago

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def weeks(project):
    created_weeks_ago(project, 52)
    this_week = calendar.current_week(project)
    return this_week - timedelta(days=14), this_week - timedelta(days=7), this_week


def decide(project, lead, week, text, **details):
    return cycles.decide_in_week(user=lead, project=project, week=week, text=text, **details)


def close(project, week):
    cycles.close_week(project_id=project.pk, week=week, now=calendar.week_end(project, week) + timedelta(minutes=1))


def report(api, week, *, markdown=False):
    response = api.get(f"/api/v1/cycles/{week_label(week)}/report{'?format=markdown' if markdown else ''}")
    assert response.status_code == 200
    return response.content.decode() if markdown else response.json()


def test_a_closed_week_carries_the_earlier_open_decisions_as_they_stood_at_the_close(client, api, project, lead, weeks):
    before_last, last, _ = weeks
    due = last + timedelta(days=1)  # passed by the close
    carried = decide(project, lead, before_last, "Update the **retrieval** snippets", owner="Priya", due_date=due)
    undated = decide(project, lead, before_last, "Ask legal about refunds")
    done = decide(project, lead, before_last, "Ping the carrier team")
    cycles.mark_decision_done(user=lead, project=project, decision_id=done.pk)
    decide(project, lead, last, "Publish rubric v3")
    close(project, last)
    cycles.mark_decision_done(user=lead, project=project, decision_id=carried.pk)  # after the close

    listed = report(api, last)["carried_decisions"]
    markdown = report(api, last, markdown=True)
    client.force_login(lead)
    page_markdown = client.get(reverse("labeling:meeting-markdown", args=[project.slug, week_label(last)])).text

    assert [(entry["id"], entry["week"], entry["overdue"]) for entry in listed] == [
        (carried.pk, week_label(before_last), True),
        (undated.pk, week_label(before_last), False),
    ]
    assert listed[0] | {"created_at": None} == {
        "id": carried.pk, "week": week_label(before_last), "text": "Update the **retrieval** snippets",
        "owner": "Priya", "due_date": due.isoformat(), "item_id": None, "created_by": lead.username,
        "created_at": None, "overdue": True,
    }  # fmt: skip
    decisions = markdown.split("## Decisions\n\n")[1]
    assert decisions == page_markdown.split("## Decisions\n\n")[1]
    assert decisions == (
        "### Still open from earlier weeks\n\n"
        "Not marked done when the week closed, soonest due first.\n\n"
        f"- Update the \\*\\*retrieval\\*\\* snippets (decided in {week_label(before_last)}; owner: Priya; "
        f"due {due.isoformat()}, overdue)\n"
        f"- Ask legal about refunds (decided in {week_label(before_last)})\n\n"
        f"### Decided in {week_label(last)}\n\n"
        "- Publish rubric v3\n"
    )


def test_a_week_without_earlier_open_decisions_reads_as_before(api, project, lead, weeks):
    _, last, _ = weeks
    decide(project, lead, last, "Publish rubric v3")
    close(project, last)

    assert report(api, last)["carried_decisions"] == []
    assert report(api, last, markdown=True).endswith("## Decisions\n\n- Publish rubric v3\n")


def test_an_open_week_carries_the_open_decisions_as_they_are_now(api, project, lead, weeks):
    _, last, this_week = weeks
    decision = decide(project, lead, last, "Publish rubric v3")

    assert [entry["id"] for entry in report(api, this_week)["carried_decisions"]] == [decision.pk]
    assert "Not marked done now, soonest due first." in report(api, this_week, markdown=True)
    cycles.mark_decision_done(user=lead, project=project, decision_id=decision.pk)
    assert report(api, this_week)["carried_decisions"] == []
