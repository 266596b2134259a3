"""Rendered dataset files leave with their versions: a project or dataset deleted (the cascade) takes its versions'
directories once the deletion commits, a rolled back deletion keeps them, and the beat sweep removes the directory
of any version that no longer exists while keeping those of live versions. A render killed before it moved its
temporary file into place leaves that file behind: the sweep deletes it once no running render can own it."""

import os
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from labeling.models import DatasetVersion, VersionFile
from labeling.services import version_files
from labeling.services.datasets import build_version, create_dataset
from labeling.services.version_files import (
    file_name,
    render_version_files,
    sweep_orphan_directories,
    version_directory,
    write_beside,
)
from labeling.tasks import render_version_files as render_task
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


def aged(path: Path, seconds: float) -> Path:
    """Date the file's last write `seconds` ago, as a render that wrote it then and nothing since."""
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_the_sweep_deletes_the_temporary_file_of_a_render_that_died_and_keeps_those_that_may_still_be_written(
    versions,
):
    """A render is killed at its task's hard time limit: a temporary file written longer ago than that is a dead
    render's (a worker OOM-killed, a deploy's restart). Younger ones, and the files renders recorded, stay."""
    limit = render_task.time_limit
    version = versions[0]
    dead = aged(write_beside(file_name(version, "parquet"), [b"half a parquet file"])[0], limit + 60)
    running = aged(write_beside(file_name(version, "hf"), [b"a zip being written"])[0], limit - 60)
    fresh = write_beside(file_name(versions[1], "parquet"), [b"just begun"])[0]
    recorded = [Path(default_storage.path(name)) for name in VersionFile.objects.values_list("name", flat=True)]
    for path in recorded:
        aged(path, 30 * 24 * 3600)  # a file made long ago is the version's, not a render's leftover

    assert sweep_version_files() == 1

    assert not dead.exists()
    assert running.exists() and fresh.exists()
    assert len(recorded) == 4 and all(path.exists() for path in recorded)
    assert sweep_version_files() == 0


def test_a_render_in_progress_keeps_its_temporary_file_through_the_sweep(versions, monkeypatch):
    version = versions[0]
    VersionFile.objects.filter(version=version, format="parquet").update(revision=0)  # a deploy raised the revision
    swept = []

    def sweep_meanwhile(name, chunks):
        written = write_beside(name, chunks)
        aged(written[0], render_task.time_limit - 60)  # written as late in its time limit as a render can be
        swept.append(sweep_version_files())
        assert written[0].exists()
        return written

    monkeypatch.setattr(version_files, "write_beside", sweep_meanwhile)

    assert render_version_files(version_id=version.pk) == ["parquet"]

    assert swept == [0]
    stored = VersionFile.objects.get(version=version, format="parquet")
    assert stored.revision > 0 and default_storage.exists(stored.name)
    assert not list(directory(version.pk).glob("*.part"))
