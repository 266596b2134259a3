"""Reads of a project's queues: for the API, their settings and how many items still wait in each; for the lead's
rule preview, what a backfill of a queue would place."""

from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from labeling.models import Item, Project, Queue


def queues_with_open_items(project: Project) -> QuerySet[Queue]:
    """The project's queues, highest priority first, each with `items_open`: its items still wanting labels.

    One query: the count is a subquery per queue, which the partial index on open items answers alone."""
    open_items = (
        Item.objects.open()
        .filter(queue=OuterRef("pk"))
        .order_by()
        .values("queue")
        .annotate(count=Count("pk"))
        .values("count")
    )
    items_open = Coalesce(Subquery(open_items, output_field=IntegerField()), 0)
    return Queue.objects.filter(project=project).annotate(items_open=items_open).order_by("-priority", "slug")


@dataclass(frozen=True)
class BackfillFigure:
    """What a backfill of a queue would place now (`places`), and what it would once the queue is active."""

    paused: bool
    places: int
    once_active: int


def backfill_figure(queue: Queue | None, *, not_in_queue: int, in_queue: int, quota: int | None) -> BackfillFigure:
    """A backfill places the sampled matches not in the queue yet (`not_in_queue`), within what the weekly quota
    leaves beside the `in_queue` ones; a paused (inactive, as saved) queue takes none, as `routing.backfill_queue`
    and `services.queues.request_backfill` treat it. `queue` None: a queue not saved yet, paused by nothing."""
    once_active = not_in_queue if quota is None else min(not_in_queue, max(0, quota - in_queue))
    paused = queue is not None and not queue.is_active
    return BackfillFigure(paused=paused, places=0 if paused else once_active, once_active=once_active)
