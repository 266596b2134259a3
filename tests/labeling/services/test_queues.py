"""Queue services: every value is checked, nothing half-saved, audit events for each change, backfill on commit."""

from datetime import UTC, datetime
from unittest.mock import ANY

import pytest

from labeling.exceptions import InvalidSpec
from labeling.models import Alert, AlertRule, AuditEvent, Item, Queue, SavedView
from labeling.services.queues import QueueValues, create_queue, queue_problems, request_backfill, update_queue
from labeling.services.saved_views import save_view
from tests.factories import MembershipFactory, OutputFactory
from tests.outbox import enqueued, run_as_worker


def values(**overrides) -> QueueValues:
    return QueueValues(**{"slug": "billing", "name": "Billing", **overrides})


def test_create_queue_stores_the_canonical_rule_and_experts(project, lead, expert, other_expert):
    queue = create_queue(
        project=project,
        actor=lead,
        values=values(
            description="  Money questions ",
            rule={"tags_any": ["billing"], "metadata": {"tier": [1, 2]}, "feedback_scores": [-1]},
            sample_rate=0.25,
            weekly_quota=40,
            overlap=3,
            priority=7,
            eligible_expert_ids=(expert.pk,),
            is_active=False,
        ),
    )

    queue.refresh_from_db()
    assert (queue.slug, queue.name, queue.description) == ("billing", "Billing", "Money questions")
    assert queue.rule == {"tags_any": ["billing"], "metadata": {"tier": [1, 2]}, "feedback_scores": [-1]}
    assert (queue.sample_rate, queue.weekly_quota, queue.overlap, queue.priority) == (0.25, 40, 3, 7)
    assert queue.is_active is False
    assert list(queue.eligible_experts.all()) == [expert]
    event = AuditEvent.objects.get(action="queue.created")
    assert (event.project, event.actor) == (project, lead)
    assert event.details == {"queue": queue.pk, "slug": "billing", "name": "Billing", "asked_sha256": ANY}


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"slug": "Bad Slug"}, "slug"),
        ({"slug": "-leading-hyphen"}, "slug"),
        ({"slug": ""}, "slug"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"rule": {"tags_any": "billing"}}, "rule"),
        ({"rule": {"colour": ["red"]}}, "rule"),
        ({"rule": {"feedback_scores": [2]}}, "rule"),
        ({"rule": ["not", "an", "object"]}, "rule"),
        ({"sample_rate": 1.5}, "sample_rate"),
        ({"sample_rate": -0.1}, "sample_rate"),
        ({"sample_rate": float("nan")}, "sample_rate"),
        ({"weekly_quota": -1}, "weekly_quota"),
        ({"weekly_quota": 2.5}, "weekly_quota"),
        ({"overlap": 0}, "overlap"),
        ({"overlap": 11}, "overlap"),
        ({"overlap": True}, "overlap"),
        ({"priority": 40000}, "priority"),
    ],
)
def test_create_queue_refuses_bad_values(project, lead, overrides, field):
    with pytest.raises(InvalidSpec) as caught:
        create_queue(project=project, actor=lead, values=values(**overrides))

    assert caught.value.problems
    assert field in queue_problems(project=project, values=values(**overrides))
    assert not Queue.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("quota, overlap, rate", [(None, 1, 0.0), (0, 10, 1.0), (1, 5, 0.5)])
def test_create_queue_accepts_the_edges_of_each_range(project, quota, overlap, rate):
    queue = create_queue(project=project, values=values(weekly_quota=quota, overlap=overlap, sample_rate=rate))
    assert (queue.weekly_quota, queue.overlap, queue.sample_rate) == (quota, overlap, rate)


def test_a_slug_is_unique_per_project_only(project, other_project):
    create_queue(project=project, values=values())
    create_queue(project=other_project, values=values())  # the same slug in another project is fine

    with pytest.raises(InvalidSpec, match="slug 'billing' already"):
        create_queue(project=project, values=values(name="Billing again"))
    assert Queue.objects.filter(project=project).count() == 1


def test_only_experts_of_the_project_can_be_eligible(project, expert, lead, engineer, outsider):
    for user in (outsider, lead, engineer):
        with pytest.raises(InvalidSpec, match="Only experts of this project"):
            create_queue(project=project, values=values(eligible_expert_ids=(expert.pk, user.pk)))
    assert not Queue.objects.exists()


def test_update_queue_replaces_settings_and_records_what_changed(project, lead, expert, other_expert):
    queue = create_queue(project=project, values=values(eligible_expert_ids=(expert.pk,)))

    update_queue(
        queue=queue,
        actor=lead,
        values=values(name="Billing", overlap=2, rule={"models": ["gpt-4o"]}, eligible_expert_ids=(other_expert.pk,)),
    )

    queue.refresh_from_db()
    assert (queue.overlap, queue.rule) == (2, {"models": ["gpt-4o"]})
    assert list(queue.eligible_experts.all()) == [other_expert]
    event = AuditEvent.objects.get(action="queue.updated")
    assert event.actor == lead
    assert event.details["changed"] == ["overlap", "rule", "eligible_experts"]


def test_update_queue_keeps_its_own_slug_but_not_anothers(project):
    queue = create_queue(project=project, values=values())
    create_queue(project=project, values=values(slug="refunds", name="Refunds"))

    update_queue(queue=queue, values=values(name="Renamed"))  # its own slug is not "taken"
    with pytest.raises(InvalidSpec, match="slug 'refunds' already"):
        update_queue(queue=queue, values=values(slug="refunds"))

    queue.refresh_from_db()
    assert (queue.slug, queue.name) == ("billing", "Renamed")


