"""Render once, serve as a file: the downloads of a ready dataset version that need pyarrow (Parquet, the Hugging Face
zip) are made by a Celery worker from the version's stored canonical rows and kept in MEDIA_ROOT.

Why: pyarrow (and what it brings) costs a web worker ~80 MB for good once one request imports it. A version's rows
never change, so its Parquet file is the same bytes on every download: made once in the worker, it is served as a
file and no web process imports pyarrow (tests/test_startup_imports.py keeps it so). It is made again when its
format's revision changes, or when a migration widens the version's `rubric_versions` (0066), which decide its
columns: a render that read the version before it widened does not mark its file ready (`_record`).

- **When.** A version that becomes ready (a build, or an erasure's redacted copy) asks for its files in the same
  transaction, through the outbox (`request_files`): a `VersionFile` row per stored format, `pending`, and the task
  `labeling.render_version_files`. A download that finds no current file (a version made before files existed, a
  failed render, a format whose revision a deploy raised, a file missing from the volume) asks again; meanwhile the API
  answers 503 with Retry-After.
- **How.** Each file is written to a temporary file of its own beside its final name and synced. Under the version's
  row lock, only if the version is still ready and still has the `rubric_versions` it was rendered from, it is moved
  over its name with `os.replace` (a reader sees the old file or the new one, never half of one) and the row records
  the name, size and SHA-256. A render that loses (an erasure withdrew the version, or a newer render of a widened
  version recorded a file of the same name) deletes only its temporary file, never a file someone recorded. A render
  killed before it moves its file (a worker OOM-killed, a deploy's restart, the task's hard time limit) leaves its
  temporary file behind: the beat sweep (`sweep_dead_renders`) deletes it once it was last written longer ago than
  `RENDER_TIME_LIMIT`, the limit past which no render runs, so a render in progress never loses its file. The row
  stays pending; the redelivered task (a worker lost), or the next download once the request looks lost (its render
  silent for `RENDER_SILENCE`: Celery acks a task it kills at its time limit), renders it again.
- **Lost.** A render stamps `render_started_at` on the files it makes before it makes the first, and stamps them
  again as it writes (at most every `RENDER_HEARTBEAT`): a heartbeat. A pending file a render took up is on its way
  while its stamp is younger than `RENDER_SILENCE`, however long the render takes, so a download meanwhile asks for no
  second render beside it; past it, that render is dead (killed, its worker gone, or its database connection lost so
  that not even its failure could be written) and the next download asks again. One no render took up is lost after
  `STALE_REQUEST` (its message lost, a worker that failed before starting). A render that fails (or meets its soft
  time limit) marks its file failed, which a download asks for again at once; the files it did not reach, and those a
  render that lost at its record (`_record`) did not reach, lose its stamp: no longer on their way.
- **Erasure.** `discard_files` deletes a withdrawn version's rows here and, once the erasure commits, its directory.
- **Disk.** A version's files cost more disk than its rows (~62 MB against ~20 MB a week at W4's size: bench/README.md),
  and superseded versions are seldom downloaded. The beat sweep (`sweep_superseded_files`) deletes the files of every
  ready version but each dataset's newest `DATASET_FILES_KEEP_LATEST`, once rendered and last downloaded more than
  `DATASET_FILES_KEEP_DAYS` ago; their rows say `on_request`, and a download (503 meanwhile) or the dataset page's
  "Prepare" renders them again: the same bytes, the version's rows being the same. So the files on disk stay about
  `KEEP_LATEST` versions' worth per dataset however long a project lives.
- **Deletion.** A version deleted (with its dataset or project, as cascades do from the admin) has its directory
  deleted once the deletion commits (`version_deleted`, connected to post_delete in `apps.py`; the cascade sends it
  for every version). Whatever still escapes (a raw delete, a crash between commit and rmtree, a render that lost a
  race with a deletion) is removed by the beat sweep `labeling.sweep_version_files` (`sweep_orphan_directories`).
"""

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from labeling.models import AuditEvent, DatasetVersion, VersionFile, VersionFileState, VersionStatus, work_key
from labeling.rules.render_failures import render_failure_note

