"""Reads behind the expert's screens: their queues with this week's progress, and the items they hold.

Every function here runs a fixed number of queries, however many queues, items or labels there are:
counts are correlated subqueries annotated onto one query, never a query per row.
"""

from datetime import datetime

from django.db.models import Count, Exists, IntegerField, JSONField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.models import Comment, Item, ItemStatus, Label, Output, Project, Queue, Slot
from labeling.models.review import untouched_by
from labeling.rules.access import labeling_annotations
from labeling.rules.calendar import cycle_week, week_start


def _count(queryset: QuerySet, group_by: str) -> Coalesce:
    """COUNT(*) of a correlated subquery, 0 when it has no rows."""
    counted = queryset.order_by().values(group_by).annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def queues_for_labeler(user, project: Project, *, now: datetime | None = None) -> QuerySet[Queue]:
    """The project's active queues the user may label in, with this week's progress, in one query.

    Each queue carries `done_this_week` (items of the current cycle week that are complete),
    `placed_this_week`, `my_labels_this_week` (labels the user saved since the week began) and
    `waiting_for_me` (open items the user could be handed now, or holds a live lease on).
    """
    now = now or timezone.now()
    week = cycle_week(project, now)
    eligible = Queue.eligible_experts.through.objects.filter(queue_id=OuterRef("pk"))
    this_week = Item.objects.filter(queue=OuterRef("pk"), week=week)
    my_labels = Label.objects.filter(item__queue=OuterRef("pk"), expert=user, created_at__gte=week_start(project, week))
    return (
        Queue.objects.active()
        .filter(project=project)
        .filter(~Exists(eligible) | Exists(eligible.filter(user_id=user.pk)))
        .annotate(
            done_this_week=_count(this_week.filter(status=ItemStatus.COMPLETE), "queue"),
            placed_this_week=_count(this_week, "queue"),
            my_labels_this_week=_count(my_labels, "item__queue"),
            waiting_for_me=_count(_waiting_items(user, now).filter(queue=OuterRef("pk")), "queue"),
        )
        .order_by("-priority", "slug")
    )


def _waiting_items(user, now: datetime) -> QuerySet[Item]:
    """Open items "next item" could hand the user (`Slot.objects.available_to`), or already did."""
    slots = Slot.objects.filter(item=OuterRef("pk"))
    # The expert's part is asked once per item, not per slot: the per-slot form counted 9 times slower.
    claimable = Exists(slots.available(now)) & untouched_by(user, item="pk")
    return Item.objects.open().filter(claimable | Exists(slots.leased_to(user)))


def held_by(user) -> Q:
    """Items the user may open: they hold a leased slot of it, or labeled it. Blind labeling: no other."""
    return Q(
        Exists(Slot.objects.leased_to(user).filter(item=OuterRef("pk")))
        | Exists(Label.objects.filter(item=OuterRef("pk"), expert=user))
    )


def queue_for_labeler(user, project_slug: str, queue_slug: str, *, with_next: bool = False) -> Queue | None:
    """The queue with its project, annotated for `access.grant_from` (`member_role`, `queue_admits`); one query.

    `with_next` adds, in the same query and without leasing anything, `held_item_id` (the item of the
    user's own lease here, as "next item" would resume it) and `has_waiting` (an item could be claimed).
    """
    annotations = labeling_annotations(user, project="project_id", queue="pk")
    if with_next:
        own_lease = Slot.objects.leased_to(user).filter(queue=OuterRef("pk")).order_by("leased_at")
        annotations |= {
            "held_item_id": Subquery(own_lease.values("item_id")[:1]),
            "has_waiting": Exists(_waiting_items(user, timezone.now()).filter(queue=OuterRef("pk"))),
        }
    return (
        Queue.objects.select_related("project")
        .filter(project__slug=project_slug, slug=queue_slug)
        .annotate(**annotations)
        .first()
    )


def item_for_labeler(user, project_slug: str, item_id: int, *, handed: bool = False) -> Item | None:
    """The project's item if the user holds it (or, `handed`, was shown it), in one query.

    Loaded with its project, queue and output, and annotated with `member_role` and `queue_admits`
    (for `access.grant_from`) and `own_answers` (the user's label's answers, None if not labeled).
    `handed` is only for a caller that proved the user was shown the item (a signed form token).
    """
    items = Item.objects.select_related("output", "queue", "project").filter(pk=item_id, project__slug=project_slug)
    if not handed:
        items = items.filter(held_by(user))
    own = Label.objects.filter(item=OuterRef("pk"), expert_id=user.pk).values("answers")[:1]
    item = items.annotate(
        **labeling_annotations(user, project="project_id", queue="queue_id"),
        own_answers=Subquery(own, output_field=JSONField()),
    ).first()
    if item is not None:
        item.queue.project = item.project
    return item


def comments_on(item: Item) -> QuerySet[Comment]:
    return Comment.objects.filter(item=item).select_related("author").order_by("created_at", "pk")


def latest_outputs(project: Project, *, limit: int = 10) -> QuerySet[Output]:
    fields = ["pk", "occurred_at", "end_user_id", "model", "output", "feedback_score", "feedback_comment"]
    return Output.objects.filter(project=project).only(*fields).order_by("-occurred_at", "-pk")[:limit]
