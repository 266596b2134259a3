"""The meeting agenda as the lead works from it: the frozen report's agenda, with what was settled since the close.

A closed week's report is its record and stays as frozen (the export and the API serve it so). During the meeting a
lead decides the items it lists and resolves the flags; the page marks each adjudication item no longer waiting, with
how it was settled, and each flag resolved since, with who resolved it, from the live rows (`agenda_since_close`).
The person's name is given apart from the words, as it is stored: the page isolates it (a <bdi>) where it shows it.
The running week's agenda is built live, so a resolved flag is simply not on it (`selectors.report._flag_agenda`).
"""

from datetime import datetime

from labeling.models import Flag, Item, Project, ResolutionStatus
from labeling.rules.text import FORMER_MEMBER

DECIDED_SINCE = "decided since the close"


def agenda_since_close(project: Project, agenda: dict, *, closed_at: datetime | None) -> dict:
    """The agenda with each adjudication entry's `since` (None while it still waits, else `said`, how it was settled
    after `closed_at`, and `by`, who recorded its gold, if someone did) and `decided_since`, how many were; and each
    flag's `resolved` (None while open, else `by`, who resolved it) with `resolution_note`, and `resolved_since`, how
    many were (a query per non-empty list)."""
    rows = [row for row in agenda.get("adjudication") or [] if isinstance(row, dict)]
    ids = {row.get("item_id") for row in rows} - {None}
    live = {}
    if ids:
        live = {
            item_id: (status, adjudicated_at, adjudicated_by)
            for item_id, status, adjudicated_at, adjudicated_by in Item.objects.filter(project=project, pk__in=ids)
            .values_list(
                "pk", "resolution__status", "resolution__adjudicated_at", "resolution__adjudicated_by__username"
            )
            .order_by()
        }
    marked = [{**row, "since": _settled(live.get(row.get("item_id")), closed_at)} for row in rows]
    flags = [_flag_resolved(row, resolved) for row, resolved in _resolved_flags(project, agenda)]
    return {
        **agenda,
        "adjudication": marked,
        "decided_since": sum(row["since"] is not None for row in marked),
        "flags": flags,
        "resolved_since": sum(row["resolved"] is not None for row in flags),
    }


def _resolved_flags(project: Project, agenda: dict) -> list[tuple[dict, tuple | None]]:
    """Each flag entry of the agenda with (who resolved it, the note) if it is resolved now, else None."""
    rows = [row for row in agenda.get("flags") or [] if isinstance(row, dict)]
    ids = {row.get("flag_id") for row in rows} - {None}
    resolved = {}
    if ids:
        resolved = {
            flag_id: (by, note)
            for flag_id, by, note in Flag.objects.filter(item__project=project, pk__in=ids, resolved_at__isnull=False)
            .values_list("pk", "resolved_by__username", "resolution_note")
            .order_by()
        }
    return [(row, resolved.get(row.get("flag_id"))) for row in rows]


def _flag_resolved(row: dict, resolved: tuple | None) -> dict:
    if resolved is None:
        return {**row, "resolved": None, "resolution_note": ""}
    by, note = resolved
    return {**row, "resolved": {"by": by or FORMER_MEMBER}, "resolution_note": note}


def _settled(state: tuple | None, closed_at: datetime | None) -> dict | None:
    """How an item the frozen agenda lists as waiting was settled since (and by whom), or None while it still waits."""
    if state is None:
        return {"said": "no longer waiting: the item was erased", "by": None}
    status, adjudicated_at, adjudicated_by = state
    if status == ResolutionStatus.NEEDS_ADJUDICATION:
        return None
    if status is None:  # a label was taken back: the item needs labels again before it has a gold answer
        return {"said": "no longer waiting: the item needs labels again", "by": None}
    if adjudicated_at is not None and (closed_at is None or adjudicated_at >= closed_at):
        return {"said": f"{DECIDED_SINCE}: gold recorded by", "by": adjudicated_by or FORMER_MEMBER}
    return {"said": f"{DECIDED_SINCE}: the labels no longer tie", "by": None}