from . import outbox
from .exports import FORMATS, STORED_FORMATS

logger = logging.getLogger(__name__)

# A file pending this long that no render took up was lost on the way (its message lost, its task failed before it
# started): ask again. One a render took up waits for the render's time limit instead (`_request_lost`).
STALE_REQUEST = timedelta(minutes=15)
# A download records when it was served at most once this often: the sweep needs days, not a write per download.
SERVED_GRAIN = timedelta(hours=1)
DIRECTORY = "datasets"
# The render task's hard time limit (tasks.py): a worker kills a render past it, so a temporary file written longer
# ago than this belongs to a render that died.
RENDER_TIME_LIMIT = timedelta(hours=1)
# Its soft time limit: the render fails (its file marked failed) before the worker kills it.
RENDER_SOFT_TIME_LIMIT = RENDER_TIME_LIMIT - timedelta(seconds=100)
# A render re-stamps its files at most this often as it writes (one UPDATE an interval, not one a chunk; a chunk is a
# row group: seconds), so a render that dies where nothing of it can write (a database outage fails its failure
# handler too) is known dead after RENDER_SILENCE, not after its time limit. The stamp is the worker's clock and the
# bound is minutes, so clocks a few seconds apart do not matter.
RENDER_HEARTBEAT = timedelta(seconds=60)
RENDER_SILENCE = 5 * RENDER_HEARTBEAT
TEMPORARY_SUFFIX = ".part"


def version_directory(version_id: int) -> str:
    """The storage directory of one version's files (deleted whole when the version is withdrawn)."""
    return f"{DIRECTORY}/{version_id}"


def file_name(version: DatasetVersion, fmt: str) -> str:
    """The storage name of a version's file in a format: its revision is part of it, so a new revision never
    overwrites a file being served."""
    export = FORMATS[fmt]
    return f"{version_directory(version.pk)}/{fmt}.r{export.revision}.{export.extension}"


def request_files(*, version: DatasetVersion, formats: Iterable[str] = STORED_FORMATS) -> None:
    """Ask a worker to render these files of a ready version (in the caller's transaction; sent once it commits)."""
    formats = list(formats)
    now = timezone.now()
    for fmt in formats:
        VersionFile.objects.update_or_create(
            version=version,
            format=fmt,
            # `error` stays: the last render's failure is shown until a render makes the file (`_record` clears it).
            defaults={"state": VersionFileState.PENDING, "revision": FORMATS[fmt].revision},
        )
    # No render has taken this request up yet (`_request_lost`): a stamp of an earlier render is no longer its own.
    VersionFile.objects.filter(version=version, format__in=formats).update(requested_at=now, render_started_at=None)
    outbox.enqueue(
        task="labeling.render_version_files", args=[version.pk], dedupe_key=work_key("render_version_files", version.pk)
    )


def record_operator_download(*, version: DatasetVersion, fmt: str, actor) -> None:
    """Audit a download by an operator who is not a member (`dataset.downloaded`): the project's leads see in its
    audit log who outside the project took a copy of its data. A member's downloads are theirs and not written."""
    dataset = version.dataset
    AuditEvent.objects.create(
        project_id=dataset.project_id,
        actor=actor,
        action="dataset.downloaded",
        details={
            "dataset": dataset.slug,
            "name": dataset.name,
            "version": version.number,
            "format": fmt,
            "operator": True,
        },  # fmt: skip
    )


def file_for_download(*, version: DatasetVersion, fmt: str) -> VersionFile | None:
    """The version's current file in this stored format, recorded as served; None while it is being prepared (asked
    for here when it was never asked for, failed, is of an older revision, went missing, was swept to save disk, or
    its request looks lost)."""
    current = prepare_file(version=version, fmt=fmt)
    if current is not None:
        now = timezone.now()
        if current.served_at is None or current.served_at < now - SERVED_GRAIN:
            VersionFile.objects.filter(pk=current.pk).update(served_at=now)
    return current


