"""Redacting stored outputs again (`redact_outputs`) and the frozen weekly reports that quote them: a report's
excerpt of an output is the excerpt of its redacted text afterwards, as a report built now would show it."""

from datetime import timedelta

import pytest

from labeling.models import CycleStatus, Output, Queue, ReviewCycle
from labeling.rules import calendar
from labeling.rules.text import excerpt
from labeling.selectors.report import build_report
from labeling.services.assignment import next_item
from labeling.services.labels import comment_on_item, flag_item
from labeling.services.redaction import redact_stored_outputs, save_rule_set
from labeling.services.routing import route_outputs
from tests.factories import OutputFactory
from tests.labeling.services.test_privacy_themes import thumbs_down_week

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ADDRESS = "ana.lopez@example.com"


def test_redacting_stored_outputs_redacts_the_excerpts_of_the_frozen_reports_quoting_them(project, expert):
    week = calendar.current_week(project) - timedelta(days=7)
    thumbs_down_week(project, week, prefix="last")  # theme examples quote outputs starting "Zqxvlast<n>"
    long_text = f"Write to {ADDRESS} about card Zqxvcard. " + "Then wait for the refund. " * 12 + f"Or {ADDRESS}"
    flagged = OutputFactory(
        project=project,
        external_id="flagged",
        occurred_at=calendar.week_start(project, week) + timedelta(hours=2),
        output=long_text,
    )
    Queue.objects.create(project=project, slug="all", name="All")
    route_outputs(project_id=project.pk, output_ids=[flagged.pk])
    item = next_item(expert=expert, queue=Queue.objects.get())
    flag_item(expert=expert, item=item, note=f"An address: {ADDRESS}")
    comment_on_item(author=expert, item=item, body=f"Mail {ADDRESS} first")
    report = build_report(project=project, week=week, status=CycleStatus.CLOSED)
    ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED, report=report)
    assert ADDRESS in str(report["agenda"]) and "Zqxvlast" in str(report["themes"])
    marker = [{"name": "marker", "pattern": r"Zqxv\w+"}]
    save_rule_set(project=project, builtins=["email"], custom=marker, phone_region="GB")

    assert redact_stored_outputs(project=project).outputs == Output.objects.filter(project=project).count()

    frozen = ReviewCycle.objects.get(project=project, week=week).report
    assert ADDRESS not in str(frozen) and "Zqxv" not in str(frozen)
    flagged.refresh_from_db()
    assert frozen["agenda"]["flags"][0]["excerpt"] == excerpt(flagged.output, 200)  # not cut inside an address
    assert frozen["agenda"]["flags"][0]["excerpt"].startswith("Write to [EMAIL] about card [CUSTOM:marker].")
    examples = [example for theme in frozen["themes"] for example in theme["examples"]]
    assert examples and all(example["excerpt"].startswith("[CUSTOM:marker]") for example in examples)
    assert frozen["throughput"] == report["throughput"]
    # The flag's note and the comment quoted with it, where the expert pasted the address, are redacted as stored.
    assert frozen["agenda"]["flags"][0]["note"] == "An address: [EMAIL]"
    assert frozen["agenda"]["flags"][0]["comments"][0]["body"] == "Mail [EMAIL] first"
