"""Tests that download a version's Parquet or Hugging Face file render it first, as the worker would."""

from labeling.models import DatasetVersion
from labeling.services.version_files import render_version_files


def rendered(version: DatasetVersion | None) -> DatasetVersion | None:
    """Render the version's stored files in this process (the task's service, called directly) and return it."""
    if version is not None:
        render_version_files(version_id=version.pk)
    return version
