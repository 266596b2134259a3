"""Reads of eval datasets, for the web pages and the API alike: datasets, versions and rows.

Everything a caller may not see is reported as not found, whether it exists or not. Each function
runs a fixed number of queries, however many datasets, versions or rows there are.
"""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet, Subquery

from labeling.exceptions import NotFound, VersionNotReady, VersionWithdrawn
from labeling.models import (
    CycleStatus,
    Dataset,
    DatasetRow,
    DatasetVersion,
    Project,
    ReviewCycle,
    Rubric,
    VersionStatus,
)
from labeling.rules.ids import is_whole_number
from labeling.rules.rubric_questions import QuestionHistory, question_histories
from labeling.rules.text import isolated

LATEST = "latest"


def _newest_ready(field: str) -> Subquery:
    """A field of the outer dataset's newest ready version (None while it has none)."""
    versions = DatasetVersion.objects.filter(dataset=OuterRef("pk"), status=VersionStatus.READY).order_by("-number")
    return Subquery(versions.values(field)[:1])


def datasets_of_project(project: Project) -> QuerySet[Dataset]:
    """The project's datasets, each with `latest_version` (the number of its newest ready version, or None) and
    `building_version` (the number of the version a worker is building, or None): with `build_requested_at`
    and `build_error`, what `build_state` reads."""
    building = DatasetVersion.objects.filter(dataset=OuterRef("pk"), status=VersionStatus.BUILDING)
    return (
        Dataset.objects.filter(project=project)
        .annotate(latest_version=_newest_ready("number"), building_version=Subquery(building.values("number")[:1]))
        .prefetch_related("queues")
    )


def dataset_with_state(project: Project, slug: str) -> Dataset:
    """One of the project's datasets, annotated as `datasets_of_project` does; NotFound otherwise (one query)."""
    dataset = datasets_of_project(project).filter(slug=slug).first()
    if dataset is None:
        raise NotFound(f"No dataset '{slug}' in this project.")
    dataset.project = project
    return dataset


def build_state(dataset: Dataset) -> str:
    """Where the dataset's last asked-for build is, for an annotated dataset (`datasets_of_project`):
    `building` (a worker took it), `queued` (asked for, no worker has started it), `failed` (the last build
    failed: `build_error` says why), or `idle` (nothing under way: `latest_version` is the newest)."""
    if dataset.building_version is not None:
        return "building"
    if dataset.build_requested_at is not None:
        return "queued"
    return "failed" if dataset.build_error else "idle"


@dataclass(frozen=True)
class DatasetSummary:
    dataset: Dataset
    latest: DatasetVersion | None  # the newest ready version
    building: bool  # a worker is building a version
    queued: bool = False  # a build was asked for and no worker has started it yet


