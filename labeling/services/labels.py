"""Record what experts say about an item: labels (validated, with history), flags and comments."""

from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from labeling.exceptions import CycleClosed, DomainError, FlagAlreadyResolved, InvalidInput, NotFound
from labeling.models import (
    AuditEvent,
    Comment,
    CycleStatus,
    Flag,
    Item,
    ItemStatus,
    Label,
    LabelRevision,
    RedactionRuleSet,
    ReviewCycle,
    Rubric,
    Skip,
    Slot,
    SlotState,
    week_label,
)
from labeling.rules.access import LabelingGrant, check_can_manage, check_member, ensure_can_label
from labeling.rules.prepared import Prepared, PreparedUpdate
from labeling.rules.text import FORMER_MEMBER, check_storable, counted, figure
from labeling.rules.twins import is_recent, twin_of

from . import webhook_events
from .answers import validate_answers
from .assignment import claim_slot_for_submit, lease_lost
from .redaction import lock_item_for_words, redact_answers, words_as_stored
from .resolution import enqueue_resolution
from .routing import kept_from_deletion

# Time on an item is measured from the lease; a tab left open overnight should not count as work.
MAX_SECONDS_PER_LABEL = 3600


@transaction.atomic
def submit_label(
    *,
    expert,
    item: Item,
    rubric: Rubric,
    answers: dict,
    grant: LabelingGrant | None = None,
    shown_at: datetime | None = None,
) -> Label:
    """Save the expert's label for the item, or replace their earlier one (its answers kept as history; the same
    answers again change nothing).

    Editing is allowed while the cycle of the item's week is open (CycleClosed after). A first label
    fills the expert's leased slot, even on an item of a closed week (late work on its backlog). If
    that lease ran out and another expert took the slot, a spare slot is used when the item still has
    one (its time counted from `shown_at`, when the expert was shown the item, if known); otherwise LeaseLost, and
    nothing is saved. `grant`: the request's check of the item's queue.
    """
    ensure_can_label(expert, item.queue, grant)
    if rubric.project_id != item.project_id:
        raise NotFound("No such rubric version.")
    clean = validate_answers(rubric.questions, answers)
    # The item row lock serialises labels of one item, so "all slots done" below is never stale. The
    # expert's label and lease are read in the same query (subqueries: only the item row is locked).
    rows = _LOCKED_ITEM(item_id=item.pk, expert_id=expert.pk)
    if not rows:
        raise Item.DoesNotExist("Item matching query does not exist.")  # as .get() would
    locked = rows[0]
    if locked["redacting"]:
        # Read under the item's lock, which a `redact_outputs` batch holds: its rules are the ones in force after it.
        clean = redact_answers(project=item.project, questions=rubric.questions, answers=clean)
    if locked["label_id"]:
        existing = Label.objects.get(pk=locked["label_id"])
        if existing.answers == clean and existing.rubric_id == rubric.pk:
            return existing  # the same answers again (the form posted twice): no edit, so no revision
        if ReviewCycle.objects.filter(project_id=item.project_id, week=item.week, status=CycleStatus.CLOSED).exists():
            raise CycleClosed(
                f"The week {week_label(item.week)} is closed: its labels went into the weekly report and "
                "datasets, so they can no longer be changed. Raise a flag or a comment instead."
            )
        LabelRevision.objects.create(
            label=existing, rubric_id=existing.rubric_id, answers=existing.answers, seconds_spent=existing.seconds_spent
        )
        existing.answers, existing.rubric = clean, rubric
        existing.save(update_fields=["answers", "rubric", "updated_at"])
        if locked["status"] == ItemStatus.COMPLETE:
            # An edited label changes the gold answer: the task recomputes it, and the weekly close does if the
            # task never ran (the flag is set under the item's row lock, which every resolve takes too).
            Item.objects.filter(pk=item.pk).update(gold_stale=True)
            enqueue_resolution(item.pk)
        return existing
    lease = (locked["lease_id"], locked["leased_at"]) if locked["lease_id"] else None
    slot = claim_slot_for_submit(expert=expert, item=item, lease=lease, started_at=shown_at)
    if slot is None:
        twin = Label.objects.filter(item=item, expert=expert).first()  # read now: committed while this one waited
        if twin is not None and twin.answers == clean and twin.rubric_id == rubric.pk:
            return twin  # the same form posted twice at once: the first saved it
        raise lease_lost()
    now = timezone.now()
    seconds = min(int((now - slot.leased_at).total_seconds()), MAX_SECONDS_PER_LABEL) if slot.leased_at else 0
    label = Label.objects.create(item=item, expert=expert, rubric=rubric, answers=clean, seconds_spent=seconds)
    if locked["skipped"]:
        # Skipped in another tab, labeled from this one: the label undoes the skip, so the item counts once.
        Skip.objects.filter(item=item, expert=expert).delete()
    # Complete once no slot is left undone: one conditional update, its count says whether it happened.
    if _COMPLETE_ITEM(item_id=item.pk, now=now):
        enqueue_resolution(item.pk)
    return label


# The two statements of every label that the ORM would build anew each time (rules.prepared: compiled once).
def _locked_item(*, item_id: int, expert_id: int):
    """The item's row, locked, with the expert's label and lease on it (subqueries: only the item row is locked)."""
    own_slot = Slot.objects.leased_to(expert_id).filter(item=OuterRef("pk"))
    return (
        Item.objects.select_for_update()
        .filter(pk=item_id)
        .annotate(
            label_id=Subquery(Label.objects.filter(item=OuterRef("pk"), expert=expert_id).values("pk")[:1]),
            lease_id=Subquery(own_slot.values("pk")[:1]),
            leased_at=Subquery(own_slot.values("leased_at")[:1]),
            skipped=Exists(Skip.objects.filter(item=OuterRef("pk"), expert=expert_id)),
            # Whether the project ever had redaction rules: only then are they read, for the free-text answers.
            redacting=Exists(RedactionRuleSet.objects.filter(project=OuterRef("project_id"))),
        )
        .values("status", "label_id", "lease_id", "leased_at", "skipped", "redacting")
    )


