"""Outputs deleted (an end user's erasure, the raw-retention purge) while routing places them in a queue: neither
fails, and no item outlives its output.

Routing reads a batch's outputs, then places them; a deleter reads their items, then deletes both. A placement
locks the outputs it places `FOR KEY SHARE` and a deleter locks them `FOR UPDATE` before reading their items, so
whichever comes second waits for the first and then sees what it did.
"""

from datetime import timedelta
from functools import partial

import pytest
from django.db import transaction
from django.utils import timezone

from labeling.models import Item, Output
from labeling.services.privacy import erase_end_user, purge_expired_outputs
from labeling.services.queues import QueueValues, create_queue
from labeling.services.routing import place_in_queue
from tests.factories import OutputFactory
from tests.helpers.concurrency import held_halfway, waiting_on_a_lock

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LONG_AGO = timedelta(days=60)


@pytest.fixture
def outputs(project):
    """Two outputs of the end user `u-gone` from long ago (what the deleters take), two of `u-stays` from now."""
    project.raw_retention_days = 30
    project.save(update_fields=["raw_retention_days"])
    gone = [
        OutputFactory(project=project, end_user_id="u-gone", occurred_at=timezone.now() - LONG_AGO) for _ in range(2)
    ]
    stays = [OutputFactory(project=project, end_user_id="u-stays") for _ in range(2)]
    return gone, stays


def erase(project) -> None:
    with transaction.atomic():  # as the API's request
        erase_end_user(project=project, end_user_id="u-gone")


def purge(project) -> None:
    purge_expired_outputs(project=project)


def only_the_staying_outputs_are_placed(project, stays) -> None:
    assert not Output.objects.filter(project=project, end_user_id="u-gone").exists()
    assert set(Item.objects.filter(project=project).values_list("output_id", flat=True)) == {o.pk for o in stays}


@pytest.mark.parametrize("delete", [erase, purge], ids=["an erasure", "the raw-retention purge"])
def test_a_placement_waits_for_a_deletion_in_flight_and_places_what_is_left(project, outputs, delete):
    """Routing read the outputs before the deletion committed: the placement used to fail whole on the foreign key
    once it did, and the batch's other outputs went unplaced."""
    gone, stays = outputs
    queue = create_queue(project=project, values=QueueValues(slug="all", name="All"))
    place = partial(place_in_queue, project=project, queue_id=queue.pk, outputs=gone + stays, within_quota=False)

    with held_halfway(partial(delete, project), "labeling_output"):  # the outputs locked, their DELETE waiting
        placement, errors = waiting_on_a_lock(place)
    placement.join(30)

    assert not errors
    only_the_staying_outputs_are_placed(project, stays)


@pytest.mark.parametrize("delete", [erase, purge], ids=["an erasure", "the raw-retention purge"])
def test_a_deletion_waits_for_a_placement_in_flight_and_deletes_the_items_it_made(project, outputs, delete):
    """The deletion read the outputs' items before the placement committed: it used to fail whole on the foreign
    key of the items made meanwhile (a 500 for an erasure)."""
    gone, stays = outputs
    queue = create_queue(project=project, values=QueueValues(slug="all", name="All"))
    place = partial(place_in_queue, project=project, queue_id=queue.pk, outputs=gone + stays, within_quota=False)

    with held_halfway(place, "labeling_slot"):  # the items made, not committed
        deletion, errors = waiting_on_a_lock(partial(delete, project))
    deletion.join(30)

    assert not errors
    only_the_staying_outputs_are_placed(project, stays)
