"""An item's gold answer becomes a lead's to decide (`item.needs_adjudication`, told to the webhooks) while its end
user is erased: one of the two used to be aborted by PostgreSQL's deadlock detector (a failed resolve task, or a 500
for the erasure's caller).

The resolve held the item's row and then inserted the delivery, whose foreign key takes the output `FOR KEY SHARE`;
the erasure locks the outputs first and then deletes their items. A resolve now takes the output first, as a flag or a
placement does (`routing.kept_from_deletion`): whichever comes second waits for the first.
"""

from functools import partial

import pytest

from labeling.models import Item, Output, Resolution, WebhookDelivery
from labeling.services import webhooks
from labeling.services.privacy import erase_end_user
from labeling.services.resolution import resolve_item, resolve_stale_items
from tests.helpers.concurrency import held_halfway, waiting_on_a_lock
from tests.helpers.labeling import TIE, label_outputs

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def adjudication_listener(project, lead):
    webhooks.create_endpoint(
        project=project, created_by=lead, url="https://hooks.example.com/in", events=["item.needs_adjudication"]
    )


def _resolve_one(item) -> None:
    resolve_item(item_id=item.pk)


def _resolve_the_week(item) -> None:  # the weekly close's first step
    resolve_stale_items(project_id=item.project_id)


@pytest.mark.parametrize("resolve", [_resolve_one, _resolve_the_week], ids=["resolve_item", "the close's resolve"])
def test_an_erasure_while_a_tie_is_told_to_the_webhooks_waits_for_it_and_deletes_the_delivery(
    project, adjudication_listener, resolve
):
    """The tie is stored and its delivery on its way in (not committed) when the erasure runs: the erasure waits for
    the resolve, then deletes the item, its gold answer and the delivery naming the output; neither side fails."""
    [item] = label_outputs(project, answers=TIE, resolve=False, end_user_id="u-gone")

    with held_halfway(partial(resolve, item), "labeling_webhookdelivery"):  # the tie stored, its delivery waiting
        erasing, errors = waiting_on_a_lock(partial(erase_end_user, project=project, end_user_id="u-gone"))
    erasing.join(30)

    assert not errors
    assert not Output.objects.exists() and not Item.objects.exists() and not Resolution.objects.exists()
    assert not WebhookDelivery.objects.exists()


def test_a_tie_resolved_during_the_erasure_of_its_end_user_waits_and_finds_the_item_gone(
    project, adjudication_listener
):
    """The other order: the erasure has deleted the item, not committed, when the resolve runs; it waits, then finds
    nothing to resolve and tells no webhook."""
    [item] = label_outputs(project, answers=TIE, resolve=False, end_user_id="u-gone")
    resolved: list = []

    with held_halfway(partial(erase_end_user, project=project, end_user_id="u-gone"), "labeling_auditevent"):
        resolving, errors = waiting_on_a_lock(lambda: resolved.append(resolve_item(item_id=item.pk)))
    resolving.join(30)

    assert not errors and resolved == [None]
    assert not Item.objects.exists() and not WebhookDelivery.objects.exists()
