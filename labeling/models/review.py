"""What experts work on: items placed in queues, their label slots, labels, skips, flags and comments."""

from datetime import date, datetime

from django.conf import settings
from django.db import models

from .outputs import Output
from .projects import Project
from .queues import Queue
from .rubrics import Rubric


class ItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETE = "complete", "Complete"


class ItemQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status=ItemStatus.OPEN)


class Item(models.Model):
    """An output placed in a queue. `week` is the first day of the cycle week (project time zone) of
    the output, which the queue's weekly quota counts against. `overlap` and `priority` are copied
    from the queue when the item is made, so editing a queue never changes work already handed out."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="items")
    output = models.ForeignKey(Output, on_delete=models.CASCADE, related_name="items")
    week = models.DateField()
    overlap = models.PositiveSmallIntegerField()
    priority = models.SmallIntegerField(default=0)
    status = models.CharField(max_length=16, choices=ItemStatus, default=ItemStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # True until the gold answer is computed from the item's current labels; editing a label sets it again.
    # The weekly close resolves only these items (a partial index), not every resolution ever made.
    gold_stale = models.BooleanField(default=True, db_default=True)

    objects = ItemQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "output"], name="item_one_per_queue_and_output"),
            models.CheckConstraint(condition=models.Q(overlap__gte=1, overlap__lte=10), name="item_overlap_range"),
        ]
        indexes = [
            models.Index(fields=["queue", "week"], name="item_queue_week"),
            # The week's counts on every labeling screen: its complete items, and the open ones of earlier weeks,
            # without reading the queue's history (selectors.work.queues_for_labeler).
            models.Index(fields=["queue", "status", "week"], name="item_queue_status_week"),
            models.Index(
                fields=["queue", "-priority", "id"], name="item_open_by_priority", condition=models.Q(status="open")
            ),
            models.Index(
                fields=["project", "week"],
                name="item_gold_stale",
                condition=models.Q(status="complete", gold_stale=True),
            ),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} ({self.queue_id}:{self.output_id})"


class SlotState(models.TextChoices):
    FREE = "free", "Free"
    LEASED = "leased", "Leased"
    DONE = "done", "Done"


class SlotQuerySet(models.QuerySet):
    """Which slots may be handed out, written once for "next item", a late submit and the expert's screens.

    `available` is the slot's own state; `available_to` adds what one expert did with the item. A slot
    that is not done always belongs to an open item (an item completes only once its last slot is done),
    so the item's status needs no join here. Membership, queue eligibility and whether the queue is active
    are rules of the queue, not of its slots: `rules.access` decides the first two once per request, and
    an inactive queue only stops receiving outputs (its placed items can still be labeled).
    """

    def available(self, now: datetime) -> "SlotQuerySet":
        """Slots anyone could be handed at `now`: free, or leased with the lease run out."""
        # `state <> 'done'` follows from the rest; it is written so the planner uses the partial
        # slot_open_by_priority index.
        return self.exclude(state=SlotState.DONE).filter(
            models.Q(state=SlotState.FREE) | models.Q(state=SlotState.LEASED, lease_expires_at__lt=now)
        )

    def available_to(self, expert, now: datetime) -> "SlotQuerySet":
        """`available` slots of items the expert holds no slot of (leased or labeled) and did not skip."""
        return self.available(now).filter(untouched_by(expert, item="item_id"))

    def leased_to(self, expert) -> "SlotQuerySet":
        """The expert's leases, run out or not: a lease stays its expert's until someone else takes the slot."""
        return self.filter(expert=expert, state=SlotState.LEASED)

    def live_leases(self, now: datetime) -> "SlotQuerySet":
        """Leases that have not run out at `now`: every leased slot that `available` leaves out."""
        return self.filter(state=SlotState.LEASED, lease_expires_at__gte=now)


def untouched_by(expert, *, item: str) -> models.Q:
    """The item (the outer row's column `item`) is one the expert holds no slot of, leased or labeled, and did
    not skip: the expert's part of `available_to`, for a query over items as well as over slots."""
    return models.Q(
        ~models.Exists(Slot.objects.filter(item=models.OuterRef(item), expert=expert)),
        ~models.Exists(Skip.objects.filter(item=models.OuterRef(item), expert=expert)),
    )


class Slot(models.Model):
    """One of an item's `overlap` labels-to-be. Handing it to an expert is an update of this row,
    taken with SELECT … FOR UPDATE SKIP LOCKED, so no two experts ever hold the same slot. A lease
    whose time has passed counts as free at once: no periodic job has to release it first."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="slots")
    # Copied from the item so that "next item" is one index scan over one table.
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="slots")
    priority = models.SmallIntegerField(default=0)
    number = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=16, choices=SlotState, default=SlotState.FREE)
    # No index of its own: slot_expert_state leads with it. With statistics older than an expert's history,
    # the planner believes any lookup by expert finds one row, and would pick the smallest index that has
    # the column, reading all the expert's slots to find their one lease.
    expert = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="slots",
        db_index=False,
    )
    leased_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    objects = SlotQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "number"], name="slot_unique_number"),
            # One slot per expert per item: an expert never labels the same item twice. Not partial on
            # `expert IS NOT NULL` (free slots' NULLs are distinct anyway): an index ANALYZEd while nobody held
            # a slot is believed empty, however large it grows, and the planner then scans all of it for one
            # expert's slots (bench/claim_history.py).
            models.UniqueConstraint(fields=["item", "expert"], name="slot_one_per_expert"),
            models.CheckConstraint(
                condition=models.Q(state="free", expert__isnull=True) | ~models.Q(state="free"),
                name="slot_free_has_no_expert",
            ),
        ]
        indexes = [
            models.Index(fields=["expert", "state"], name="slot_expert_state"),
            models.Index(fields=["item", "state"], name="slot_item_state"),
            models.Index(
                fields=["queue", "-priority", "item", "number"],
                name="slot_open_by_priority",
                condition=~models.Q(state="done"),
            ),
        ]

    def __str__(self) -> str:
        return f"slot {self.number} of item {self.item_id} ({self.state})"


class LabelQuerySet(models.QuerySet):
    def on_items_of_week(self, week: date) -> "LabelQuerySet":
        """Labels on the items of a cycle week (the week their outputs occurred in), whenever they were saved.

        What "labels this week" means on every page (the meeting and platform pages, the experts, members and
        project pages): the week's items are what its quotas cap and its report judges, so a label saved on
        Monday on last week's leftover item is last week's.
        """
        return self.filter(item__week=week)


class Label(models.Model):
    """An expert's answers for an item, validated against the rubric version they were shown."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="labels")
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="labels")
    # RESTRICT, not PROTECT: a rubric version in use cannot be deleted, except with its whole project.
    rubric = models.ForeignKey(Rubric, on_delete=models.RESTRICT, related_name="labels")
    answers = models.JSONField()
    seconds_spent = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LabelQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "expert"], name="label_one_per_expert_and_item")]
        indexes = [models.Index(fields=["expert", "-created_at"], name="label_expert_recent")]

    def __str__(self) -> str:
        return f"label by {self.expert_id} on item {self.item_id}"


