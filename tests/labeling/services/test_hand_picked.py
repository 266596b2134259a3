"""Adding hand-picked outputs to a queue: idempotent, concurrent-safe, quota-free, audited, labelable."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.exceptions import InvalidInput, NotFound
from labeling.models import AuditEvent, Item, Queue, Slot
from labeling.rules.calendar import current_week
from labeling.services.assignment import next_item
from labeling.services.hand_picked import ADD_LIMIT, add_to_queue
from labeling.services.queues import QueueValues, update_queue
from tests.factories import OutputFactory
from tests.helpers.concurrency import run_at_once, waits_for_uncommitted

pytestmark = pytest.mark.django_db


def make_queue(project, **fields):
    return Queue.objects.create(project=project, **{"slug": "refunds", "name": "Refunds", **fields})


def make_outputs(project, count, **fields):
    return OutputFactory.create_batch(count, project=project, **fields)


def test_adding_twice_gives_the_same_items_and_says_what_was_in_already(project, lead):
    queue = make_queue(project, overlap=2, priority=7, weekly_quota=1)  # the quota does not apply
    outputs = make_outputs(project, 5, occurred_at=timezone.now() - timedelta(days=40))  # from a closed week
    ids = [output.pk for output in outputs]

    first = add_to_queue(project=project, queue=queue, output_ids=ids[:3], actor=lead, source="q=refund")
    items = sorted(Item.objects.filter(queue=queue).values_list("pk", "output_id"))
    second = add_to_queue(project=project, queue=queue, output_ids=ids, actor=lead)

    assert (first.added, first.already_in) == (3, 0)
    assert (second.added, second.already_in) == (2, 3)
    assert set(items) <= set(Item.objects.filter(queue=queue).values_list("pk", "output_id"))
    assert Item.objects.filter(queue=queue).count() == 5
    item = Item.objects.filter(queue=queue).select_related("output").first()
    # Hand-picked today, labeled this week: the running cycle week, never the old output's own.
    assert (item.overlap, item.priority, item.week) == (2, 7, current_week(project))
    assert Slot.objects.filter(queue=queue).count() == 10
    event = AuditEvent.objects.filter(action="queue.outputs_added").order_by("at", "pk").first()
    assert event.actor == lead
    assert event.details == {
        "queue": "refunds",
        "added": 3,
        "already_in": 0,
        "external_ids": [o.external_id for o in sorted(outputs[:3], key=lambda o: (o.occurred_at, o.pk), reverse=True)],
        "filter": "q=refund",
    }


def test_another_projects_outputs_are_never_added(project, other_project, lead):
    queue = make_queue(project)
    own = make_outputs(project, 2)
    foreign = make_outputs(other_project, 2)

    result = add_to_queue(project=project, queue=queue, output_ids=[o.pk for o in own + foreign], actor=lead)

    assert (result.added, result.already_in) == (2, 0)
    assert set(Item.objects.values_list("output_id", flat=True)) == {o.pk for o in own}
    with pytest.raises(NotFound):
        add_to_queue(project=other_project, queue=queue, output_ids=[o.pk for o in foreign], actor=lead)
    assert Item.objects.count() == 2


def test_more_than_the_limit_is_refused_whole(project, lead):
    queue = make_queue(project)

    with pytest.raises(InvalidInput, match="at most 1,000"):
        add_to_queue(project=project, queue=queue, output_ids=range(1, ADD_LIMIT + 2), actor=lead)

    assert not Item.objects.exists() and not AuditEvent.objects.exists()


def test_the_expert_gets_an_added_output_from_next_item(project, lead, expert):
    queue = make_queue(project)
    picked = make_outputs(project, 1, occurred_at=timezone.now() - timedelta(hours=1))[0]

    add_to_queue(project=project, queue=queue, output_ids=[picked.pk], actor=lead)

    item = next_item(expert=expert, queue=queue)
    assert item is not None and item.output_id == picked.pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_leads_adding_at_once_make_one_item_per_output(project, lead):
    queue = make_queue(project, weekly_quota=10)
    ids = [output.pk for output in make_outputs(project, 200)]
    picks = [ids[:150], ids[50:]]  # 100 outputs picked by both

    def add(chosen):
        return add_to_queue(project=project, queue=queue, output_ids=chosen, actor=lead)

    results, errors = run_at_once(add, [(chosen,) for chosen in picks * 2])  # each pick twice

    assert errors == []
    assert sorted(Item.objects.filter(queue=queue).values_list("output_id", flat=True)) == sorted(ids)
    # Each pick's twin (the same lead, the same outputs, at once) adds nothing, is not audited, and answers as the
    # pick that added them did (rules.twins).
    events = [event.details for event in AuditEvent.objects.filter(action="queue.outputs_added")]
    assert len(events) == 2 and sum(event["added"] for event in events) == 200
    assert sum(event["already_in"] for event in events) == 150 + 150 - 200
    recorded = sorted((event["added"], event["already_in"]) for event in events)
    assert sorted((result.added, result.already_in) for result in results) == sorted(recorded * 2)
    assert Slot.objects.count() == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_queue_paused_while_outputs_are_added_takes_none_of_them(project, lead):
    """A lead pauses the queue while another adds picked outputs to it (the add read the queue while it was active):
    the add waits for the pause and then refuses, as it refuses a queue it finds paused. It used to check the row it
    had read, and put the outputs into the paused queue, where no expert is handed them."""
    queue = make_queue(project)
    ids = [output.pk for output in make_outputs(project, 3)]
    pause = QueueValues(slug="refunds", name="Refunds", is_active=False)

    add_errors = waits_for_uncommitted(
        lambda: update_queue(queue=Queue.objects.get(pk=queue.pk), values=pause),
        lambda: add_to_queue(project=project, queue=queue, output_ids=ids, actor=lead),
    )

    assert [type(error) for error in add_errors] == [InvalidInput]
    assert "inactive" in str(add_errors[0])
    assert not Item.objects.filter(queue=queue).exists()
    assert not AuditEvent.objects.filter(action="queue.outputs_added").exists()


def test_a_queue_deleted_since_the_page_read_it_is_not_found(project, lead):
    """The admin deleted the queue after the lead's request read it: a 404 saying so, not a 500 (DoesNotExist)."""
    queue = make_queue(project)
    picked = make_outputs(project, 1)
    Queue.objects.filter(pk=queue.pk).delete()

    with pytest.raises(NotFound, match="No such queue"):
        add_to_queue(project=project, queue=queue, output_ids=[picked[0].pk], actor=lead)

    assert not Item.objects.exists() and not AuditEvent.objects.exists()