def prepare_file(*, version: DatasetVersion, fmt: str) -> VersionFile | None:
    """The version's current file in this stored format, or None after asking a worker to render it (unless a
    render was asked for lately and is still on its way)."""
    current = VersionFile.objects.filter(version=version, format=fmt).first()
    state = _download_state(current, fmt, now=timezone.now())
    if state == VersionFileState.READY:
        if current.name and default_storage.exists(current.name):
            return current
        logger.warning("The %s file of %s is missing from MEDIA_ROOT: rendering it again", fmt, version)
    elif state == VersionFileState.PENDING:
        return None
    elif current is not None and current.state == VersionFileState.PENDING and current.render_started_at:
        logger.warning(
            "The render of the %s file of %s fell silent (died, was killed at its time limit or lost its database): "
            "rendering it again",
            fmt,
            version,
        )
    with transaction.atomic():
        request_files(version=version, formats=[fmt])
    return None


class FileState(NamedTuple):
    """What a download of one stored file gets now: `state` is `ready` (served at once), `pending` (a worker is making
    it: 503 meanwhile) or `on_request` (not on disk: the first download or "Prepare" asks a worker to make it). `swept`:
    deleted by the sweep to save disk. `size` and `sha256`: of the file's bytes, once made in the format's current
    revision (a swept file made again has the same bytes); else None. `error`: why the last render failed, as stored
    (`Type: text`: for operators only, it may name hosts and paths), while no render has made the file since (asked
    for again or not); else empty. `failure` (a property): the same in plain words, for everyone
    (`rules.render_failures`)."""

    state: str
    swept: bool = False
    size: int | None = None
    sha256: str | None = None
    error: str = ""

    @property
    def failure(self) -> str:
        """`error` in plain words, for everyone: past, and whether a render is on its way again."""
        return self.failure_note()

    def failure_note(self, *, operator_view: bool = False) -> str:
        """`failure`, for an operator who is not a member when `operator_view` (`rules.render_failures`)."""
        pending = self.state == VersionFileState.PENDING
        return render_failure_note(
            self.error, soft_time_limit=RENDER_SOFT_TIME_LIMIT, pending=pending, operator_view=operator_view
        )


def file_states(*, versions: Iterable[DatasetVersion]) -> dict[int, dict[str, FileState]]:
    """The state of each ready version's stored files, by version id and format, read in one query; nothing is asked
    for. A file never asked for, failed, of an older revision or whose request looks lost is `on_request` too: a
    download would ask for it."""
    versions = [version for version in versions if version.status == VersionStatus.READY]
    if not versions:
        return {}
    current = {
        (row.version_id, row.format): row
        for row in VersionFile.objects.filter(version__in=versions, format__in=STORED_FORMATS)
    }
    now = timezone.now()
    states: dict[int, dict[str, FileState]] = {}
    for version in versions:
        states[version.pk] = {}
        for fmt in STORED_FORMATS:
            row = current.get((version.pk, fmt))
            state = _download_state(row, fmt, now=now)
            if row is None:
                states[version.pk][fmt] = FileState(state)
                continue
            made = row.revision == FORMATS[fmt].revision and bool(row.sha256)
            states[version.pk][fmt] = FileState(
                state,
                swept=row.state == VersionFileState.ON_REQUEST,
                size=row.size if made else None,
                sha256=row.sha256 if made else None,
                error=row.error if state != VersionFileState.READY else "",
            )
    return states


def _download_state(row: VersionFile | None, fmt: str, *, now: datetime) -> str:
    """What a download of this file gets by its row (the disk aside): `ready`, `pending` (asked for, its request not
    lost) or `on_request` (never asked for, failed, swept, of an older revision, or its request looks lost)."""
    if row is None or row.revision != FORMATS[fmt].revision:
        return VersionFileState.ON_REQUEST
    if row.state == VersionFileState.READY or (row.state == VersionFileState.PENDING and not _request_lost(row, now)):
        return row.state
    return VersionFileState.ON_REQUEST


