"""Migration 0055: queue rules stored with a condition listing nothing (refused since `rules.listed_values`) are
rewritten to route as they did, so their queues can be edited and copied again."""

import pytest

from labeling.models import Queue
from labeling.services.projects import copy_project
from labeling.services.routing import rule_matches, validate_rule
from tests.factories import OutputFactory
from tests.helpers.migrations import migrate, migrate_to_latest

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BEFORE = [("labeling", "0054_clean_control_characters_from_names")]
AFTER = [("labeling", "0055_rules_listing_nothing")]


def test_a_rule_listing_nothing_routes_as_it_did_and_its_queue_can_be_copied(project, lead):
    outputs = [
        OutputFactory(project=project, tags=["billing"], model="m1", metadata={"topic": "refunds"}),
        OutputFactory(project=project, tags=[], model="m2", metadata={}),
    ]
    apps = migrate(BEFORE)
    try:
        OldQueue = apps.get_model("labeling", "Queue")
        stored = {
            "all-of-none": ({"tags_all": [], "models": ["m1"]}, 0.5),  # held for every output: goes
            "any-of-none": ({"tags_any": [], "models": ["m1"]}, 0.5),  # held for none: samples none
            "key-of-none": ({"metadata": {"topic": [], "plan": ["pro"]}}, 1.0),
            "plain": ({"tags_any": ["billing"]}, 0.25),
        }
        for slug, (rule, rate) in stored.items():
            OldQueue.objects.create(project_id=project.pk, slug=slug, name=slug, rule=rule, sample_rate=rate, overlap=1)

        migrate(AFTER)

        queues = {queue.slug: queue for queue in Queue.objects.filter(project=project)}
        assert queues["all-of-none"].rule == {"models": ["m1"]} and queues["all-of-none"].sample_rate == 0.5
        assert queues["any-of-none"].rule == {"models": ["m1"]} and queues["any-of-none"].sample_rate == 0
        assert queues["key-of-none"].rule == {"metadata": {"plan": ["pro"]}} and queues["key-of-none"].sample_rate == 0
        assert queues["plain"].rule == {"tags_any": ["billing"]} and queues["plain"].sample_rate == 0.25
        # Each rewritten rule takes what the old one took: all of no tag was no condition.
        assert [rule_matches(queues["all-of-none"].rule, output) for output in outputs] == [True, False]
        for queue in queues.values():
            assert validate_rule(queue.rule) == queue.rule
        copy = copy_project(source_slug=project.slug, spec={"slug": "copied", "name": "Copied"}, created_by=lead)
        assert Queue.objects.filter(project=copy).count() == 4
    finally:
        migrate_to_latest()
