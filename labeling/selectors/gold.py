"""Reads behind the gold-answer screens: the adjudication list, one item's case, and eval datasets.

Every function here runs a fixed number of queries, however many items, labels, datasets or versions
there are. Access is asked of `rules.access`; anything refused, or of another project, is NotFound.
"""

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, F, OuterRef, QuerySet, Subquery

from labeling.exceptions import NotFound
from labeling.models import (
    Dataset,
    DatasetVersion,
    Item,
    ItemStatus,
    Label,
    Project,
    Resolution,
    ResolutionStatus,
    Rubric,
    VersionStatus,
)
from labeling.rules.gold import open_ties, resolve_answers
from labeling.rules.text import excerpt

VOTE_NAMES = {"true": "yes", "false": "no"}  # how rules.gold.combine writes a binary question's votes


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


def adjudication_queue(project: Project, *, limit: int = 50) -> tuple[list[WaitingItem], int]:
    """Items of the project waiting for a lead's decision, oldest complete first, and how many wait in all.

    Three queries: the count, the resolutions with their items, queues and outputs, and the current
    rubric (for the prompts of the questions that tie).
    """
    waiting = Resolution.objects.filter(item__project=project, status=ResolutionStatus.NEEDS_ADJUDICATION)
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
    rubric = Rubric.objects.current_for(project)
    return {
        question["key"]: question.get("prompt") or question["key"] for question in (rubric.questions if rubric else [])
    }


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
        else resolve_answers(rubric.questions, [label.answers for label in labels])
    )
    return AdjudicationCase(item=item, resolution=resolution, labels=labels, rubric=rubric, automatic=automatic)


# Datasets ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSummary:
    dataset: Dataset
    latest: DatasetVersion | None  # the newest ready version
    building: bool  # a worker is building a version
    queued: bool = False  # a build was asked for and no worker has started it yet


def datasets_of_project(project: Project) -> list[DatasetSummary]:
    """The project's datasets by name, each with its newest ready version and whether a build is under way.

    Three queries: the datasets (newest ready version id and "building" annotated), their queues, and
    the versions named.
    """
    versions = DatasetVersion.objects.filter(dataset=OuterRef("pk"))
    datasets = list(
        Dataset.objects.filter(project=project)
        .annotate(
            latest_ready_id=Subquery(versions.filter(status=VersionStatus.READY).order_by("-number").values("pk")[:1]),
            has_building_version=Exists(versions.filter(status=VersionStatus.BUILDING)),
        )
        .prefetch_related("queues")
        .order_by("name", "pk")
    )
    latest = DatasetVersion.objects.in_bulk(
        [dataset.latest_ready_id for dataset in datasets if dataset.latest_ready_id]
    )
    return [
        DatasetSummary(
            dataset=dataset,
            latest=latest.get(dataset.latest_ready_id),
            building=dataset.has_building_version,
            queued=not dataset.has_building_version and dataset.build_requested_at is not None,
        )
        for dataset in datasets
    ]


def dataset_of_project(project: Project, dataset_slug: str) -> Dataset:
    """One of the project's datasets, with its queues; another project's dataset is NotFound."""
    dataset = Dataset.objects.filter(project=project, slug=dataset_slug).prefetch_related("queues").first()
    if dataset is None:
        raise NotFound("No such dataset.")
    dataset.project = project
    return dataset


def dataset_versions(dataset: Dataset) -> QuerySet[DatasetVersion]:
    """Every version of the dataset, newest first (rows are not loaded)."""
    return DatasetVersion.objects.filter(dataset=dataset).order_by("-number")