def _open_item_with_every_slot_done(*, item_id: int, now: datetime):
    undone = Slot.objects.filter(item=OuterRef("pk")).exclude(state=SlotState.DONE)
    return Item.objects.filter(~Exists(undone), pk=item_id, status=ItemStatus.OPEN)


def _completed(*, item_id: int, now: datetime) -> dict:
    return {"status": ItemStatus.COMPLETE, "completed_at": now, "gold_stale": True}


_STAND_INS = {"item_id": -7_000_002, "expert_id": -7_000_001}
_LOCKED_ITEM = Prepared(_locked_item, **_STAND_INS)
_COMPLETE_ITEM = PreparedUpdate(
    _open_item_with_every_slot_done, _completed, item_id=-7_000_002, now=datetime(2000, 1, 1, 0, 0, 7, tzinfo=UTC)
)


@transaction.atomic
def _keep_output_of(item: Item) -> None:
    """Hold the item's output (FOR KEY SHARE, as a placement does) until the transaction ends: an end user's erasure or
    the retention purge, which lock the outputs first, waits for this write and deletes it with them; NotFound when one
    has deleted the output (and the item) first."""
    if not kept_from_deletion([item.output_id]):
        raise NotFound("No such item: it was deleted with its output.")


@transaction.atomic
def flag_item(*, expert, item: Item, note: str) -> Flag:
    """Raise the item for the weekly review meeting (and tell the webhooks that listen: `output.flagged`, in the same
    transaction). An expert has one open flag per item: flagging it again changes that flag's note (the webhooks are
    not told again), so the meeting discusses it once; the same note posted again is the flag as it is."""
    check_member(expert, item.project)
    check_storable(note=note)
    note = note.strip()
    if not note:
        raise DomainError("Say in a few words why the item should be discussed.")
    _keep_output_of(item)
    _lock_for_twins(item)
    note = words_as_stored(item, note, 2000)
    # Under the item's lock: a second post at the same instant waits for the first and finds its flag.
    open_flag = Flag.objects.filter(item=item, expert=expert, resolved_at__isnull=True).first()
    if open_flag is not None:
        if open_flag.note != note:
            open_flag.note = note
            open_flag.save(update_fields=["note"])
        return open_flag
    flag = Flag.objects.create(item=item, expert=expert, note=note)
    webhook_events.output_flagged(flag)
    return flag


@transaction.atomic
def resolve_flag(*, lead, project, flag_id: int, note: str = "") -> Flag:
    """Mark the project's flag resolved (leads and admins), with an optional short note on how: it leaves the agenda of
    every meeting after. NotFound for a flag the project does not have; a flag resolved already is refused, unless this
    lead resolved it moments ago: the same post again is the first one (rules.twins)."""
    check_can_manage(lead, project)
    check_storable(note=note)
    note = note.strip()
    limit = Flag._meta.get_field("resolution_note").max_length
    if len(note) > limit:
        raise InvalidInput(
            f"A resolution note is at most {counted(limit, 'character')}; this one has {figure(len(note))}."
        )
    item = Item.objects.filter(project=project, flags__pk=flag_id).select_related("project").first()
    if item is None:
        raise NotFound("No such flag.")
    # The item's lock first (the order a `redact_outputs` batch takes), then the flag's: a resolve posted twice at the
    # same instant waits for the first and finds the flag resolved.
    lock_item_for_words(item)
    flag = Flag.objects.select_for_update(of=("self",)).select_related("resolved_by").get(pk=flag_id)
    if flag.is_resolved:
        if flag.resolved_by_id == lead.pk and is_recent(flag.resolved_at):
            return flag
        who = flag.resolved_by.username if flag.resolved_by else FORMER_MEMBER
        raise FlagAlreadyResolved(resolved_by=who, resolved_on=flag.resolved_at.date())
    flag.resolved_at, flag.resolved_by = timezone.now(), lead
    flag.resolution_note = words_as_stored(item, note, limit)
    flag.save(update_fields=["resolved_at", "resolved_by", "resolution_note"])
    AuditEvent.objects.create(
        project_id=project.pk,
        actor=lead,
        action="flag.resolved",
        # Not the note itself: the audit log keeps no copy of free text that redaction would have to find again.
        details={"flag": flag.pk, "item": item.pk, "with_note": bool(flag.resolution_note)},
    )
    return flag


@transaction.atomic
def comment_on_item(*, author, item: Item, body: str) -> Comment:
    """Add the author's comment to the item; the same comment posted again moments later is the first one."""
    check_member(author, item.project)
    body = body.strip()
    if not body:
        raise DomainError("A comment cannot be empty.")
    if "\x00" in body:
        raise DomainError("A comment may not contain NUL characters.")
    _keep_output_of(item)
    _lock_for_twins(item)
    body = words_as_stored(item, body, 5000)
    return twin_of(Comment.objects.filter(item=item, author=author, body=body)) or Comment.objects.create(
        item=item, author=author, body=body
    )


def _lock_for_twins(item: Item) -> None:
    """Take the item's row lock, so a flag or comment posted twice at the same instant waits for the first and finds
    it (rules.twins); the same lock a `redact_outputs` batch holds (`lock_item_for_words`)."""
    lock_item_for_words(item)
