"""Dataset reads, shared by the web pages and the API: one rule for a dataset's newest ready version."""

import pytest

from labeling.exceptions import NotFound
from labeling.models import DatasetVersion, VersionStatus
from labeling.selectors.datasets import dataset_of_project, dataset_summaries, datasets_of_project, versions_of_dataset
from labeling.services.datasets import create_dataset


def add_version(dataset, number: int, status: str) -> DatasetVersion:
    return DatasetVersion.objects.create(dataset=dataset, number=number, status=status, row_count=number)


def test_the_newest_ready_version_is_the_same_for_the_list_page_and_the_api(project):
    """A newer withdrawn, failed or building version is never the latest; without a ready one there is none."""
    shipped = create_dataset(project=project, spec={"name": "Shipped"})
    add_version(shipped, 1, VersionStatus.READY)
    second = add_version(shipped, 2, VersionStatus.READY)
    add_version(shipped, 3, VersionStatus.WITHDRAWN)
    add_version(shipped, 4, VersionStatus.FAILED)
    add_version(shipped, 5, VersionStatus.BUILDING)
    unready = create_dataset(project=project, spec={"name": "Unready"})
    add_version(unready, 1, VersionStatus.FAILED)

    api_latest = {dataset.slug: dataset.latest_version for dataset in datasets_of_project(project)}
    page = {summary.dataset.slug: summary for summary in dataset_summaries(project)}

    assert api_latest == {"shipped": 2, "unready": None}
    assert page["shipped"].latest == second and page["unready"].latest is None
    assert page["shipped"].building and not page["unready"].building


def test_another_projects_dataset_is_not_found(project, other_project):
    theirs = create_dataset(project=other_project, spec={"name": "Theirs"})

    with pytest.raises(NotFound):
        dataset_of_project(project, theirs.slug)
    assert list(datasets_of_project(project)) == [] and dataset_summaries(project) == []


def test_versions_come_newest_first(project):
    dataset = create_dataset(project=project, spec={"name": "Eval"})
    for number in (2, 1, 3):
        add_version(dataset, number, VersionStatus.READY)

    assert [version.number for version in versions_of_dataset(dataset)] == [3, 2, 1]