def _request_lost(row: VersionFile, now: datetime) -> bool:
    """Whether no render can still be making this pending file: the render that took up its request (its stamp, which
    each request clears and the render renews as it writes) has been silent for RENDER_SILENCE, or no render took it
    up within STALE_REQUEST."""
    if row.render_started_at is not None:
        return row.render_started_at <= now - RENDER_SILENCE
    return row.requested_at <= now - STALE_REQUEST


def download_states(*, versions: Iterable[DatasetVersion]) -> dict[tuple[int, str], FileState]:
    """Each ready version's stored files, by (version id, format), as `file_states` reads them, after asking for those
    no one swept: a file never asked for, failed, of an older revision or whose request looks lost is asked for again
    (what a download would do) and is `pending`, so a page that shows "preparing" does not wait for a click that never
    comes. A swept file stays `on_request`: the page would undo the sweep each time it is viewed."""
    versions = list(versions)
    states, read = {}, file_states(versions=versions)
    for version in versions:
        wanted = []
        for fmt, file in read.get(version.pk, {}).items():
            if file.state == VersionFileState.ON_REQUEST and not file.swept:
                wanted.append(fmt)
                file = file._replace(state=VersionFileState.PENDING)
            states[version.pk, fmt] = file
        if wanted:
            with transaction.atomic():
                request_files(version=version, formats=wanted)
    return states


def render_version_files(*, version_id: int) -> list[str]:
    """Render every stored format the version lacks a current file of (pending, failed, older revision, missing; not
    one swept and not asked for since); return the formats rendered. Idempotent: a current file is left as it is; a
    version gone, not ready or withdrawn renders nothing, and a file rendered while an erasure withdrew the version is
    deleted."""
    version = DatasetVersion.objects.filter(pk=version_id, status=VersionStatus.READY).first()
    if version is None:
        return []
    wanted = []
    for fmt in STORED_FORMATS:
        current, _ = VersionFile.objects.get_or_create(
            version=version, format=fmt, defaults={"revision": FORMATS[fmt].revision}
        )
        fresh = current.state == VersionFileState.READY and current.revision == FORMATS[fmt].revision
        if fresh and current.name and default_storage.exists(current.name):
            continue
        if current.state == VersionFileState.ON_REQUEST:
            continue  # swept to save disk, and nobody has asked for it since
        wanted.append(current)
    # Every file before the first is made, and again as it writes: a download meanwhile knows this render is on its
    # way (`_request_lost`).
    heartbeat = _Heartbeat([current.pk for current in wanted])
    rendered = []
    for position, current in enumerate(wanted):
        fmt, export = current.format, FORMATS[current.format]
        name = file_name(version, fmt)
        try:
            temporary, size, sha256 = write_beside(name, heartbeat.beating(export.chunks(version=version)))
            try:
                recorded = _record(
                    version_id=version.pk,
                    fmt=fmt,
                    rubric_versions=version.rubric_versions,
                    temporary=temporary,
                    name=name,
                    size=size,
                    sha256=sha256,
                    revision=export.revision,
                )
            finally:
                temporary.unlink(missing_ok=True)  # ours alone: gone once moved into place
        except Exception as exc:  # the soft time limit too: failed, a download asks again at once
            VersionFile.objects.filter(pk=current.pk).update(
                state=VersionFileState.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
            )
            # Those this render will not make are no longer on their way (unless a render since took them up).
            heartbeat.stop(pks=[later.pk for later in wanted[position + 1 :]])
            raise
        if not recorded:
            # Nor when it lost at its record: this file waits for the render asked for, the later ones for the next
            # download (their stamp would have them on their way for RENDER_SILENCE).
            heartbeat.stop(pks=[later.pk for later in wanted[position:]])
            return rendered
        heartbeat.done(current.pk)
        rendered.append(fmt)
        if current.name and current.name != name:
            default_storage.delete(current.name)  # the file of an older revision
    return rendered


