"""The meeting agenda as the lead works from it: the frozen report's agenda, with what was settled since the close.

A closed week's report is its record and stays as frozen (the export and the API serve it so). During the meeting a
lead decides the items it lists; the page marks each adjudication item no longer waiting, with how it was settled,
from the items' live state (`agenda_since_close`). Flags have no resolved state yet (nothing sets `Flag.resolved_at`),
so the flagged items are shown as frozen.
"""

from datetime import datetime

from labeling.models import Item, Project, ResolutionStatus

DECIDED_SINCE = "decided since the close"


def agenda_since_close(project: Project, agenda: dict, *, closed_at: datetime | None) -> dict:
    """The agenda with each adjudication entry's `since` (None while it still waits, else a sentence saying how it was
    settled after `closed_at`) and `decided_since`, how many were (one query, for the agenda's item ids)."""
    rows = [row for row in agenda.get("adjudication") or [] if isinstance(row, dict)]
    ids = {row.get("item_id") for row in rows} - {None}
    live = {
        item_id: (status, adjudicated_at, adjudicated_by)
        for item_id, status, adjudicated_at, adjudicated_by in Item.objects.filter(project=project, pk__in=ids)
        .values_list("pk", "resolution__status", "resolution__adjudicated_at", "resolution__adjudicated_by__username")
        .order_by()
    }
    marked = [{**row, "since": _settled(live.get(row.get("item_id")), closed_at)} for row in rows]
    return {**agenda, "adjudication": marked, "decided_since": sum(row["since"] is not None for row in marked)}


def _settled(state: tuple | None, closed_at: datetime | None) -> str | None:
    """How an item the frozen agenda lists as waiting was settled since, or None while it still waits."""
    if state is None:
        return "no longer waiting: the item was erased"
    status, adjudicated_at, adjudicated_by = state
    if status == ResolutionStatus.NEEDS_ADJUDICATION:
        return None
    if status is None:  # a label was taken back: the item needs labels again before it has a gold answer
        return "no longer waiting: the item needs labels again"
    if adjudicated_at is not None and (closed_at is None or adjudicated_at >= closed_at):
        return f"{DECIDED_SINCE}: gold recorded by {adjudicated_by or 'a former member'}"
    return f"{DECIDED_SINCE}: the labels no longer tie"
