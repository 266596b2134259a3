"""Migration 0049: an expert's open flags on one item are merged into one before the constraint that keeps them so."""

import pytest
from django.utils import timezone

from tests.factories import OutputFactory
from tests.helpers.migrations import migrate, migrate_to_latest

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BEFORE = [("labeling", "0048_flag_resolution")]
AFTER = [("labeling", "0049_one_open_flag_per_expert")]


def test_an_experts_open_flags_on_an_item_are_merged_into_the_oldest_and_others_are_kept(project, expert, other_expert):
    output = OutputFactory(project=project)
    apps = migrate(BEFORE)
    try:
        Flag, Item, Queue = (apps.get_model("labeling", name) for name in ("Flag", "Item", "Queue"))
        queue = Queue.objects.create(project_id=project.pk, slug="q", name="Q", overlap=2)
        item = Item.objects.create(
            project_id=project.pk, queue=queue, output_id=output.pk, week=output.occurred_at.date(), overlap=2
        )
        first = Flag.objects.create(item=item, expert_id=expert.pk, note="Policy changed?")
        for note in ("And the carrier is wrong.", "Policy changed?"):
            Flag.objects.create(item=item, expert_id=expert.pk, note=note)
        others = Flag.objects.create(item=item, expert_id=other_expert.pk, note="Odd")
        resolved = Flag.objects.create(item=item, expert_id=expert.pk, note="Old", resolved_at=timezone.now())

        apps = migrate(AFTER)
        Flag = apps.get_model("labeling", "Flag")

        assert sorted(Flag.objects.values_list("pk", flat=True)) == sorted([first.pk, others.pk, resolved.pk])
        assert Flag.objects.get(pk=first.pk).note == "Policy changed?\n\nAnd the carrier is wrong."
    finally:
        migrate_to_latest()
