"""Eval datasets: a named selection of labeled items, and its immutable, numbered versions."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from .projects import ApiKey, Project
from .queues import Queue


def default_splits() -> dict[str, int]:
    return {"train": 80, "test": 20}


class Dataset(models.Model):
    """What goes into the dataset: queues (empty = all), questions (empty = all), only resolved items
    (default) or every labeled one, optional filters, and a split rule decided by a hash of each
    output's external_id, so an item never changes split as the dataset grows."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    queues = models.ManyToManyField(Queue, blank=True, related_name="datasets")
    questions = models.JSONField(default=list, blank=True)
    only_resolved = models.BooleanField(default=True)
    filters = models.JSONField(default=dict, blank=True)  # those set: rules.dataset_filters (tags_any, since, …)
    splits = models.JSONField(default=default_splits)
    auto_rebuild = models.BooleanField(default=True, help_text="Rebuilt when the weekly cycle closes.")
    # The state of the current build, for the "build now" progress; versions themselves are immutable.
    build_requested_at = models.DateTimeField(null=True, blank=True)
    build_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "slug"]
        constraints = [models.UniqueConstraint(fields=["project", "slug"], name="dataset_unique_slug")]

    def __str__(self) -> str:
        return f"{self.project} · {self.slug}"

    @property
    def metadata_filter(self) -> list[tuple[str, list[str]]]:
        """The metadata filter as (key, values) pairs by key (jsonb keeps its own key order): a template reading the
        dict's `.items` would find a key named "items" instead."""
        return sorted(((self.filters or {}).get("metadata") or {}).items())


class VersionStatus(models.TextChoices):
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    # Its rows were removed (an end user's erasure, or a lead's withdrawal); the record stays, with a note saying
    # why, and downloads answer 410.
    WITHDRAWN = "withdrawn", "Withdrawn"


class DatasetVersionQuerySet(models.QuerySet):
    def ready(self):
        return self.filter(status=VersionStatus.READY)


