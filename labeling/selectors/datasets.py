"""Reads behind the dataset API: who may read a project's datasets, the datasets, versions and rows.

Everything a caller may not see is reported as not found, whether it exists or not. Each function
runs one query (`readable_project` two for a signed-in person, none for an API key).
"""

from django.db.models import Max, Q, QuerySet

from labeling.exceptions import NotFound, VersionNotReady, VersionWithdrawn
from labeling.models import Dataset, DatasetRow, DatasetVersion, Project, VersionStatus

# The people who use eval datasets; experts label but do not pull datasets.
LATEST = "latest"


def datasets_of_project(project: Project) -> QuerySet[Dataset]:
    """The project's datasets, each with `latest_version`: the number of its newest ready version, or None."""
    return Dataset.objects.filter(project=project).annotate(
        latest_version=Max("versions__number", filter=Q(versions__status=VersionStatus.READY))
    )


def dataset_of_project(project: Project, slug: str) -> Dataset:
    dataset = Dataset.objects.filter(project=project, slug=slug).first()
    if dataset is None:
        raise NotFound("No such dataset.")
    dataset.project = project  # already loaded and authorised: spares a query in every caller
    return dataset


def versions_of_dataset(dataset: Dataset) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(dataset=dataset)


def version_of_dataset(dataset: Dataset, ref: str) -> DatasetVersion:
    """The version numbered `ref`, or for "latest" the newest ready one; else NotFound."""
    versions = versions_of_dataset(dataset)
    if ref == LATEST:
        version = versions.ready().order_by("-number").first()
        if version is None:
            raise NotFound("This dataset has no ready version yet.")
    else:
        # Nine digits at most: anything longer is no version number, and would overflow the column.
        if not (ref.isascii() and ref.isdigit() and len(ref) <= 9):
            raise NotFound(f"No such version: use a version number or `{LATEST}`.")
        version = versions.filter(number=int(ref)).first()
        if version is None:
            raise NotFound(f"No such version: {int(ref)}.")
    version.dataset = dataset
    return version


def ready_version(dataset: Dataset, ref: str) -> DatasetVersion:
    """Like version_of_dataset, but a version that is not ready raises VersionNotReady."""
    version = version_of_dataset(dataset, ref)
    if version.status == VersionStatus.WITHDRAWN:
        raise VersionWithdrawn(f"Version {version.number} was withdrawn. {version.withdrawn_note}".strip())
    if version.status != VersionStatus.READY:
        raise VersionNotReady(
            f"Version {version.number} is {version.status}: only ready versions have rows and downloads."
        )
    return version


def split_names(version: DatasetVersion) -> list[str]:
    """The splits a version's rows may be in: the dataset's rule, and any split the version was built with."""
    return sorted(set(version.dataset.splits) | set(version.split_counts))


def rows_of_version(version: DatasetVersion, *, split: str | None = None) -> QuerySet[DatasetRow]:
    """The version's rows (position and stored line only), optionally of one split."""
    rows = DatasetRow.objects.filter(version=version).only("pk", "position", "line")
    return rows.filter(split=split) if split else rows
