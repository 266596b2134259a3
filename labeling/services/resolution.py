"""Resolve an item's gold answer from its labels; ties and items a lead marks go to adjudication.

Per question: binary and choice by majority (`unanimous`, `majority`, or a `tie`), rating by median
(with the spread), multi_choice option by option (an option is in when more than half chose it; an
option chosen by exactly half is a tie), text and correction kept as the `list` of what experts wrote
(a lead picks or writes the gold correction). Recomputing is idempotent and never touches what a lead
decided: adjudicated answers win, and survive every rebuild.
"""

import statistics
from collections import Counter
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from labeling.exceptions import DomainError, NotFound
from labeling.models import Item, ItemStatus, Label, QuestionKind, Resolution, ResolutionStatus

from .access import check_can_manage
from .answers import InvalidAnswers, validate_answers


def combine(question: dict, values: list[Any]) -> dict | None:
    """The gold entry for one question from the experts' answers (empty answers left out)."""
    if not values:
        return None
    kind = question["kind"]
    if kind in (QuestionKind.BINARY, QuestionKind.CHOICE):
        counts = Counter(values).most_common()
        if len(counts) == 1:
            return {"value": counts[0][0], "method": "unanimous", "votes": _votes(counts)}
        if counts[0][1] > counts[1][1]:
            return {"value": counts[0][0], "method": "majority", "votes": _votes(counts)}
        return {"value": None, "method": "tie", "votes": _votes(counts)}
    if kind == QuestionKind.RATING:
        median = statistics.median(values)
        return {
            "value": int(median) if float(median).is_integer() else median,
            "method": "median",
            "spread": max(values) - min(values),
            "votes": sorted(values),
        }
    if kind == QuestionKind.MULTI_CHOICE:
        chosen = Counter(option for answer in values for option in set(answer))
        half = len(values) / 2
        value = [option for option in question["options"] if chosen[option] > half]
        if any(count == half for count in chosen.values()):
            method = "tie"
        elif all(set(answer) == set(values[0]) for answer in values):
            method = "unanimous"
        else:
            method = "majority"
        return {"value": value if method != "tie" else None, "method": method, "votes": dict(sorted(chosen.items()))}
    return {"value": list(values), "method": "list"}  # text, correction


def _votes(counts: list[tuple[Any, int]]) -> dict[str, int]:
    return {str(value).lower() if isinstance(value, bool) else str(value): count for value, count in counts}


def resolve_answers(questions: list[dict], answer_sets: list[dict]) -> dict[str, dict]:
    resolved = {}
    for question in questions:
        values = [answers[question["key"]] for answers in answer_sets if question["key"] in answers]
        entry = combine(question, values)
        if entry is not None:
            resolved[question["key"]] = entry
    return resolved


def _status(resolution: Resolution) -> str:
    ties = {key for key, entry in resolution.automatic.items() if entry["method"] == "tie"}
    open_ties = ties - set(resolution.adjudicated)
    waiting = resolution.marked_for_adjudication and resolution.adjudicated_at is None
    return ResolutionStatus.NEEDS_ADJUDICATION if open_ties or waiting else ResolutionStatus.RESOLVED


@transaction.atomic
def resolve_item(*, item_id: int) -> Resolution | None:
    """(Re)compute the gold answer of a complete item; None while the item still needs labels."""
    item = Item.objects.select_for_update().filter(pk=item_id, status=ItemStatus.COMPLETE).first()
    if item is None:
        return None
    labels = list(Label.objects.filter(item=item).select_related("rubric").order_by("pk"))
    if not labels:
        return None
    # The newest rubric version any label answered defines the questions.
    questions = max((label.rubric for label in labels), key=lambda rubric: rubric.version).questions
    resolution, _ = Resolution.objects.get_or_create(item=item, defaults={"status": ResolutionStatus.RESOLVED})
    resolution.automatic = resolve_answers(questions, [label.answers for label in labels])
    resolution.status = _status(resolution)
    resolution.save(update_fields=["automatic", "status", "updated_at"])
    return resolution


def resolve_complete_items(*, project_id: int) -> int:
    """Resolve every complete item of the project (the weekly cycle's first step); return how many."""
    ids = Item.objects.filter(project_id=project_id, status=ItemStatus.COMPLETE).values_list("pk", flat=True)
    return sum(resolve_item(item_id=item_id) is not None for item_id in ids.iterator())


def enqueue_resolution(item_id: int) -> None:
    """Resolve the item in Celery once the transaction that completed it commits."""
    from labeling.tasks import resolve_item as resolve_item_task

    transaction.on_commit(partial(resolve_item_task.delay, item_id), robust=True)


@transaction.atomic
def mark_for_adjudication(*, lead, item: Item, note: str = "") -> Resolution:
    """Send an item to the adjudication list even though its labels agree."""
    check_can_manage(lead, item.project)
    resolution = resolve_item(item_id=item.pk)
    if resolution is None:
        raise DomainError("Only an item with all its labels can be adjudicated.")
    resolution.marked_for_adjudication = True
    resolution.adjudicated_at = None
    if note.strip():
        resolution.note = note.strip()
    resolution.status = _status(resolution)
    resolution.save()
    return resolution


@transaction.atomic
def adjudicate(*, lead, item: Item, answers: dict, note: str = "") -> Resolution:
    """Record a lead's gold answers for some or all questions; they win over the automatic ones."""
    check_can_manage(lead, item.project)
    resolution = resolve_item(item_id=item.pk)
    if resolution is None:
        raise NotFound("No complete item to adjudicate.")
    questions = Label.objects.filter(item=item).select_related("rubric").latest("rubric__version").rubric.questions
    given = {key: value for key, value in answers.items() if value not in (None, "", [])}
    validate_answers([{**question, "required": False} for question in questions], given)
    if not given:
        raise InvalidAnswers({"answers": "Give the gold answer for at least one question."})
    resolution.adjudicated = {
        **resolution.adjudicated,
        **{key: {"value": value, "method": "adjudicated"} for key, value in given.items()},
    }
    resolution.adjudicated_by, resolution.adjudicated_at = lead, timezone.now()
    resolution.marked_for_adjudication = False
    resolution.note = note.strip() or resolution.note
    resolution.status = _status(resolution)
    resolution.save()
    return resolution