def dataset_summaries(project: Project) -> list[DatasetSummary]:
    """The project's datasets by name, each with its queues, its newest ready version and whether a build is under way.

    Three queries: the datasets (newest ready version id and "building" annotated), their queues, and
    the versions named.
    """
    building = DatasetVersion.objects.filter(dataset=OuterRef("pk"), status=VersionStatus.BUILDING)
    datasets = list(
        Dataset.objects.filter(project=project)
        .annotate(latest_ready_id=_newest_ready("pk"), has_building_version=Exists(building))
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


def dataset_of_project(project: Project, slug: str) -> Dataset:
    """One of the project's datasets; another project's, or none, is NotFound."""
    dataset = Dataset.objects.filter(project=project, slug=slug).first()
    if dataset is None:
        raise NotFound(f"No dataset '{slug}' in this project.")
    dataset.project = project  # already loaded and authorised: spares a query in every caller
    return dataset


def versions_of_dataset(dataset: Dataset) -> QuerySet[DatasetVersion]:
    """Every version of the dataset, newest first (rows are not loaded), with who withdrew the withdrawn ones."""
    return (
        DatasetVersion.objects.filter(dataset=dataset)
        .select_related("withdrawn_by", "withdrawn_by_key")
        .order_by("-number")
    )


def with_closed_week(versions: QuerySet[DatasetVersion], dataset: Dataset) -> QuerySet[DatasetVersion]:
    """The versions with `closed_week`: the week whose weekly close built it (else None: built by hand, by CI or by
    an erasure's copy). For the dataset page: downloads and the API's lookups do not read it."""
    # A close builds at its own moment (build_version's `now`, `cycles._close`) and records the same moment as the
    # cycle's closed_at, which no build by hand shares to the microsecond (a build that failed during that close
    # shares it too, and is named so). Its cycle_week is the week after, when the close ran: not the week it holds.
    closed_by = ReviewCycle.objects.filter(
        project_id=dataset.project_id, status=CycleStatus.CLOSED, closed_at=OuterRef("built_at")
    )
    return versions.annotate(closed_week=Subquery(closed_by.values("week")[:1]))


def version_of_dataset(dataset: Dataset, ref: str, *, field: str | None = None) -> DatasetVersion:
    """The version numbered `ref`, or for "latest" the newest ready one; else NotFound, naming `field` (the parameter
    that gave `ref`, when one did)."""
    versions = versions_of_dataset(dataset)
    if ref == LATEST:
        version = versions.ready().first()
        if version is None:
            raise NotFound(_no_ready_version(versions.first()), field=field)
    else:
        # Nine digits at most: anything longer is no version number, and would overflow the column.
        if not (is_whole_number(ref) and len(ref) <= 9):
            raise NotFound(f"No such version: use a version number or `{LATEST}`.", field=field)
        version = versions.filter(number=int(ref)).first()
        if version is None:
            raise NotFound(f"No such version: {int(ref)}.", field=field)
    version.dataset = dataset
    return version


def _no_ready_version(newest: DatasetVersion | None) -> str:
    """Why `latest` names nothing: never built, the newest building or failed, or withdrawn (an erasure's, say)."""
    if newest is None:
        return "This dataset has no ready version yet: build one."
    if newest.status == VersionStatus.WITHDRAWN:
        # The note is a lead's free text within the sentence: isolated, an override in it reverses nothing after it.
        why = f" ({isolated(newest.withdrawn_note)})" if newest.withdrawn_note else ""
        return (
            f"This dataset has no ready version: its newest, version {newest.number}, was withdrawn{why}. "
            "Build a new one."
        )
    if newest.status == VersionStatus.FAILED:
        return f"This dataset has no ready version: its newest, version {newest.number}, failed to build. Build again."
    return f"This dataset has no ready version yet: version {newest.number} is building. Ask again when ready."


def ready_version(dataset: Dataset, ref: str, *, field: str | None = None) -> DatasetVersion:
    """Like version_of_dataset, but a version that is not ready raises VersionNotReady."""
    version = version_of_dataset(dataset, ref, field=field)
    if version.status == VersionStatus.WITHDRAWN:
        raise VersionWithdrawn(f"Version {version.number} was withdrawn. {version.withdrawn_note}".strip(), field=field)
    if version.status != VersionStatus.READY:
        raise VersionNotReady(
            f"Version {version.number} is {version.status}: only ready versions have rows and downloads.", field=field
        )
    return version


def split_names(version: DatasetVersion) -> list[str]:
    """The splits a version's rows may be in: the dataset's rule, and any split the version was built with."""
    return sorted(set(version.dataset.splits) | set(version.split_counts))


def rows_of_version(version: DatasetVersion, *, split: str | None = None) -> QuerySet[DatasetRow]:
    """The version's rows (position and stored line only), optionally of one split."""
    rows = DatasetRow.objects.filter(version=version).select_related("line").only("pk", "position", "line__text")
    return rows.filter(split=split) if split else rows


def questions_of_versions(dataset: Dataset, versions: list[DatasetVersion]) -> dict[int, list[QuestionHistory]]:
    """Per version (by id): each question the dataset keeps, as each rubric version its rows answered asked it, and
    whether the key changed meaning between them (`rules.rubric_questions.question_histories`). One query."""
    numbers = {number for version in versions for number in version.rubric_versions or []}
    asked = dict(
        Rubric.objects.filter(project_id=dataset.project_id, version__in=numbers).values_list("version", "questions")
    )
    keys = dataset.questions or ()
    return {
        version.pk: question_histories(
            {number: asked[number] for number in version.rubric_versions or [] if number in asked}, keys=keys
        )
        for version in versions
    }
