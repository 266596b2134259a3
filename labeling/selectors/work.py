"""Reads behind the expert's screens: their queues with this week's progress, and the items they hold.

Every function here runs a fixed number of queries, however many queues, items or labels there are:
counts are correlated subqueries annotated onto one query, never a query per row.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import partial

from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    Count,
    DateField,
    DateTimeField,
    Exists,
    Expression,
    Field,
    IntegerField,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.models import (
    Comment,
    CycleStatus,
    Flag,
    Item,
    ItemStatus,
    Label,
    Output,
    Project,
    Queue,
    ReviewCycle,
    Rubric,
    Skip,
    Slot,
)
from labeling.models.review import untouched_by
from labeling.rules.access import labeling_annotations, labels_that_unblind, queue_admits
from labeling.rules.calendar import cycle_week, earliest_label_on_week
from labeling.rules.ids import fits_an_id
from labeling.rules.prepared import Prepared
from labeling.rules.twins import twin_of

# The week's counts are on every labeling screen (every label): each is counted only so far, so its cost stops
# growing with the queue. A count over its limit is limit + 1, shown as "100+" (templatetags `counted`). Waiting items
# cost a few index probes each (is a slot free, has the user touched or skipped it); the week's items one index entry.
WAITING_COUNTED_TO = 100
WEEK_COUNTED_TO = 1_000


class _CountedUpTo(Subquery):
    """COUNT(*) of a correlated subquery's first rows: `(SELECT COUNT(*) FROM (… LIMIT n) AS counted)`."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) AS counted)"
    output_field = IntegerField()


def _count(queryset: QuerySet, group_by: str) -> Coalesce:
    """COUNT(*) of a correlated subquery, 0 when it has no rows."""
    counted = queryset.order_by().values(group_by).annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _count_up_to(queryset: QuerySet, limit: int, *, walk: str | None = None) -> _CountedUpTo:
    """COUNT(*) of a correlated subquery, stopping at limit + 1 rows (the count says "more than limit"); `walk` orders
    the rows by an indexed column, where the planner would otherwise pick a scan that reads them all."""
    return _CountedUpTo(queryset.order_by(*[walk] if walk else []).values("pk")[: limit + 1])


def queues_for_labeler(user, project: Project, *, now: datetime | None = None) -> QuerySet[Queue]:
    """The project's active queues the user may label in, with this week's progress, in one query.

    Each queue carries `done_this_week` (items of the current cycle week that are complete) of `placed_this_week`
    (items placed in that week, what the quota caps), both counted up to WEEK_COUNTED_TO (a count past it is
    WEEK_COUNTED_TO + 1), `my_labels_this_week` (the user's labels on that week's items,
    `Label.objects.on_items_of_week`, as every page counts labels this week), `waiting_for_me` (open items the user
    could be handed now, or holds a live lease on) and `waiting_from_earlier_weeks` (those of them placed before this
    week: why more can wait than this week's "placed" says), both counted up to WAITING_COUNTED_TO.

    A paused queue (`is_active` false) is among them only while the user still holds an item there, with
    `held_item_id`, the item "next item" would resume (None in an active queue): a paused queue hands out nothing new,
    but what the user holds stays theirs to finish, and the pages link to it.
    """
    return queues_for_labeler_in(user, [project], now=now)


def queues_for_labeler_in(user, projects: Sequence[Project], *, now: datetime | None = None) -> QuerySet[Queue]:
    """`queues_for_labeler` for several projects at once, still one query (the home page's): each queue's week is
    its own project's running cycle week. The caller passes only projects the user labels in."""
    now = now or timezone.now()
    weeks = {project.pk: cycle_week(project, now) for project in projects}
    saved_since = {project.pk: earliest_label_on_week(project, weeks[project.pk]) for project in projects}
    return _queues_for_labeler(user, weeks, saved_since, now)


def _queues_for_labeler(
    user, weeks: dict[int, date], saved_since: dict[int, datetime], now: datetime
) -> QuerySet[Queue]:
    """`queues_for_labeler_in` of the projects in `weeks` (each one's running week), the user's labels of the week
    searched from `saved_since` (`earliest_label_on_week`)."""
    this_week = Item.objects.filter(queue=OuterRef("pk"), week=OuterRef("running_week"))
    # Only the user's labels saved since the week's items could be labeled (label_expert_recent), not their history.
    my_labels = Label.objects.on_items_of_week(OuterRef("running_week")).filter(
        item__queue=OuterRef("pk"), expert=user, created_at__gte=OuterRef("labels_saved_since")
    )
    # The oldest first, as next_item resumes them; a run-out lease stays the user's until someone takes the slot.
    held = Slot.objects.leased_to(user).filter(queue=OuterRef("pk")).order_by("leased_at")
    return (
        Queue.objects.filter(Q(is_active=True) | Exists(held))
        .filter(project_id__in=list(weeks))
        .filter(queue_admits(user, OuterRef("pk")))
        .alias(
            running_week=_by_project(weeks, DateField()),
            labels_saved_since=_by_project(saved_since, DateTimeField()),
        )
        .annotate(
            held_item_id=Case(When(is_active=False, then=Subquery(held.values("item_id")[:1]))),
            done_this_week=_count_up_to(this_week.filter(status=ItemStatus.COMPLETE), WEEK_COUNTED_TO),
            placed_this_week=_count_up_to(this_week, WEEK_COUNTED_TO),
            my_labels_this_week=_count(my_labels, "item__queue"),
            waiting_for_me=_waiting_count(user, now),
            waiting_from_earlier_weeks=_waiting_count(user, now, week__lt=OuterRef("running_week")),
        )
        .order_by("project_id", "-priority", "slug")
    )


