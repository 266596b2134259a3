"""Hand items to experts: one slot per expert, never the same slot to two experts.

"Next item" takes a slot with one `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)` (priority,
then age): the row is chosen, locked and claimed by one statement. Which slots it may take is the Slot
queryset's rule, written once in `labeling/models/review.py`: `available` (free, or its lease has run
out, so an abandoned lease frees its slot the moment it expires: correctness waits for no periodic job)
and `available_to` an expert (not on an item they hold a slot of, labeled or leased, or skipped). See
README.md beside this file.
"""

import functools
import inspect
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from labeling.exceptions import LeaseLost
from labeling.models import Item, Label, Project, Queue, Skip, Slot, SlotState
from labeling.rules.access import LabelingGrant, check_hands_out_items, ensure_can_label
from labeling.rules.prepared import PreparedUpdate, server_binding_cursor
from labeling.rules.text import check_storable, duration_in_words

from .redaction import lock_item_for_words, words_as_stored


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.LEASE_SECONDS)


def lease_lost() -> LeaseLost:
    """The refusal when the item went to another expert, in the expert's words (no "lease", no "slot")."""
    return LeaseLost(
        f"You had this item open longer than {duration_in_words(settings.LEASE_SECONDS)} without saving, "
        "so it went to another expert. Your answers were not saved."
    )


def next_item(*, expert, queue: Queue, grant: LabelingGrant | None = None) -> Item | None:
    """Lease the expert a slot of the queue's most urgent item; resume their live lease if they hold one.
    QueuePaused when the queue is paused and they hold none there: a paused queue hands out no new item."""
    item_id = next_item_id(expert=expert, queue=queue, grant=grant)
    return Item.objects.select_related("output", "queue").get(pk=item_id) if item_id else None


def next_item_id(*, expert, queue: Queue, grant: LabelingGrant | None = None) -> int | None:
    """next_item, answering only the item's id (all a redirect to the item's page needs)."""
    ensure_can_label(expert, queue, grant)
    for _ in range(3):
        try:
            # Each step is one statement, atomic by itself. Inside a caller's transaction a savepoint keeps it usable
            # after a failed claim; outside one (a label's next screen) no BEGIN and COMMIT: two round trips fewer.
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                return _resume(expert, queue) or _claim_new(expert, queue)
        except IntegrityError:
            # The same expert claimed this item from another tab at the same instant; take another.
            continue
    return None


# "Next item" runs on every label, so each step is one statement, `UPDATE … WHERE id = (SELECT … FOR
# UPDATE SKIP LOCKED LIMIT 1) RETURNING item_id`: the row is chosen, locked and claimed in one round trip.
# The SELECT is compiled from the Slot queryset rules (`available_to`, `leased_to`) once per process, with
# stand-in values that each call replaces: compiling the ORM query costs about 2 ms of CPU, more than the
# whole claim takes once compiled (measured on a queue of 40,000 slots; see the README). On PostgreSQL the
# claim's SELECT is written out instead (CLAIM_SQL, below), so that its plan cannot read the expert's history.
CLAIM_ORDER = ("-priority", "item_id", "number")  # the slot_open_by_priority index
_STAND_INS = {"expert": -1, "queue": -2, "now": datetime(2000, 1, 1, tzinfo=UTC)}


@dataclass(frozen=True, slots=True)
class _Named:
    """The place of a value given to `_run` by name."""

    name: str


def claimable(*, expert, queue: Queue, now: datetime) -> QuerySet[Slot]:
    """The queue's slots "next item" may lease to the expert at `now`, the one it takes first."""
    return Slot.objects.available_to(expert, now).filter(queue=queue).order_by(*CLAIM_ORDER)


def _own_lease(*, expert, queue: Queue) -> QuerySet[Slot]:
    """The expert's leases in the queue, the oldest first: a run-out one stays theirs until someone takes it."""
    return Slot.objects.leased_to(expert).filter(queue=queue).order_by("leased_at")


