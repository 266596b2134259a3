"""Reads behind the lead's screens: queues with this week's counts, rubric versions, experts' progress.

Every function here runs a fixed number of queries, whatever the number of queues, versions or experts.
"""

import statistics
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.exceptions import NotFound
from labeling.models import Flag, ItemStatus, Label, Membership, Project, Queue, Role, Rubric, Skip, Slot
from labeling.rules.access import LABELING_ROLES, labeling_memberships


def project_queues(project: Project) -> list[Queue]:
    """Return the project's queues by name (one query)."""
    return list(Queue.objects.filter(project=project).order_by("name"))


def queue_of_project(project: Project, queue_id: int) -> Queue:
    """One of the project's queues; another project's queue is reported as not found."""
    queue = Queue.objects.filter(project=project, pk=queue_id).select_related("project").first()
    if queue is None:
        raise NotFound("No such queue.")
    return queue


def queues_with_week_counts(project: Project, week: date) -> QuerySet[Queue]:
    """The project's queues, active and most urgent first, with the week's items placed, complete and open,
    and the open items of every week (`backlog`)."""
    this_week = Q(items__week=week)
    return (
        Queue.objects.filter(project=project)
        .annotate(
            placed=Count("items", filter=this_week),
            complete=Count("items", filter=this_week & Q(items__status=ItemStatus.COMPLETE)),
            open=Count("items", filter=this_week & Q(items__status=ItemStatus.OPEN)),
            backlog=Count("items", filter=Q(items__status=ItemStatus.OPEN)),
        )
        .prefetch_related("eligible_experts")
        .order_by("-is_active", "-priority", "slug")
    )


def queue_expert_choices(project: Project, queue: Queue | None = None) -> QuerySet:
    """The people a lead may tick as a queue's eligible experts: the project's experts, and those the queue names
    already (a removed member keeps their name on it), each annotated `may_label` (`rules.access.named_experts`'s
    test: a labeling role on an active account)."""
    named = Q(eligible_queues=queue) if queue is not None else Q(pk__in=[])
    return (
        get_user_model()
        .objects.filter(Q(memberships__project=project, memberships__role=Role.EXPERT) | named)
        .annotate(may_label=Exists(labeling_memberships(project.pk).filter(user_id=OuterRef("pk"))))
        .distinct()
        .order_by("username")
    )


def rubric_versions(project: Project) -> list[Rubric]:
    """Every published version, newest first, with its author and how many labels answered it."""
    return list(
        Rubric.objects.filter(project=project)
        .select_related("created_by")
        .annotate(label_count=Count("labels"))
        .order_by("-version")
    )


@dataclass(frozen=True)
class ExpertProgress:
    membership: Membership
    labels_this_week: int
    labels_all_time: int
    median_seconds: float | None
    skips: int
    flags: int
    live_leases: int

    @property
    def user(self):
        return self.membership.user


def expert_progress(project: Project, *, week: date, now: datetime | None = None, expert=None) -> list[ExpertProgress]:
    """Per labeling member (experts, and leads who label): throughput, pace, skips, flags and live leases.

    Labels are counted on the week's items (`Label.objects.on_items_of_week`, as the meeting page counts them) and
    all time; skips and flags on the week's items too, whenever made, as the weekly close stores them (`ExpertWeek`):
    a skip made on Monday of last week's leftover item is last week's, like a label on it. With `expert`, only that
    member's row (their own page shows the figures the lead's page shows for them, counted by this one rule).

    Two queries: the members with their counts (one correlated subquery per count, so the counts
    cannot multiply each other as joins would), and the seconds of their labels for the medians.
    """
    now = now or timezone.now()
    labels = Label.objects.filter(item__project=project, expert=OuterRef("user_id"))
    members = Membership.objects.filter(project=project, role__in=LABELING_ROLES)
    timed_labels = Label.objects.filter(item__project=project)
    if expert is not None:
        members = members.filter(user=expert)
        timed_labels = timed_labels.filter(expert=expert)
    members = (
        members.select_related("user")
        .annotate(
            labels_this_week=row_count(labels.on_items_of_week(week)),
            labels_all_time=row_count(labels),
            skips=row_count(Skip.objects.filter(item__project=project, item__week=week, expert=OuterRef("user_id"))),
            flags=row_count(Flag.objects.filter(item__project=project, item__week=week, expert=OuterRef("user_id"))),
            live_leases=row_count(
                Slot.objects.live_leases(now).filter(queue__project=project, expert=OuterRef("user_id"))
            ),
        )
        .order_by("role", "user__username")
    )
    seconds: dict[int, list[int]] = {}
    for expert_id, spent in timed_labels.values_list("expert_id", "seconds_spent"):
        seconds.setdefault(expert_id, []).append(spent)
    return [
        ExpertProgress(
            membership=member,
            labels_this_week=member.labels_this_week,
            labels_all_time=member.labels_all_time,
            median_seconds=statistics.median(seconds[member.user_id]) if member.user_id in seconds else None,
            skips=member.skips,
            flags=member.flags,
            live_leases=member.live_leases,
        )
        for member in members
    ]


def row_count(queryset: QuerySet) -> Coalesce:
    """COUNT(*) of a correlated queryset as a scalar subquery (0 when it has no rows)."""
    # A plain Func, not the Count aggregate: an aggregate would make Django add a GROUP BY.
    counted = queryset.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)
