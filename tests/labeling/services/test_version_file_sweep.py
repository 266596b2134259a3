"""The files of superseded versions go to save disk: the hourly sweep deletes every ready version's Parquet and hf
files but those of each dataset's newest versions, once made and last downloaded more than DATASET_FILES_KEEP_DAYS
ago. Their rows say `on_request`; asked for again, a worker makes the same bytes."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from labeling.models import DatasetVersion, VersionFile, VersionFileState
from labeling.services.datasets import build_version, create_dataset
from labeling.services.version_files import (
    download_states,
    file_for_download,
    prepare_file,
    render_version_files,
    sweep_superseded_files,
)
from tests.helpers.labeling import label_outputs

DAYS = 14


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """A MEDIA_ROOT of this test's own, and the sweep's defaults spelled out."""
    settings.MEDIA_ROOT = str(tmp_path)
    settings.DATASET_FILES_KEEP_LATEST = 2
    settings.DATASET_FILES_KEEP_DAYS = DAYS


@pytest.fixture
def versions(project) -> list[DatasetVersion]:
    """Three ready versions of one dataset, each with its Parquet and hf files on disk."""
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    made = []
    for start in (0, 100, 200):
        label_outputs(project, 2, start=start)
        made.append(build_version(dataset_id=dataset.pk))
    for version in made:
        assert render_version_files(version_id=version.pk) == ["parquet", "hf"]
    return made


def on_disk(version: DatasetVersion) -> set[str]:
    """The names of the version's files that are in storage now."""
    names = VersionFile.objects.filter(version=version).values_list("name", flat=True)
    return {Path(name).name for name in names if name and default_storage.exists(name)}


def states(version: DatasetVersion) -> dict[str, str]:
    return dict(VersionFile.objects.filter(version=version).values_list("format", "state"))


def later(days: float):
    return timezone.now() + timedelta(days=days)


def sweep(now, django_capture_on_commit_callbacks) -> list[VersionFile]:
    with django_capture_on_commit_callbacks(execute=True):
        return sweep_superseded_files(now=now)


def test_the_sweep_deletes_the_files_of_versions_older_than_the_newest_two(
    versions, django_capture_on_commit_callbacks
):
    first, second, third = versions
    size = sum(VersionFile.objects.filter(version=first).values_list("size", flat=True))
    names = list(VersionFile.objects.filter(version=first).values_list("name", flat=True))

    swept = sweep(later(DAYS + 1), django_capture_on_commit_callbacks)

    assert sorted((row.version_id, row.format) for row in swept) == [(first.pk, "hf"), (first.pk, "parquet")]
    assert sum(row.size for row in swept) == size > 0
    assert not any(default_storage.exists(name) for name in names)
    assert states(first) == {"parquet": VersionFileState.ON_REQUEST, "hf": VersionFileState.ON_REQUEST}
    assert len(on_disk(second)) == len(on_disk(third)) == 2
    assert sweep(later(DAYS + 1), django_capture_on_commit_callbacks) == []  # nothing left to sweep


def test_files_made_or_downloaded_lately_are_kept(versions, django_capture_on_commit_callbacks):
    first = versions[0]
    assert sweep(later(DAYS - 1), django_capture_on_commit_callbacks) == []  # made 13 days ago: kept

    VersionFile.objects.filter(version=first, format="parquet").update(served_at=later(10))

    swept = sweep(later(DAYS + 1), django_capture_on_commit_callbacks)
    assert [row.format for row in swept] == ["hf"]  # the Parquet file was downloaded 5 days before
    assert [row.format for row in sweep(later(10 + DAYS + 1), django_capture_on_commit_callbacks)] == ["parquet"]


def test_a_download_records_when_it_was_served_once_an_hour(versions):
    first = versions[0]
    stored = file_for_download(version=first, fmt="parquet")
    served = VersionFile.objects.get(pk=stored.pk).served_at
    assert served is not None

    file_for_download(version=first, fmt="parquet")
    assert VersionFile.objects.get(pk=stored.pk).served_at == served  # no write per download

    VersionFile.objects.filter(pk=stored.pk).update(served_at=served - timedelta(hours=2))
    file_for_download(version=first, fmt="parquet")
    assert VersionFile.objects.get(pk=stored.pk).served_at > served - timedelta(hours=1)


def test_the_newest_versions_keep_their_files_however_old(versions, settings, django_capture_on_commit_callbacks):
    settings.DATASET_FILES_KEEP_LATEST = 1

    swept = sweep(later(365), django_capture_on_commit_callbacks)

    assert {row.version_id for row in swept} == {versions[0].pk, versions[1].pk}
    assert len(on_disk(versions[2])) == 2


def test_a_swept_file_is_not_asked_for_by_the_page_and_is_made_again_with_the_same_bytes_on_request(
    versions, django_capture_on_commit_callbacks
):
    first = versions[0]
    before = dict(VersionFile.objects.filter(version=first).values_list("format", "sha256"))
    sweep(later(DAYS + 1), django_capture_on_commit_callbacks)

    assert download_states(versions=versions)[first.pk, "parquet"].state == VersionFileState.ON_REQUEST
    assert states(first) == {"parquet": VersionFileState.ON_REQUEST, "hf": VersionFileState.ON_REQUEST}
    assert render_version_files(version_id=first.pk) == []  # nobody asked: the sweep is not undone

    assert prepare_file(version=first, fmt="parquet") is None
    assert states(first) == {"parquet": VersionFileState.PENDING, "hf": VersionFileState.ON_REQUEST}
    assert render_version_files(version_id=first.pk) == ["parquet"]  # only what was asked for

    again = VersionFile.objects.get(version=first, format="parquet")
    assert again.state == VersionFileState.READY and default_storage.exists(again.name)
    assert again.sha256 == before["parquet"]  # a version is immutable: the same bytes
    assert states(first)["hf"] == VersionFileState.ON_REQUEST


def test_a_swept_file_of_an_older_format_revision_stays_on_request(versions, django_capture_on_commit_callbacks):
    """A deploy that raises a format's revision makes current files stale; a swept one is still made only when asked."""
    first = versions[0]
    sweep(later(DAYS + 1), django_capture_on_commit_callbacks)
    VersionFile.objects.filter(version=first).update(revision=0)

    assert download_states(versions=versions)[first.pk, "parquet"].state == VersionFileState.ON_REQUEST
    assert set(VersionFile.objects.filter(version=first).values_list("state", flat=True)) == {"on_request"}
    assert render_version_files(version_id=first.pk) == []