@functools.cache
def _statement(select: Callable[..., QuerySet[Slot]], columns: tuple[str, ...], vendor: str) -> tuple[str, tuple]:
    """`UPDATE slot SET <columns> WHERE id = (<select>'s first id, locked) RETURNING item_id` and its
    parameters, a `_Named` in the place of each column's value and each stand-in. `vendor` keys the cache:
    the SQL differs per database (SQLite has no row locks, so no FOR UPDATE)."""
    stand_ins = {name: _STAND_INS[name] for name in inspect.signature(select).parameters}
    chosen = select(**stand_ins).select_for_update(skip_locked=True).values("pk")[:1]
    with transaction.atomic():  # Django compiles FOR UPDATE only inside a transaction; nothing is run here
        sql, params = chosen.query.sql_with_params()
    names = {_adapted(value): name for name, value in stand_ins.items()}
    placed = tuple(_Named(names[v]) if isinstance(v, int | str | datetime) and v in names else v for v in params)
    # A stand-in the ORM changed on its way into the SQL would stay there, silently matching nothing.
    if {_Named(name) for name in stand_ins} - set(placed):
        raise RuntimeError(f"{select.__name__}: a stand-in value did not reach the compiled query")
    assignments = ", ".join(f"{column} = %s" for column in columns)
    update = f"UPDATE {Slot._meta.db_table} SET {assignments} WHERE id = ({sql}) RETURNING item_id"
    return update, tuple(_Named(column) for column in columns) + placed


def _adapted(value):
    """The value as the compiled query's parameters hold it (SQLite's hold datetimes as text)."""
    return connection.ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value


def _run(select: Callable[..., QuerySet[Slot]], *, expert, queue: Queue, now: datetime, **columns) -> int | None:
    """Set `columns` on the first slot `select` chooses, locked; the id of its item, or None when there is none."""
    sql, params = _statement(select, tuple(columns), connection.vendor)
    values = {name: _adapted(value) for name, value in columns.items()} | {
        "expert": expert.pk,
        "queue": queue.pk,
        "now": _adapted(now),
    }
    with server_binding_cursor(connection) as cursor:  # prepared by psycopg after a few runs: "next item" runs it
        cursor.execute(sql, [values[param.name] if isinstance(param, _Named) else param for param in params])
        row = cursor.fetchone()
    return row[0] if row else None


def _resume(expert, queue: Queue) -> int | None:
    """The expert's own lease in this queue (even if it ran out but nobody took it): extend it."""
    now = timezone.now()
    return _run(_own_lease, expert=expert, queue=queue, now=now, lease_expires_at=now + lease_duration())


def _claim_new(expert, queue: Queue) -> int | None:
    """`_claim`, in a queue that hands out new items. The queue was read by this request: a lead pausing it in the
    same instant may see one more item handed out, never a held one lost."""
    check_hands_out_items(queue)
    return _claim(expert, queue)


def _claim(expert, queue: Queue) -> int | None:
    """Lease the first claimable slot, by priority then age."""
    now = timezone.now()
    lease = {
        "state": SlotState.LEASED.value,
        "expert_id": expert.pk,
        "leased_at": now,
        "lease_expires_at": now + lease_duration(),
    }
    if connection.vendor != "postgresql":
        return _run(claimable, expert=expert, queue=queue, now=now, **lease)
    with server_binding_cursor(connection) as cursor:
        cursor.execute(CLAIM_SQL, lease | {"expert": expert.pk, "queue": queue.pk, "now": now})
        row = cursor.fetchone()
    return row[0] if row else None


# The claim on PostgreSQL: `claimable` (the same slots, the same order; a test compares the two), shaped
# so that no plan reads the expert's history. Written as `NOT EXISTS` in the WHERE clause, the planner
# turns "the expert holds no slot of the item" into an anti-join, and when statistics lag behind a grown
# history (a bulk import, autoanalyze not yet run) it expects one row and reads every slot of the expert
# (bench/claim_history.py: 10 ms at 50,000). Here each candidate, walked in priority order on
# slot_open_by_priority, is probed on its own item: the LATERAL subquery refers to the candidate, and
# OFFSET 0 keeps the planner from pulling it up into a join; so the work is the candidates passed over
# plus one probe of the candidate's item each, whatever the statistics say. In the probes the expert is
# compared as `expert_id + 0`, which no index can look up: with statistics taken while the table was
# bloated with dead rows, the planner took slot_expert_state for "the expert's slots, then this item" and
# read the expert's whole history (CI, stop 46: 5,015 rows against 14); now only the item's own slots (its
# overlap) are read. The lock, as before, falls only on the slot taken (FOR UPDATE OF the candidate, SKIP
# LOCKED).
CLAIM_SQL = f"""
UPDATE {Slot._meta.db_table}
   SET state = %(state)s, expert_id = %(expert_id)s, leased_at = %(leased_at)s,
       lease_expires_at = %(lease_expires_at)s
 WHERE id = (
    SELECT candidate.id
      FROM {Slot._meta.db_table} candidate
     CROSS JOIN LATERAL (
        SELECT 1
         WHERE NOT EXISTS (
                   SELECT 1 FROM {Slot._meta.db_table} held
                    WHERE held.item_id = candidate.item_id AND held.expert_id + 0 = %(expert)s)
           AND NOT EXISTS (
                   SELECT 1 FROM {Skip._meta.db_table} skipped
                    WHERE skipped.item_id = candidate.item_id AND skipped.expert_id + 0 = %(expert)s)
        OFFSET 0
     ) untouched
     WHERE candidate.queue_id = %(queue)s
       AND candidate.state <> '{SlotState.DONE.value}'
       AND (candidate.state = '{SlotState.FREE.value}'
            OR (candidate.state = '{SlotState.LEASED.value}' AND candidate.lease_expires_at < %(now)s))
     ORDER BY candidate.priority DESC, candidate.item_id, candidate.number
     LIMIT 1
       FOR UPDATE OF candidate SKIP LOCKED
 ) RETURNING item_id
"""