def queue_week_for_labeler(user, queue: Queue, *, now: datetime | None = None) -> Queue | None:
    """The queue with `queues_for_labeler`'s counts of this week, for the labeling screen (on every label); one query,
    compiled once per process (`Prepared`: building it took several times what PostgreSQL takes to run it). None when
    the user is not handed items there any more (a paused queue where they hold nothing)."""
    now = now or timezone.now()
    week = cycle_week(queue.project, now)
    rows = _QUEUE_WEEK(
        user_id=user.pk,
        project_id=queue.project_id,
        queue_id=queue.pk,
        running_week=week,
        labels_saved_since=earliest_label_on_week(queue.project, week),
        now=now,
    )
    return rows[0] if rows else None


def _queue_week_query(*, user_id, project_id, queue_id, running_week, labels_saved_since, now) -> QuerySet[Queue]:
    user = get_user_model()(pk=user_id)
    return _queues_for_labeler(user, {project_id: running_week}, {project_id: labels_saved_since}, now).filter(
        pk=queue_id
    )[:1]


_QUEUE_WEEK = Prepared(
    _queue_week_query,
    user_id=-7_000_011,
    project_id=-7_000_012,
    queue_id=-7_000_013,
    running_week=date(1901, 1, 7),
    labels_saved_since=datetime(1901, 1, 1, 1, 1, 1, tzinfo=UTC),
    now=datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC),
)


def _by_project(values: dict[int, object], field: Field) -> Expression:
    """The value of the row's project, from a dict by project id (a constant when there is one project)."""
    if len(values) == 1:
        return Value(next(iter(values.values())), output_field=field)
    return Case(*[When(project_id=pk, then=Value(value)) for pk, value in values.items()], output_field=field)


def _waiting_parts(user, now: datetime) -> tuple[Q, Q]:
    """The two kinds of the items waiting for the user, which no item is both of: claimable (`Slot.objects.available`,
    and the user holds no slot of it), and leased to the user ("next item" handed it already).

    Each is asked on its own (two subqueries, never one under an OR): under an OR PostgreSQL hashes every free slot
    and every slot the user ever held before it looks at the first item (46 ms at 100,000 open items); alone each is
    an index probe per item."""
    slots = Slot.objects.filter(item=OuterRef("pk"))
    # The expert's part is asked once per item, not per slot: the per-slot form counted 9 times slower.
    claimable = Exists(slots.available(now)) & untouched_by(user, item="pk")
    return Q(claimable), Q(Exists(slots.leased_to(user)))


def _waiting_count(user, now: datetime, **within) -> Expression:
    """How many items wait for the user in the outer queue (and `within`): each kind (`_waiting_parts`) counted up to
    WAITING_COUNTED_TO + 1, so a sum past WAITING_COUNTED_TO says "more". Walked by week (item_queue_status_week):
    believing many open items are of earlier weeks, the planner merge-joined over every item by id and read all
    100,000 to find none (29 ms).
    """
    items = Item.objects.open().filter(queue=OuterRef("pk"), **within)
    claimable, leased = _waiting_parts(user, now)
    return _count_up_to(items.filter(claimable), WAITING_COUNTED_TO, walk="week") + _count_up_to(
        items.filter(leased), WAITING_COUNTED_TO
    )


