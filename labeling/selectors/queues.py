"""Reads of a project's queues for the API: their settings and how many items still wait in each."""

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