def claim_slot_for_submit(
    *, expert, item: Item, lease: tuple[int, datetime] | None = None, started_at: datetime | None = None
) -> Slot | None:
    """Mark done the slot an expert's label fills: their own lease, else (it ran out and was taken) any
    slot of the item still available. None when every slot is held by others or done.

    `lease` is (slot id, leased_at) of the expert's lease as read under the item's row lock, if known:
    a conditional update then proves it is still theirs, without a SELECT … FOR UPDATE first. `started_at`: when
    the expert began on the item, the spare slot's `leased_at` (the label's time is counted from it); else now.
    """
    if lease is None:
        own = Slot.objects.select_for_update().leased_to(expert).filter(item=item).only("pk", "leased_at").first()
        lease = (own.pk, own.leased_at) if own else None
    # The lease may have run out and gone to another expert since it was read: the update counts.
    if lease and _FILL_OWN_LEASE(slot_id=lease[0], expert_id=expert.pk):
        return Slot(pk=lease[0], item_id=item.pk, expert_id=expert.pk, state=SlotState.DONE, leased_at=lease[1])
    if lease and Label.objects.filter(item=item, expert=expert).exists():
        # The lease was filled by a twin of this label (the form posted twice at once) that committed while this one
        # waited for the item's lock: the lease read before was the statement's snapshot. No spare slot for a second.
        return None
    now = timezone.now()
    spare = _spare_slot(item, now)
    if spare is None:
        return None
    began = min(started_at, now) if started_at else now
    Slot.objects.filter(pk=spare.pk).update(state=SlotState.DONE, expert=expert, leased_at=began, lease_expires_at=None)
    spare.state, spare.expert_id, spare.leased_at, spare.lease_expires_at = SlotState.DONE, expert.pk, began, None
    return spare


def _spare_slot(item: Item, now: datetime) -> Slot | None:
    """One of the item's slots nobody holds now, locked (one another request holds is passed over)."""
    return Slot.objects.select_for_update(skip_locked=True).available(now).filter(item=item).order_by("number").first()


# Every first label fills its lease with this update: compiled once per process (rules.prepared).
_FILL_OWN_LEASE = PreparedUpdate(
    lambda *, slot_id, expert_id: Slot.objects.leased_to(expert_id).filter(pk=slot_id),
    lambda **_: {"state": SlotState.DONE, "lease_expires_at": None},
    slot_id=-7_000_003,
    expert_id=-7_000_001,
)


@transaction.atomic
def skip_item(*, expert, item: Item, reason: str = "", grant: LabelingGrant | None = None) -> bool:
    """Give the expert's slot back and never offer them this item again. False, changing nothing, when they labeled
    it (its screen shown again by Back or a second tab): their label stays, and a skip would count it twice."""
    check_storable(reason=reason)
    ensure_can_label(expert, item.queue, grant)
    if Label.objects.filter(item=item, expert=expert).exists():
        return False
    # An expert may paste the end user's address from the output: the project's redaction rules apply, read under
    # the item's lock as a flag's note or a comment is, so a `redact_outputs` batch does not miss the reason.
    reason = reason.strip()
    if reason:
        lock_item_for_words(item)
        reason = words_as_stored(item, reason, 500)
    Skip.objects.get_or_create(item=item, expert=expert, defaults={"reason": reason})
    release_lease(expert=expert, item=item)
    return True


