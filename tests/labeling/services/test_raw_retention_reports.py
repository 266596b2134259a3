"""Raw retention and the frozen weekly reports: a purged output's text leaves the reports that quoted it.

A closed week's report copies the texts of its outputs (a flagged item's excerpt, the flag's note and the
item's comments; failure-theme examples), so the purge that deletes those outputs scrubs the reports too.
"""

from datetime import timedelta

import pytest

from labeling.models import AuditEvent, CycleStatus, Output, Queue, ReviewCycle
from labeling.rules import calendar
from labeling.selectors.report import build_report
from labeling.services.assignment import next_item
from labeling.services.labels import comment_on_item, flag_item
from labeling.services.privacy import purge_expired_outputs
from labeling.services.routing import route_outputs
from tests.factories import OutputFactory
from tests.labeling.services.test_privacy_themes import thumbs_down_week

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_the_purge_scrubs_the_frozen_reports_that_quote_the_outputs_it_deletes(project, expert, rubric):
    week = calendar.current_week(project) - timedelta(days=7)
    thumbs_down_week(project, week, prefix="last")  # never queued: raw outputs the purge deletes
    flagged = OutputFactory(
        project=project,
        external_id="flagged",
        occurred_at=calendar.week_start(project, week) + timedelta(hours=2),
        output="Your card Zqxvcard-4111 is blocked",
    )
    Queue.objects.create(project=project, slug="all", name="All")
    route_outputs(project_id=project.pk, output_ids=[flagged.pk])
    item = next_item(expert=expert, queue=Queue.objects.get(project=project))
    assert item.output_id == flagged.pk
    flag_item(expert=expert, item=item, note="Quotes Zqxvnote-card")
    comment_on_item(author=expert, item=item, body="Zqxvcomment: the customer's card")
    report = build_report(project=project, week=week, status=CycleStatus.CLOSED)
    ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED, report=report)
    assert "Zqxvcard" in str(report["agenda"]) and "Zqxvlast" in str(report["themes"])
    project.raw_retention_days = 1
    project.save()

    deleted = purge_expired_outputs(project=project)

    assert deleted and not Output.objects.filter(project=project).exists()
    frozen = ReviewCycle.objects.get(project=project, week=week).report
    assert "Zqxv" not in str(frozen)  # no excerpt, note or comment of a purged output is left
    assert frozen["agenda"]["flags"] == []
    assert [theme["terms"] for theme in frozen["themes"]] == [theme["terms"] for theme in report["themes"]]
    assert all(theme["examples"] == [] for theme in frozen["themes"])
    assert frozen["throughput"] == report["throughput"]  # the figures stay
    audit = AuditEvent.objects.get(project=project, action="retention.outputs_deleted")
    assert audit.details["reports_scrubbed"] == 1
