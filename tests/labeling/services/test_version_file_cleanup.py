"""Rendered dataset files leave with their versions: a project or dataset deleted (the cascade) takes its versions'
directories once the deletion commits, a rolled back deletion keeps them, and the beat sweep removes the directory
of any version that no longer exists while keeping those of live versions."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from labeling.models import DatasetVersion
from labeling.services.datasets import build_version, create_dataset
from labeling.services.version_files import render_version_files, sweep_orphan_directories, version_directory
from labeling.tasks import sweep_version_files
from tests.helpers.labeling import label_outputs

pytestmark = pytest.mark.postgres


def directory(version_id: int) -> Path:
    return Path(default_storage.path(version_directory(version_id)))


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """A MEDIA_ROOT of this test's own: the process's is shared with tests whose rolled back versions left files."""
    settings.MEDIA_ROOT = str(tmp_path)


@pytest.fixture
def dataset(project):
    label_outputs(project, 3)
    return create_dataset(project=project, spec={"name": "Support eval"})


@pytest.fixture
def versions(project, dataset) -> list[DatasetVersion]:
    first = build_version(dataset_id=dataset.pk)
    label_outputs(project, 1, start=100)
    second = build_version(dataset_id=dataset.pk)
    for version in (first, second):
        render_version_files(version_id=version.pk)
        assert any(directory(version.pk).iterdir())
    return [first, second]


@pytest.mark.parametrize("deleted", ["project", "dataset"])
def test_deleting_a_project_or_dataset_deletes_its_versions_files_after_commit(
    project, dataset, versions, deleted, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        (project if deleted == "project" else dataset).delete()
    assert all(directory(version.pk).exists() for version in versions)  # not before the deletion commits

    for callback in callbacks:
        callback()

    assert not any(directory(version.pk).exists() for version in versions)


def test_a_rolled_back_deletion_keeps_the_files(project, dataset, versions, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            project.delete()
            raise RuntimeError("rolled back")

    assert all(directory(version.pk).exists() for version in versions)


def test_the_sweep_removes_orphan_directories_and_keeps_live_ones(versions):
    orphan = directory(versions[-1].pk + 1000)
    orphan.mkdir(parents=True)
    (orphan / "parquet.r1.parquet").write_bytes(b"erased rows")
    other = Path(default_storage.path("datasets/notes"))
    other.mkdir(parents=True, exist_ok=True)

    assert sweep_orphan_directories() == [versions[-1].pk + 1000]

    assert not orphan.exists()
    assert all(any(directory(version.pk).iterdir()) for version in versions)
    assert other.exists()  # only `datasets/<version id>` directories are the sweep's
    assert sweep_version_files() == 0


def test_beat_runs_the_sweep():
    assert any(entry["task"] == "labeling.sweep_version_files" for entry in settings.CELERY_BEAT_SCHEDULE.values())
