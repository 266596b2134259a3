"""The expert's reads (`selectors.work`) read what they answer, not the queue's every slot."""

import pytest

from labeling.models import Item, Label, Queue, Slot
from labeling.selectors import work
from labeling.services import assignment
from tests.helpers.labeling import make_items
from tests.helpers.plans import analyze, rows_handled


@pytest.mark.postgres
def test_whether_an_item_waits_is_asked_of_the_first_items_not_of_every_slot(project, expert, rubric):
    """ "Next item" without a held item asks whether one waits (`has_waiting`: the button, or the done page). Under one
    OR of its two kinds (claimable, leased to the expert) PostgreSQL hashed every free slot of the queue first
    (46 ms at 100,000 open items); asked apart, each stops at the first item."""
    queue = Queue.objects.create(project=project, slug="all", name="All answers")
    make_items(project, 1_200)
    assignment.next_item(expert=expert, queue=queue)
    analyze(Item, Slot, Label)

    handled = rows_handled(lambda: work.queue_for_labeler(expert, project.slug, queue.slug, with_next=True))

    assert work.queue_for_labeler(expert, project.slug, queue.slug, with_next=True).has_waiting
    assert handled <= 200, handled  # before: 1,213 (every slot), now 22


@pytest.mark.parametrize("item_id", [2**63, 2**64, -(2**63) - 1])
def test_an_item_id_past_64_bits_is_not_handed_back_and_the_database_is_not_asked(
    project, expert, item_id, django_assert_num_queries
):
    """An undo of a skip posted for an id no item can have (`rules.ids.fits_an_id`): answered without a query, on
    either database. SQLite would refuse the number (OverflowError, a 500: the web test of `/unskip` catches that one
    only there); PostgreSQL would run a query for nothing."""
    with django_assert_num_queries(0):
        assert work.handed_back_moments_ago(expert, project.slug, item_id) is False