class _Heartbeat:
    """A render's stamp on the files it is still to make: set when it starts, renewed as it writes (at most every
    RENDER_HEARTBEAT, in one UPDATE), cleared when it gives them up. Only rows that still hold this render's last stamp
    are touched: a request since (which clears it) or a render that took them up since owns them."""

    def __init__(self, pks: list[int]) -> None:
        self.pks, self.stamp = list(pks), timezone.now()
        VersionFile.objects.filter(pk__in=self.pks).update(render_started_at=self.stamp)

    def beating(self, chunks: Iterable[bytes]) -> Iterable[bytes]:
        """The chunks, renewing the stamp between them when it is RENDER_HEARTBEAT old."""
        for chunk in chunks:
            now = timezone.now()
            if now - self.stamp >= RENDER_HEARTBEAT:
                VersionFile.objects.filter(pk__in=self.pks, render_started_at=self.stamp).update(render_started_at=now)
                self.stamp = now
            yield chunk

    def done(self, pk: int) -> None:
        """A file made: ready, it needs no stamp renewed."""
        self.pks.remove(pk)

    def stop(self, *, pks: list[int]) -> None:
        """These files are no longer on their way: clear this render's stamp on them."""
        VersionFile.objects.filter(pk__in=pks, render_started_at=self.stamp).update(render_started_at=None)


@transaction.atomic
def _record(
    *,
    version_id: int,
    fmt: str,
    rubric_versions: list[int],
    temporary: Path,
    name: str,
    size: int,
    sha256: str,
    revision: int,
) -> bool:
    """Move the temporary file over its name and mark it ready, if the version is still ready (an erasure withdraws a
    version under the same row lock; it wins), still has the `rubric_versions` the file was rendered with, and its
    file's row still exists (one swept to `on_request` meanwhile is ready again: its file is in place). Otherwise
    leave the name as it is: a newer render may have recorded a file of that name."""
    # The version's row lock: an erasure that withdraws it, or migration 0066 that widens its `rubric_versions` (which
    # decide the typed files' columns) and asks for its files again, updates the row, so one of us waits for the
    # other. A render that read the version before such a widening leaves the file pending for the render asked for.
    version = DatasetVersion.objects.select_for_update(of=("self",)).filter(pk=version_id).first()
    if version is None or version.status != VersionStatus.READY or version.rubric_versions != rubric_versions:
        return False
    updated = VersionFile.objects.filter(version_id=version_id, format=fmt).update(
        state=VersionFileState.READY,
        name=name,
        size=size,
        sha256=sha256,
        revision=revision,
        rendered_at=timezone.now(),
        error="",
    )
    if updated != 1:
        return False
    # Under the lock, so renders that win move their files in the order they record them.
    os.replace(temporary, default_storage.path(name))
    return True


def write_beside(name: str, chunks: Iterable[bytes]) -> tuple[Path, int, str]:
    """Write the chunks to a new temporary file beside the storage name, synced, for `_record` to move over the name
    (`os.replace`: readers see the whole old file or the whole new one). Returns its path and the size and SHA-256
    of what was written."""
    path = Path(default_storage.path(name))
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(descriptor, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary), size, digest.hexdigest()


def discard_files(*, version_ids: Iterable[int]) -> None:
    """Forget the versions' files and delete them from storage once the caller's transaction commits (an erasure
    withdraws the versions: their files hold the erased rows)."""
    version_ids = list(version_ids)
    VersionFile.objects.filter(version_id__in=version_ids).delete()
    for version_id in version_ids:
        transaction.on_commit(partial(_delete_directory, version_directory(version_id)), robust=True)


def version_deleted(sender, instance: DatasetVersion, **kwargs) -> None:
    """post_delete of a version (also sent for each version a project or dataset cascade deletes): delete its
    directory once the deletion commits; a rolled back deletion keeps it."""
    transaction.on_commit(partial(_delete_directory, version_directory(instance.pk)), robust=True)


