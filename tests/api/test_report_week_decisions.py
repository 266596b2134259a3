"""The week's own decisions carry the status the meeting page shows — done (with the day), overdue, or open — in
report.md and in the JSON report (`decisions`), by one rule: report.md listed them as "(owner: …; due …)" only, and the
JSON report had no key for them. A closed week's decisions are the meeting's, held after its close (the meeting page
opens on the latest closed week): recorded and marked done there, read as they are now; its figures stay frozen."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.models import week_label
from labeling.rules import calendar
from labeling.services import cycles
from tests.factories import created_weeks_ago

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_a_closed_weeks_decisions_say_done_or_overdue_in_the_export_the_json_and_the_page(client, api, project, lead):
    created_weeks_ago(project, 52)
    week = calendar.current_week(project) - timedelta(days=7)
    today = calendar.local_today(project)
    cycles.close_week(project_id=project.pk, week=week)  # the meeting discusses the closed week
    decide = lambda text, **details: cycles.decide_in_week(user=lead, project=project, week=week, text=text, **details)  # noqa: E731
    done = decide("Ping the carrier team", owner="Priya", due_date=today - timedelta(days=3))
    overdue = decide("Ask legal about refunds", due_date=today - timedelta(days=1))
    pending = decide("Publish rubric v3", due_date=today + timedelta(days=5))
    cycles.mark_decision_done(user=lead, project=project, decision_id=done.pk)
    done_on = timezone.localtime(timezone.now(), project.tzinfo).date().isoformat()
    label = week_label(week)

    listed = api.get(f"/api/v1/cycles/{label}/report").json()["decisions"]
    markdown = api.get(f"/api/v1/cycles/{label}/report?format=markdown").content.decode()
    client.force_login(lead)
    page_markdown = client.get(reverse("labeling:meeting-markdown", args=[project.slug, label])).text
    page = client.get(reverse("labeling:meeting-week", args=[project.slug, label])).content.decode()

    assert [(entry["id"], entry["done_on"], entry["overdue"]) for entry in listed] == [
        (done.pk, done_on, False), (overdue.pk, None, True), (pending.pk, None, False),
    ]  # fmt: skip
    assert markdown == page_markdown
    assert f"- Ping the carrier team (owner: Priya; due {done.due_date}; done {done_on})" in markdown
    assert f"- Ask legal about refunds (due {overdue.due_date}, overdue)" in markdown
    assert f"- Publish rubric v3 (due {pending.due_date})\n" in markdown
    assert f"done {done_on}" in page and "overdue" in page
