"""Hand items to experts: one slot per expert, never the same slot to two experts.

"Next item" takes a slot with one `SELECT … FOR UPDATE SKIP LOCKED` (priority, then age) and claims
it in the same transaction. A slot counts as available when it is free or its lease has run out, so
an abandoned lease frees its slot the moment it expires: correctness waits for no periodic job. An
expert is never handed an item they hold a slot of (labeled or leased) or skipped. See README.md
beside this file.
"""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from labeling.models import Item, Queue, Skip, Slot, SlotState

from .access import check_can_label


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.LEASE_SECONDS)


def available_slots(now=None) -> Q:
    now = now or timezone.now()
    return Q(state=SlotState.FREE) | Q(state=SlotState.LEASED, lease_expires_at__lt=now)


def next_item(*, expert, queue: Queue) -> Item | None:
    """Lease the expert a slot of the queue's most urgent item; resume their live lease if they hold one."""
    check_can_label(expert, queue)
    for _ in range(3):
        try:
            with transaction.atomic():
                slot = _resume(expert, queue) or _claim(expert, queue)
            return Item.objects.select_related("output", "queue").get(pk=slot.item_id) if slot else None
        except IntegrityError:
            # The same expert claimed this item from another tab at the same instant; take another.
            continue
    return None


def _resume(expert, queue: Queue) -> Slot | None:
    """The expert's own lease in this queue (even if it ran out but nobody took it): extend it."""
    slot = (
        Slot.objects.select_for_update(skip_locked=True)
        .filter(queue=queue, expert=expert, state=SlotState.LEASED)
        .order_by("leased_at")
        .first()
    )
    if slot:
        Slot.objects.filter(pk=slot.pk).update(lease_expires_at=timezone.now() + lease_duration())
    return slot


def _claim(expert, queue: Queue) -> Slot | None:
    now = timezone.now()
    mine = Slot.objects.filter(item=OuterRef("item"), expert=expert)
    skipped = Skip.objects.filter(item=OuterRef("item"), expert=expert)
    slot = (
        Slot.objects.select_for_update(skip_locked=True)
        .filter(available_slots(now), queue=queue)
        .exclude(Exists(mine))
        .exclude(Exists(skipped))
        .order_by("-priority", "item_id", "number")
        .only("pk", "item_id")
        .first()
    )
    if slot is None:
        return None
    Slot.objects.filter(pk=slot.pk).update(
        state=SlotState.LEASED, expert=expert, leased_at=now, lease_expires_at=now + lease_duration()
    )
    return slot


def claim_slot_for_submit(*, expert, item: Item) -> Slot | None:
    """The slot an expert's label fills: their own lease, else (it ran out and was taken) any slot of
    the item still available. None when every slot is held by others or done."""
    own = Slot.objects.select_for_update().filter(item=item, expert=expert, state=SlotState.LEASED).first()
    if own:
        return own
    now = timezone.now()
    spare = (
        Slot.objects.select_for_update(skip_locked=True)
        .filter(available_slots(now), item=item)
        .order_by("number")
        .first()
    )
    if spare is None:
        return None
    Slot.objects.filter(pk=spare.pk).update(state=SlotState.LEASED, expert=expert, leased_at=now, lease_expires_at=now)
    spare.refresh_from_db()
    return spare


@transaction.atomic
def skip_item(*, expert, item: Item, reason: str = "") -> None:
    """Give the expert's slot back and never offer them this item again."""
    check_can_label(expert, item.queue)
    Skip.objects.get_or_create(item=item, expert=expert, defaults={"reason": reason.strip()[:500]})
    release_lease(expert=expert, item=item)


def release_lease(*, expert, item: Item) -> bool:
    """Free the expert's live lease on the item, if they hold one."""
    return bool(
        Slot.objects.filter(item=item, expert=expert, state=SlotState.LEASED).update(
            state=SlotState.FREE, expert=None, leased_at=None, lease_expires_at=None
        )
    )