def sweep_superseded_files(*, now: datetime | None = None) -> list[VersionFile]:
    """Delete the files of superseded versions nobody downloaded lately, to save disk; return their rows (now
    `on_request`). Kept: the files of each dataset's newest `DATASET_FILES_KEEP_LATEST` ready versions, and any file
    rendered or downloaded in the last `DATASET_FILES_KEEP_DAYS` (one made again on request stays that long too).

    The rows change first and the files go once that commits. A download that read a row as ready just before finds
    no file and is told to retry while the file is made again (as for any file missing from MEDIA_ROOT)."""
    now = now or timezone.now()
    since = now - timedelta(days=settings.DATASET_FILES_KEEP_DAYS)
    newest = (
        DatasetVersion.objects.filter(status=VersionStatus.READY)
        .annotate(rank=Window(RowNumber(), partition_by=F("dataset_id"), order_by=F("number").desc()))
        .filter(rank__lte=settings.DATASET_FILES_KEEP_LATEST)
        .values_list("pk", flat=True)
    )
    with transaction.atomic():
        swept = list(
            VersionFile.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=VersionFileState.READY, version__status=VersionStatus.READY, rendered_at__lt=since)
            .filter(Q(served_at__isnull=True) | Q(served_at__lt=since))
            .exclude(version_id__in=list(newest))
            .order_by("pk")
        )
        VersionFile.objects.filter(pk__in=[row.pk for row in swept]).update(state=VersionFileState.ON_REQUEST, name="")
        names = [row.name for row in swept if row.name]
        transaction.on_commit(partial(_delete_files, names), robust=True)
    if swept:
        logger.info(
            "Swept %d files of superseded dataset versions (%.1f MB)",
            len(swept),
            sum(row.size or 0 for row in swept) / 1e6,
        )
    return swept


def _delete_files(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def sweep_orphan_directories() -> list[int]:
    """Delete the `datasets/<version id>` directories of versions that no longer exist; return those ids. A
    directory is made only by a render of a committed, ready version, so one without a row is an orphan."""
    root = Path(default_storage.path(DIRECTORY))
    if not root.is_dir():
        return []
    on_disk = {int(entry.name) for entry in root.iterdir() if entry.is_dir() and entry.name.isdigit()}
    live = set(DatasetVersion.objects.filter(pk__in=on_disk).values_list("pk", flat=True))
    orphans = sorted(on_disk - live)
    for version_id in orphans:
        _delete_directory(version_directory(version_id))
    if orphans:
        logger.info("Deleted the file directories of %d deleted dataset versions", len(orphans))
    return orphans


def sweep_dead_renders(*, now: datetime | None = None) -> list[str]:
    """Delete the temporary files renders left in `datasets/<version id>` when they died before moving them into
    place; return their storage names. Only files last written longer ago than `RENDER_TIME_LIMIT` go: a render still
    running is younger than its time limit, and so is every write to its file."""
    now = now or timezone.now()
    root = Path(default_storage.path(DIRECTORY))
    if not root.is_dir():
        return []
    dead_before = (now - RENDER_TIME_LIMIT).timestamp()
    swept, size = [], 0
    for directory in sorted(root.iterdir()):
        if not (directory.is_dir() and directory.name.isdigit()):
            continue
        for path in sorted(directory.glob(f".*{TEMPORARY_SUFFIX}")):
            try:
                written = path.stat()
                if written.st_mtime >= dead_before:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue  # moved into place or deleted with its directory meanwhile
            swept.append(f"{version_directory(int(directory.name))}/{path.name}")
            size += written.st_size
    if swept:
        logger.info("Deleted %d temporary files of dead renders (%.1f MB)", len(swept), size / 1e6)
    return swept


def _delete_directory(name: str) -> None:
    shutil.rmtree(default_storage.path(name), ignore_errors=True)