def test_renaming_a_queue_renames_it_in_the_saved_views_that_filter_on_it(project, other_project):
    """A saved view stores the queue by its slug: renaming the slug rewrites the views naming the old one, in the same
    transaction, so each still opens on the same queue. Views of other queues, and another project's views naming
    either slug, are left alone."""
    refunds = create_queue(project=project, values=values(slug="refunds", name="Refunds"))
    create_queue(project=project, values=values(slug="refunds-old", name="Old refunds"))
    create_queue(project=project, values=values(slug="billing", name="Billing"))
    deleted = create_queue(project=project, values=values(slug="refund-requests", name="Deleted since"))
    for name, query in [
        ("Only refunds", "queue=refunds"),
        ("Refunds or billing, down", "feedback=down&queue=billing&queue=refunds&flagged=yes"),
        ("The old refunds", "queue=refunds-old"),
        ("Searched", "q=queue%3Drefunds"),  # a search for the words, not the queue
        ("Stale", "queue=refund-requests&queue=refunds"),  # names a queue deleted since: named once after
    ]:
        save_view(project=project, name=name, query=query)
    deleted.delete()  # in the admin
    create_queue(project=other_project, values=values(slug="refunds", name="Refunds"))
    create_queue(project=other_project, values=values(slug="refund-requests", name="Requests"))
    save_view(project=other_project, name="Theirs", query="queue=refunds")
    save_view(project=other_project, name="Their requests", query="queue=refund-requests")

    update_queue(queue=refunds, values=values(slug="refund-requests", name="Refund requests"))

    assert dict(SavedView.objects.filter(project=project).values_list("name", "query")) == {
        "Only refunds": "queue=refund-requests",
        "Refunds or billing, down": "feedback=down&queue=billing&queue=refund-requests&flagged=yes",
        "The old refunds": "queue=refunds-old",
        "Searched": "q=queue%3Drefunds",
        "Stale": "queue=refund-requests",
    }
    assert dict(SavedView.objects.filter(project=other_project).values_list("name", "query")) == {
        "Theirs": "queue=refunds",
        "Their requests": "queue=refund-requests",
    }


def test_renaming_into_the_slug_of_a_deleted_queue_with_an_open_alert_leaves_both_alerts(project):
    """A queue deleted in the admin may leave an unresolved alert under its slug until the next evaluation resolves
    it: renaming another queue to that slug must not break the one-unresolved-alert rule (nor fail the rename)."""
    refunds = create_queue(project=project, values=values(slug="refunds", name="Refunds"))
    for key in ("refunds", "refund-requests"):
        Alert.objects.create(project=project, rule=AlertRule.QUEUE_IDLE, key=key, title=key, facts={"queue": key})

    update_queue(queue=refunds, values=values(slug="refund-requests", name="Refunds"))

    assert sorted(Alert.objects.values_list("key", flat=True)) == ["refund-requests", "refunds"]
    assert Queue.objects.get(pk=refunds.pk).slug == "refund-requests"


def test_update_queue_with_bad_values_changes_nothing(project, expert):
    queue = create_queue(project=project, values=values(eligible_expert_ids=(expert.pk,)))

    with pytest.raises(InvalidSpec):
        update_queue(queue=queue, values=values(overlap=11, eligible_expert_ids=()))

    queue.refresh_from_db()
    assert queue.overlap == 1
    assert list(queue.eligible_experts.all()) == [expert]
    assert not AuditEvent.objects.filter(action="queue.updated").exists()


def test_an_unchanged_save_records_no_event(project):
    queue = create_queue(project=project, values=values())
    update_queue(queue=queue, values=values())
    assert not AuditEvent.objects.filter(action="queue.updated").exists()


def test_editing_a_queue_leaves_placed_items_alone(project):
    queue = create_queue(project=project, values=values(overlap=1, priority=0))
    output = OutputFactory(project=project)
    Item.objects.create(project=project, queue=queue, output=output, week=output.occurred_at.date(), overlap=1)

    update_queue(queue=queue, values=values(overlap=3, priority=9))

    assert Item.objects.values_list("overlap", "priority").get() == (1, 0)


def test_request_backfill_enqueues_the_task_after_commit(project, lead, django_capture_on_commit_callbacks):
    queue = create_queue(project=project, values=values(rule={"tags_any": ["billing"]}))
    since = datetime(2026, 11, 16, tzinfo=UTC)
    OutputFactory(project=project, tags=["billing"], occurred_at=datetime(2026, 11, 18, tzinfo=UTC))
    OutputFactory(project=project, tags=["billing"], occurred_at=datetime(2026, 11, 10, tzinfo=UTC))  # before
    OutputFactory(project=project, tags=["shipping"], occurred_at=datetime(2026, 11, 18, tzinfo=UTC))

    with django_capture_on_commit_callbacks() as callbacks:
        request_backfill(queue=queue, since=since, actor=lead)

    assert len(callbacks) == 1  # the publish, after commit
    [message] = enqueued()
    assert (message.task, message.args) == ("labeling.backfill_queue", [queue.pk, since.isoformat()])
    assert Item.objects.count() == 0  # nothing ran inline
    assert run_as_worker(message) == 1
    assert AuditEvent.objects.filter(action="queue.backfill_requested", actor=lead).count() == 1


def test_membership_of_another_project_does_not_count(project, other_project):
    stranger = MembershipFactory(project=other_project, role="expert").user
    problems = queue_problems(project=project, values=values(eligible_expert_ids=(stranger.pk,)))
    assert list(problems) == ["eligible_experts"]
