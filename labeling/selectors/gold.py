"""Reads behind the gold-answer screens: the adjudication list and one item's case; and one question's gold answer
read over many resolutions (`gold_entries`, `gold_of_entries`), for the reads that count verdicts.

Every function here runs a fixed number of queries, however many items or labels there are.
Access is asked of `rules.access`; anything refused, or of another project, is NotFound.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

import msgspec
from django.db.models import F, QuerySet, TextField
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast

from labeling.exceptions import NotFound
from labeling.models import (
    Item,
    ItemStatus,
    Label,
    Project,
    Resolution,
    ResolutionStatus,
    Rubric,
)
from labeling.rules.gold import answers_as_asked, gold_answer, open_ties, resolve_answers
from labeling.rules.text import excerpt

VOTE_NAMES = {"true": "yes", "false": "no"}  # how rules.gold.combine writes a binary question's votes


# One question's gold answer over many resolutions ----------------------------------------------------------------


def gold_entries(key: str, *, resolution: str = "") -> dict[str, Cast]:
    """Annotations `auto` and `decided`: the question's automatic and adjudicated entries of each resolution, as JSON
    text. A resolution holds every question's answers; a read of thousands decodes one small entry each instead.
    `resolution`: the path to the resolution from the query's model (`"resolution__"` from Item)."""
    return {
        "auto": Cast(KeyTransform(key, f"{resolution}automatic"), TextField()),
        "decided": Cast(KeyTransform(key, f"{resolution}adjudicated"), TextField()),
    }


def gold_of_entries(auto: str | None, decided: str | None) -> Any:
    """The gold value of the two entries `gold_entries` reads (None: undecided), by the gold rule."""
    return gold_answer(_decode(auto) if auto else None, _decode(decided) if decided else None)


_decode = msgspec.json.decode


# Adjudication -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tie:
    key: str
    prompt: str
    votes: list[tuple[str, int]]  # (answer as shown, how many experts gave it)


@dataclass(frozen=True)
class WaitingItem:
    """One row of the adjudication list."""

    resolution: Resolution
    ties: list[Tie]
    excerpt: str

    @property
    def item(self) -> Item:
        return self.resolution.item


def waiting_for_adjudication() -> QuerySet[Resolution]:
    """Resolutions waiting for a lead's decision (filter by `item__project`): the adjudication list, and the
    count the home page shows a lead."""
    return Resolution.objects.filter(status=ResolutionStatus.NEEDS_ADJUDICATION)


def adjudication_queue(
    project: Project, *, limit: int = 50, up_to_week: date | None = None
) -> tuple[list[WaitingItem], int]:
    """Items of the project waiting for a lead's decision, oldest complete first, and how many wait in all; with
    `up_to_week`, only the items of that week and earlier ones (a week's meeting agenda).

    Three queries: the count, the resolutions with their items, queues and outputs, and the current
    rubric (for the prompts of the questions that tie).
    """
    waiting = waiting_for_adjudication().filter(item__project=project)
    if up_to_week is not None:
        waiting = waiting.filter(item__week__lte=up_to_week)
    total = waiting.count()
    resolutions = list(
        waiting.select_related("item__queue", "item__output")
        # Conversations and retrieved context can be large; the list shows only an excerpt of the answer.
        .defer("item__output__input", "item__output__context", "item__output__metadata")
        .order_by(F("item__completed_at").asc(nulls_first=True), "item_id")[:limit]
    )
    prompts = _prompts(project) if resolutions else {}
    rows = []
    for resolution in resolutions:
        ties = [
            Tie(key=key, prompt=prompts.get(key, key), votes=_votes(resolution.automatic[key].get("votes")))
            for key in open_ties(resolution.automatic, resolution.adjudicated)
        ]
        rows.append(WaitingItem(resolution=resolution, ties=ties, excerpt=excerpt(resolution.item.output.output)))
    return rows, total


def recently_adjudicated(project: Project, *, limit: int = 10) -> list[Resolution]:
    """The project's latest decisions by a lead, newest first, with who made them."""
    return list(
        Resolution.objects.filter(item__project=project, adjudicated_at__isnull=False)
        .select_related("item__queue", "adjudicated_by")
        .order_by("-adjudicated_at", "-pk")[:limit]
    )


def _votes(votes: Any) -> list[tuple[str, int]]:
    if not isinstance(votes, dict):
        return []
    return [(VOTE_NAMES.get(name, name.replace("_", " ")), count) for name, count in votes.items()]


def _prompts(project: Project) -> dict[str, str]:
    """Each question's prompt by its key, as the newest version that asks it words it (one query): a tie on a question
    a later version dropped still reads as its prompt, not its key."""
    prompts: dict[str, str] = {}
    for questions in Rubric.objects.filter(project=project).order_by("version").values_list("questions", flat=True):
        prompts |= {question["key"]: question.get("prompt") or question["key"] for question in questions}
    return prompts


@dataclass(frozen=True)
class AdjudicationCase:
    """A complete item as a lead decides it: its output, every label with its expert, the questions of
    the newest rubric version any label answered, and the automatic and adjudicated answers."""

    item: Item
    resolution: Resolution | None
    labels: list[Label]
    rubric: Rubric
    automatic: dict[str, dict]

    @property
    def questions(self) -> list[dict]:
        return self.rubric.questions

    @property
    def adjudicated(self) -> dict[str, dict]:
        return self.resolution.adjudicated if self.resolution else {}

    @property
    def needs_decision(self) -> bool:
        return self.resolution is not None and self.resolution.status == ResolutionStatus.NEEDS_ADJUDICATION


def adjudication_case(project: Project, item_id: int) -> AdjudicationCase:
    """The project's complete item with its labels (and experts); NotFound for any other item.

    Two queries. An item whose resolution has not been computed yet (its task still queued) is shown
    with the automatic answers computed here, in memory; nothing is written.
    """
    item = (
        Item.objects.select_related("output", "queue", "resolution")
        .filter(project=project, pk=item_id, status=ItemStatus.COMPLETE)
        .first()
    )
    if item is None:
        raise NotFound("No such complete item.")
    item.project = item.queue.project = project
    labels = list(Label.objects.filter(item=item).select_related("expert", "rubric").order_by("pk"))
    if not labels:
        raise NotFound("No such complete item.")
    rubric = max((label.rubric for label in labels), key=lambda rubric: rubric.version)
    resolution = getattr(item, "resolution", None)
    automatic = (
        resolution.automatic
        if resolution is not None
        else resolve_answers(
            rubric.questions,
            [answers_as_asked(rubric.questions, label.rubric.questions, label.answers) for label in labels],
            [label.rubric.questions for label in labels],
        )
    )
    return AdjudicationCase(item=item, resolution=resolution, labels=labels, rubric=rubric, automatic=automatic)