@transaction.atomic
def undo_skip(*, expert, item: Item, grant: LabelingGrant | None = None) -> bool:
    """Hand the expert back an item they skipped: lease them one of its available slots and forget the skip. False,
    changing nothing, when none is available (other experts hold or filled them all since). QueuePaused, changing
    nothing, in a paused queue: handing it back is handing out an item. True, changing nothing, when the skip is gone
    and the expert holds the item: the same undo posted again (rules.twins)."""
    ensure_can_label(expert, item.queue, grant)
    check_hands_out_items(item.queue)
    # The skip's row lock makes an undo posted twice at the same instant wait for the first, then find it done.
    if Skip.objects.select_for_update().filter(item=item, expert=expert).values_list("pk", flat=True).first() is None:
        return Slot.objects.leased_to(expert).filter(item=item).exists()
    if not _lease_spare_slot(expert, item, timezone.now()):
        return False
    Skip.objects.filter(item=item, expert=expert).delete()
    return True


@transaction.atomic
def renew_lease(
    *, expert, item: Item, grant: LabelingGrant | None = None, started_at: datetime | None = None
) -> datetime | None:
    """Extend the expert's lease on the item to a lease length from now, while its screen is open and used; return when
    it now runs out. None, changing nothing, when they labeled the item: a label holds no lease. LeaseLost, changing
    nothing, when the item went to other experts, no slot left, or when they skipped it (in another tab).
    Idempotent: renewing twice is renewing once, later.

    A lease that ran out while nobody took the slot is still the expert's (`leased_to`): it is extended too; one another
    expert took is replaced by a slot of the item still free, if any (a late submit would use it too), leased since
    `started_at` (when the expert was shown the item, if known: the label's time is counted from it). What keeps
    an idle tab from holding an item for ever is the page (it renews only after recent input), and `next_item`, which
    hands a run-out lease to the next expert who asks."""
    ensure_can_label(expert, item.queue, grant)
    now = timezone.now()
    expires_at = now + lease_duration()
    if Slot.objects.leased_to(expert).filter(item=item).update(lease_expires_at=expires_at):
        return expires_at
    # The item's row lock, as their submit takes it: a label committed meanwhile is seen, and a submit at the same
    # moment (the Enter that submits also renews) waits and fills the slot leased here instead of taking another.
    lock_item_for_words(item)
    if Label.objects.filter(item=item, expert=expert).exists():
        return None
    if Skip.objects.filter(item=item, expert=expert).exists():
        raise LeaseLost("You skipped this item (in another tab or window): it is no longer yours to label.")
    if _lease_spare_slot(expert, item, now, leased_at=min(started_at, now) if started_at else now):
        return expires_at
    raise lease_lost()


def _lease_spare_slot(expert, item: Item, now: datetime, *, leased_at: datetime | None = None) -> bool:
    """Lease the expert one of the item's slots nobody holds (since `leased_at`, else now), under the item's row lock;
    False when none is free. True too when a twin request (a double click, another tab) leased them one first."""
    lock_item_for_words(item)
    spare = _spare_slot(item, now)
    if spare is None:
        return False
    try:
        with transaction.atomic():
            Slot.objects.filter(pk=spare.pk).update(
                state=SlotState.LEASED,
                expert=expert,
                leased_at=leased_at or now,
                lease_expires_at=now + lease_duration(),
            )
    except IntegrityError:
        pass  # the twin's slot is the expert's: one slot per expert and item
    return True


def release_lease(*, expert, item: Item) -> bool:
    """Free the expert's live lease on the item, if they hold one."""
    return bool(_free(Slot.objects.leased_to(expert).filter(item=item)))


def release_project_leases(*, expert, project: Project) -> int:
    """Free every slot the expert holds leased in the project's queues (they left, or may no longer label);
    return how many. Their leases in other projects stay."""
    return _free(Slot.objects.filter(queue__project=project).leased_to(expert))


def _free(leases: QuerySet[Slot]) -> int:
    # The one way a lease is given back: the slot is free and nobody's, so the next expert's next_item takes it.
    return leases.update(state=SlotState.FREE, expert=None, leased_at=None, lease_expires_at=None)
