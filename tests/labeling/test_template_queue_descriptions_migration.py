"""Migration 0057: a starter queue's description that still reads as its template wrote it, numbers and all ("One
answer in five, up to 50 a week"), is rewritten to the template's text that says what the queue is for; a
description the lead wrote stays."""

import pytest

from labeling.models import Queue
from labeling.services.rubric_templates import BY_KEY
from tests.helpers.migrations import migrate, migrate_to_latest

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BEFORE = [("labeling", "0056_cycle_closed_in_time_zone")]
AFTER = [("labeling", "0057_template_queue_descriptions")]
SEEDED = "One answer in five, up to 50 a week, labeled by two experts to measure agreement."


def test_a_seeded_description_is_rewritten_and_an_edited_one_kept(project):
    apps = migrate(BEFORE)
    try:
        OldQueue = apps.get_model("labeling", "Queue")
        for slug, description in {"seeded": SEEDED, "edited": f"{SEEDED} Ours now.", "own": "Billing only."}.items():
            OldQueue.objects.create(project_id=project.pk, slug=slug, name=slug, description=description)

        migrate(AFTER)

        descriptions = dict(Queue.objects.filter(project=project).values_list("slug", "description"))
        weekly_sample = next(q for q in BY_KEY["answer-quality"].queues if q["slug"] == "weekly-sample")
        assert descriptions == {
            "seeded": weekly_sample["description"],
            "edited": f"{SEEDED} Ours now.",
            "own": "Billing only.",
        }

        migrate(BEFORE)

        assert Queue.objects.get(project=project, slug="seeded").description == SEEDED
    finally:
        migrate_to_latest()
