"""Labels as engineers read them: one output's routing, labels and gold, and every label of a range of weeks.

Experts are named by their dataset pseudonym (`rules.annotators`), never by account; gold is the shared rule's
(`rules.gold.gold_entries`: adjudicated over automatic, ties left out), as in the datasets.
"""

from collections.abc import Iterator
from datetime import date
from typing import Any

from django.db.models import Prefetch

from labeling.models import Flag, Item, Label, Output, Project, Skip, week_label
from labeling.rules.annotators import annotator_pseudonym
from labeling.rules.gold import gold_entries, open_ties
from labeling.rules.moments import utc_moment

INCLUDES = ("labels", "gold")
# Labels read per round trip by the export's server-side cursor.
LABEL_CHUNK = 2000


def _gold(automatic: dict | None, adjudicated: dict | None) -> dict[str, dict]:
    entries = gold_entries(automatic, adjudicated)
    return {key: {"value": entry["value"], "method": entry["method"]} for key, entry in entries.items()}


def output_items(output: Output, *, include: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The output's items (the queues it was routed to), oldest first, each with its status; with "labels" in
    `include` its labels, skips and flags; with "gold" its gold answers. Four queries at most, however many."""
    items = Item.objects.filter(output=output).select_related("queue").order_by("pk")
    if "gold" in include:
        items = items.select_related("resolution")
    if "labels" in include:
        items = items.prefetch_related(
            Prefetch("labels", Label.objects.select_related("rubric").order_by("pk")),
            Prefetch("skips", Skip.objects.order_by("pk")),
            Prefetch("flags", Flag.objects.order_by("pk")),
        )
    project_id = output.project_id
    return [_item(item, project_id, include) for item in items]


def _item(item: Item, project_id: int, include: frozenset[str]) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": item.pk,
        "queue": item.queue.slug,
        "queue_name": item.queue.name,
        "week": week_label(item.week),
        "status": item.status,
        "overlap": item.overlap,
        "created_at": item.created_at,
        "completed_at": item.completed_at,
    }
    if "labels" in include:
        shown["labels"] = [
            {
                "annotator": annotator_pseudonym(project_id, label.expert_id),
                "answers": label.answers,
                "rubric_version": label.rubric.version,
                "labeled_at": label.updated_at,
                "seconds_spent": label.seconds_spent,
            }
            for label in item.labels.all()
        ]
        shown["skips"] = [
            {"annotator": annotator_pseudonym(project_id, skip.expert_id), "reason": skip.reason, "at": skip.created_at}
            for skip in item.skips.all()
        ]
        shown["flags"] = [
            {
                "annotator": annotator_pseudonym(project_id, flag.expert_id),
                "note": flag.note,
                "at": flag.created_at,
                "resolved_at": flag.resolved_at,
            }
            for flag in item.flags.all()
        ]
    if "gold" in include:
        resolution = getattr(item, "resolution", None)
        automatic, adjudicated = (resolution.automatic, resolution.adjudicated) if resolution else (None, None)
        shown["gold"] = {
            "status": resolution.status if resolution else None,
            "answers": _gold(automatic, adjudicated),
            "open_ties": open_ties(automatic, adjudicated),
        }
    return shown


EXPORT_FIELDS = (
    "external_id", "queue", "item", "week", "annotator", "answers", "rubric_version", "labeled_at", "seconds_spent",
    "gold",
)  # fmt: skip


def labels_of_weeks(project: Project, *, first: date, last: date, chunk: int = LABEL_CHUNK) -> Iterator[dict[str, Any]]:
    """Every label on the project's items of the cycle weeks `first`…`last` (both included), one dict each with
    EXPORT_FIELDS, by week, item and label. Read through a server-side cursor `chunk` labels at a time, so
    memory does not grow with the range. The query is built now; rows are read as the iterator is."""
    labels = (
        Label.objects.filter(item__project=project, item__week__range=(first, last))
        .order_by("item__week", "item_id", "pk")
        .values_list(
            "item__output__external_id",
            "item__queue__slug",
            "item_id",
            "item__week",
            "expert_id",
            "answers",
            "rubric__version",
            "updated_at",
            "seconds_spent",
            "item__resolution__automatic",
            "item__resolution__adjudicated",
        )  # fmt: skip
    )
    return _export_rows(project.pk, labels.iterator(chunk_size=chunk))


def _export_rows(project_id: int, rows) -> Iterator[dict[str, Any]]:
    pseudonyms: dict[int, str] = {}
    for external_id, queue, item, week, expert_id, answers, version, at, seconds, automatic, adjudicated in rows:
        if expert_id not in pseudonyms:
            pseudonyms[expert_id] = annotator_pseudonym(project_id, expert_id)
        yield {
            "external_id": external_id,
            "queue": queue,
            "item": item,
            "week": week_label(week),
            "annotator": pseudonyms[expert_id],
            "answers": answers,
            "rubric_version": version,
            "labeled_at": utc_moment(at),
            "seconds_spent": seconds,
            "gold": _gold(automatic, adjudicated),
        }