class DatasetVersion(models.Model):
    """A frozen snapshot: rows never change once the version is ready.

    `sha256` is the SHA-256 of the canonical JSONL (the rows' lines, each ending in a newline, in
    order); it is also the strong ETag of every download of the version. `definition_sha256` is the
    fingerprint of the dataset definition it was built from (`services.datasets.definition_fingerprint`):
    the next build copies this version's unchanged rows only when its definition has the same one.
    `rows_copied` counts the rows copied from the version before (0 for a build from scratch)."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=VersionStatus, default=VersionStatus.BUILDING)
    row_count = models.PositiveIntegerField(default=0)
    split_counts = models.JSONField(default=dict)
    sha256 = models.CharField(max_length=64, blank=True)
    # Every rubric version the rows' labels answered, sorted: each row's own (the newest of its labels) and the older
    # versions its other labels answered, whose questions the typed downloads keep.
    rubric_versions = models.JSONField(default=list)
    definition_sha256 = models.CharField(max_length=64, blank=True)
    rows_copied = models.PositiveIntegerField(default=0)
    cycle_week = models.DateField(null=True, blank=True, help_text="The cycle week it was built in.")
    # Not auto_now_add: a weekly close's build is made at the close's moment (build_version's `now`).
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    built_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_note = models.TextField(blank=True)
    # Who withdrew it: a lead (signed in, or the one who ran an erasure), or a key (a CI job's, a DPO's); both may be
    # empty (an erasure by a command), and stay empty once the person or key is deleted: the audit log keeps them.
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    withdrawn_by_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = DatasetVersionQuerySet.as_manager()

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="dataset_version_unique_number"),
            # At most one build in flight per dataset: a redelivered task finds and finishes it.
            models.UniqueConstraint(
                fields=["dataset"], condition=models.Q(status="building"), name="dataset_one_build_at_a_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} v{self.number} ({self.status})"


class DatasetLine(models.Model):
    """One canonical JSON line, stored once however many versions hold it.

    A build writes a line for each new or changed row; a row it copies from the version before points at the
    line that row points at. So a weekly version costs its new rows' bytes, not its every row's (100 MB a week
    at W4's million rows, most of them unchanged). A line no row points at any more is deleted with the rows
    that held it (`services.datasets.delete_rows`): an erased end user's text goes with their rows."""

    # No database constraint: a build writes thousands of lines in one transaction, and the deferred check ran
    # per row at COMMIT. The index serves deleting a dataset's lines with it (Django's cascade).
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    text = models.TextField()

    def __str__(self) -> str:
        return f"line {self.pk} of {self.dataset_id}"


class DatasetRow(models.Model):
    """One row of a version: its position, its split, and the canonical JSON line it holds (`line`), which
    downloads stream as it is.

    `source_digest` fingerprints what the line was made from (the item, its labels, its gold answer and
    its output; see `services.datasets`): a later build whose row has the same digest points its row at the
    same line instead of building it. Empty on rows stored before digests existed (never matched)."""

    # No index of its own: the unique (version, position) index serves version lookups. No database constraint
    # either: its deferred check ran once per written row at COMMIT (0.6 s of a 62,000-row incremental build).
    # Rows are written only by a build, under its version's row lock (or with a version made in the same
    # transaction); deleting a version still deletes its rows (Django's cascade).
    version = models.ForeignKey(
        DatasetVersion, on_delete=models.CASCADE, related_name="rows", db_index=False, db_constraint=False
    )
    position = models.PositiveIntegerField()
    external_id = models.CharField(max_length=200)
    split = models.CharField(max_length=32)
    # Lines are deleted only when no row points at them (see DatasetLine), so rows never dangle. The index
    # finds whether any row still points at a line.
    line = models.ForeignKey(DatasetLine, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    # The line's UTF-8 bytes, so that copying rows tallies a version's size without reading its lines.
    octets = models.PositiveIntegerField(default=0)
    source_digest = models.CharField(max_length=32, blank=True, default="")
    # The line's `rubric_version`, so that a copy need not decode the line to know the version's figures.
    rubric_version = models.PositiveIntegerField(null=True, blank=True)
    # The rubric versions the row's labels answered (each annotation's `rubric_version`), sorted: the typed downloads
    # type an older label's answers by the version that asked them, and a copy keeps them without decoding the line.
    annotation_versions = models.JSONField(null=True, blank=True)

    class Meta:
        # One index besides the primary key and line_id's: every other written index entry costs the weekly copy
        # (a (version, split, position) index was 0.15 s of a 62,000-row copy). A split's rows are read in position
        # order from this one, the other splits' rows skipped: the rows are narrow, a few MB a version.
        constraints = [models.UniqueConstraint(fields=["version", "position"], name="dataset_row_unique_position")]

    def __str__(self) -> str:
        return f"row {self.position} of {self.version}"


class VersionFileState(models.TextChoices):
    PENDING = "pending", "Being prepared"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    # Rendered once, then deleted by the sweep to save disk (a superseded version nobody downloaded for a while):
    # rendered again when someone asks for it.
    ON_REQUEST = "on_request", "Made on request"


class VersionFile(models.Model):
    """A download of a ready version rendered once to a file (Parquet, the Hugging Face zip), by a worker.

    The formats that need pyarrow are rendered in the Celery worker from the stored canonical rows and served
    as files, so no web request loads pyarrow (see `services/version_files.py`). `revision` is the format's
    revision when the file was made: a deploy that raises it (new bytes from the same rows) makes the file
    stale, and it is made again. `sha256` and `size` describe the stored bytes; `name` is the file's name
    in the default storage (MEDIA_ROOT). `served_at` is when it was last downloaded (to the hour): the sweep keeps
    the files of the latest versions and of those downloaded lately, and deletes the rest (`on_request`).
    `render_started_at` is the last render's stamp, set when it starts and renewed as it writes (its heartbeat): a
    pending file is being made while it is recent (`version_files.RENDER_SILENCE`)."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="files")
    format = models.CharField(max_length=32)
    revision = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=VersionFileState, default=VersionFileState.PENDING)
    name = models.CharField(max_length=300, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    rendered_at = models.DateTimeField(null=True, blank=True)
    served_at = models.DateTimeField(null=True, blank=True)
    render_started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "format"], name="version_file_unique_format")]

    def __str__(self) -> str:
        return f"{self.version} {self.format} ({self.state})"