def _any_waiting(user, now: datetime) -> Q:
    """Whether an item waits for the user in the outer queue (`_waiting_parts`)."""
    items = Item.objects.open().filter(queue=OuterRef("pk"))
    claimable, leased = _waiting_parts(user, now)
    return Q(Exists(items.filter(claimable))) | Q(Exists(items.filter(leased)))


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
            "has_waiting": _any_waiting(user, timezone.now()),
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
    (for `access.grant_from`), `own_answers` (the user's label's answers, None if not labeled), `own_rubric_id` (the
    rubric version they answered), `own_lease_expires_at` (when their lease on it runs out, None without one),
    `own_flag_note` (the note of the user's open flag on it, None without one), `current_rubric_id` (the project's
    current rubric version, None before one is published), `last_rubric_id` (the version of the user's newest label in
    the project, None before their first: what changed since is news to them) and `week_closed` (whether the cycle of
    the item's week is closed).
    `handed` is only for a caller that proved the user was shown the item (a signed form token).
    """
    # Every label runs this twice (the item labeled, then the next one's screen): compiled once per process.
    prepared = _HANDED_ITEM if handed else _HELD_ITEM
    items = prepared(user_id=user.pk, project_slug=project_slug, item_id=item_id)
    item = items[0] if items else None
    if item is not None:
        item.queue.project = item.project
    return item


def _item_for_labeler_query(*, user_id: int, project_slug: str, item_id: int, handed: bool) -> QuerySet[Item]:
    """item_for_labeler's queryset (as `.first()` would run it), for `Prepared`."""
    user = get_user_model()(pk=user_id)
    items = Item.objects.select_related("output", "queue", "project").filter(pk=item_id, project__slug=project_slug)
    if not handed:
        items = items.filter(held_by(user))
    own = Label.objects.filter(item=OuterRef("pk"), expert_id=user.pk)
    return items.annotate(
        **labeling_annotations(user, project="project_id", queue="queue_id"),
        own_answers=Subquery(own.values("answers")[:1], output_field=JSONField()),
        own_rubric_id=Subquery(own.values("rubric_id")[:1]),
        own_lease_expires_at=Subquery(
            Slot.objects.leased_to(user).filter(item=OuterRef("pk")).values("lease_expires_at")[:1]
        ),
        own_flag_note=Subquery(
            Flag.objects.filter(item=OuterRef("pk"), expert_id=user.pk, resolved_at__isnull=True).values("note")[:1]
        ),
        current_rubric_id=Subquery(
            Rubric.objects.filter(project=OuterRef("project_id")).order_by("-version")[:1].values("pk")
        ),
        # Newest first on the label_expert_recent index: stops at the user's first label in this project.
        last_rubric_id=Subquery(
            Label.objects.filter(expert_id=user.pk, rubric__project=OuterRef("project_id"))
            .order_by("-created_at")
            .values("rubric_id")[:1]
        ),
        week_closed=Exists(
            ReviewCycle.objects.filter(project=OuterRef("project_id"), week=OuterRef("week"), status=CycleStatus.CLOSED)
        ),
    ).order_by("pk")[:1]


# Stand-ins no request passes: negative ids, and a slug that no project's slug can be (a SlugField has no space).
_STAND_INS = {"user_id": -7_000_001, "project_slug": "prepared stand-in", "item_id": -7_000_002}
_HELD_ITEM = Prepared(partial(_item_for_labeler_query, handed=False), **_STAND_INS)
_HANDED_ITEM = Prepared(partial(_item_for_labeler_query, handed=True), **_STAND_INS)


def skipped_item_for_labeler(user, project_slug: str, item_id: int) -> Item | None:
    """The project's item if the user skipped it, for its read-only page (Back after a skip lands there); one query.

    Blind labeling holds: the user was shown this item before skipping it, and sees no one's answers on it. Loaded
    like `item_for_labeler` (project, queue, output, `member_role`, `queue_admits`), with the skip's `skip_reason`.
    """
    skip = Skip.objects.filter(item=OuterRef("pk"), expert_id=user.pk)
    item = (
        Item.objects.select_related("output", "queue", "project")
        .filter(Exists(skip), pk=item_id, project__slug=project_slug)
        .annotate(
            **labeling_annotations(user, project="project_id", queue="queue_id"),
            skip_reason=Subquery(skip.values("reason")[:1]),
        )
        .first()
    )
    if item is not None:
        item.queue.project = item.project
    return item


def handed_back_moments_ago(user, project_slug: str, item_id: int) -> bool:
    """Whether the user was leased this item of the project moments ago (rules.twins): an undo of its skip posted
    again finds the skip gone and the item theirs, as the first left it."""
    if not fits_an_id(item_id):  # names no item; SQLite would refuse the query (a 500) where it tells the user why
        return False
    leases = Slot.objects.leased_to(user).filter(item_id=item_id, item__project__slug=project_slug)
    return twin_of(leases, at="leased_at") is not None


def comments_on(item: Item, *, reader) -> list[Comment]:
    """The item's comments the reader may see on their labeling screen, with their authors, oldest first; one query.

    Blind labeling (`rules.access.labels_that_unblind`): until the reader has labeled the item, only their own
    comments (another expert's "clearly wrong" is their judgement); once they have, everyone's. The item's comments
    have no other kind: only people who hold or labeled it write them (`services.labels.comment_on_item` from the
    labeling screen), leads as labelers too.
    """
    return _COMMENTS(item_id=item.pk, reader_id=reader.pk)


def _comments_query(*, item_id: int, reader_id: int) -> QuerySet[Comment]:
    """comments_on's queryset, for `Prepared` (every labeling screen shows them: compiled once)."""
    labeled = Exists(labels_that_unblind(reader_id).filter(item=OuterRef("item_id")))
    return (
        Comment.objects.filter(item=item_id)
        .filter(Q(author=reader_id) | labeled)
        .select_related("author")
        .order_by("created_at", "pk")
    )


_COMMENTS = Prepared(_comments_query, item_id=-7_000_002, reader_id=-7_000_001)


def latest_outputs(project: Project, *, limit: int = 10) -> QuerySet[Output]:
    fields = ["pk", "external_id", "session_id", "occurred_at", "end_user_id", "model", "output"]
    fields += ["feedback_score", "feedback_comment"]
    return Output.objects.filter(project=project).only(*fields).order_by("-occurred_at", "-pk")[:limit]
