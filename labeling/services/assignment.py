"""Hand items to experts: one slot per expert, never the same slot to two experts.

"Next item" takes a slot with one `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)` (priority,
then age): the row is chosen, locked and claimed by one statement. A slot counts as available when it
is free or its lease has run out, so an abandoned lease frees its slot the moment it expires:
correctness waits for no periodic job. An expert is never handed an item they hold a slot of (labeled
or leased) or skipped. See README.md beside this file.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from labeling.models import Item, Queue, Skip, Slot, SlotState
from labeling.rules.access import LabelingGrant, ensure_can_label
from labeling.rules.text import check_storable


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.LEASE_SECONDS)


def next_item(*, expert, queue: Queue, grant: LabelingGrant | None = None) -> Item | None:
    """Lease the expert a slot of the queue's most urgent item; resume their live lease if they hold one."""
    item_id = next_item_id(expert=expert, queue=queue, grant=grant)
    return Item.objects.select_related("output", "queue").get(pk=item_id) if item_id else None


def next_item_id(*, expert, queue: Queue, grant: LabelingGrant | None = None) -> int | None:
    """next_item, answering only the item's id (all a redirect to the item's page needs)."""
    ensure_can_label(expert, queue, grant)
    for _ in range(3):
        try:
            with transaction.atomic():
                return _resume(expert, queue) or _claim(expert, queue)
        except IntegrityError:
            # The same expert claimed this item from another tab at the same instant; take another.
            continue
    return None


# "Next item" runs on every label, so each step is one statement: the row is chosen, locked and
# updated in one round trip, with no ORM query to build (which cost more CPU than PostgreSQL did).
# The WHERE clauses are Slot.objects.available_to(expert, now) (labeling/models/review.py), in SQL; the
# ORDER BY is the slot_open_by_priority index, whose partial condition (state <> 'done') is repeated
# so that the planner uses it.
_RESUME_SQL = f"""
UPDATE {Slot._meta.db_table} SET lease_expires_at = %(until)s
WHERE id = (
    SELECT id FROM {Slot._meta.db_table}
    WHERE queue_id = %(queue)s AND expert_id = %(expert)s AND state = %(leased)s
    ORDER BY leased_at LIMIT 1 {{lock}}
)
RETURNING item_id
"""
_CLAIM_SQL = f"""
UPDATE {Slot._meta.db_table} SET state = %(leased)s, expert_id = %(expert)s, leased_at = %(now)s, lease_expires_at = %(until)s
WHERE id = (
    SELECT s.id FROM {Slot._meta.db_table} s
    WHERE s.queue_id = %(queue)s AND s.state <> %(done)s
      AND (s.state = %(free)s OR (s.state = %(leased)s AND s.lease_expires_at < %(now)s))
      AND NOT EXISTS (SELECT 1 FROM {Slot._meta.db_table} m WHERE m.item_id = s.item_id AND m.expert_id = %(expert)s)
      AND NOT EXISTS (SELECT 1 FROM {Skip._meta.db_table} k WHERE k.item_id = s.item_id AND k.expert_id = %(expert)s)
    ORDER BY s.priority DESC, s.item_id, s.number
    LIMIT 1 {{lock}}
)
RETURNING item_id
"""  # noqa: E501


def _run(sql: str, **params) -> int | None:
    """Run one of the statements above; the id of the item whose slot it leased, or None."""
    states = {"free": SlotState.FREE.value, "leased": SlotState.LEASED.value, "done": SlotState.DONE.value}
    # SQLite (the demo without DATABASE_URL) has no row locks: its transactions take the whole database.
    lock = "FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    with connection.cursor() as cursor:
        cursor.execute(sql.replace("{lock}", lock), params | states)
        row = cursor.fetchone()
    return row[0] if row else None


def _resume(expert, queue: Queue) -> int | None:
    """The expert's own lease in this queue (even if it ran out but nobody took it): extend it."""
    return _run(_RESUME_SQL, queue=queue.pk, expert=expert.pk, until=timezone.now() + lease_duration())


def _claim(expert, queue: Queue) -> int | None:
    """Lease the first available slot, by priority then age, of an item the expert neither holds nor skipped."""
    now = timezone.now()
    return _run(_CLAIM_SQL, queue=queue.pk, expert=expert.pk, now=now, until=now + lease_duration())


def claim_slot_for_submit(*, expert, item: Item, lease: tuple[int, datetime] | None = None) -> Slot | None:
    """Mark done the slot an expert's label fills: their own lease, else (it ran out and was taken) any
    slot of the item still available. None when every slot is held by others or done.

    `lease` is (slot id, leased_at) of the expert's lease as read under the item's row lock, if known:
    a conditional update then proves it is still theirs, without a SELECT … FOR UPDATE first.
    """
    if lease is None:
        own = Slot.objects.select_for_update().leased_to(expert).filter(item=item).only("pk", "leased_at").first()
        lease = (own.pk, own.leased_at) if own else None
    # The lease may have run out and gone to another expert since it was read: the update counts.
    if lease and Slot.objects.leased_to(expert).filter(pk=lease[0]).update(state=SlotState.DONE, lease_expires_at=None):
        return Slot(pk=lease[0], item_id=item.pk, expert_id=expert.pk, state=SlotState.DONE, leased_at=lease[1])
    now = timezone.now()
    spare = Slot.objects.select_for_update(skip_locked=True).available(now).filter(item=item).order_by("number").first()
    if spare is None:
        return None
    Slot.objects.filter(pk=spare.pk).update(state=SlotState.DONE, expert=expert, leased_at=now, lease_expires_at=None)
    spare.state, spare.expert_id, spare.leased_at, spare.lease_expires_at = SlotState.DONE, expert.pk, now, None
    return spare


@transaction.atomic
def skip_item(*, expert, item: Item, reason: str = "", grant: LabelingGrant | None = None) -> None:
    """Give the expert's slot back and never offer them this item again."""
    check_storable(reason=reason)
    ensure_can_label(expert, item.queue, grant)
    Skip.objects.get_or_create(item=item, expert=expert, defaults={"reason": reason.strip()[:500]})
    release_lease(expert=expert, item=item)


def release_lease(*, expert, item: Item) -> bool:
    """Free the expert's live lease on the item, if they hold one."""
    return bool(
        Slot.objects.leased_to(expert)
        .filter(item=item)
        .update(state=SlotState.FREE, expert=None, leased_at=None, lease_expires_at=None)
    )