class LabelRevision(models.Model):
    """The answers a label had before an edit: history is kept, never overwritten."""

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="revisions")
    rubric = models.ForeignKey(Rubric, on_delete=models.RESTRICT, related_name="+")
    answers = models.JSONField()
    seconds_spent = models.PositiveIntegerField(default=0)
    replaced_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"revision of label {self.label_id} ({self.replaced_at:%Y-%m-%d %H:%M})"


class Skip(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="skips")
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skips")
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "expert"], name="skip_one_per_expert_and_item")]

    def __str__(self) -> str:
        return f"skip by {self.expert_id} of item {self.item_id}"


class Flag(models.Model):
    """An item raised for the weekly review meeting."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="flags")
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="flags")
    note = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by a lead on the item's adjudication page once the meeting has dealt with it: an open flag is on every
    # later agenda until then (services.labels.resolve_flag).
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.CharField(max_length=500, blank=True)

    class Meta:
        # One open flag per expert and item: flagging again changes its note (services.labels.flag_item).
        constraints = [
            models.UniqueConstraint(
                fields=["item", "expert"], condition=models.Q(resolved_at__isnull=True), name="flag_one_open_per_expert"
            )
        ]
        indexes = [models.Index(fields=["item"], name="flag_item")]

    def __str__(self) -> str:
        return f"flag on item {self.item_id}: {self.note[:40]}"

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None


class Comment(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments")
    body = models.TextField(max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"comment on item {self.item_id}"
