"""A build from claim to ready (`build_version`): claim the number under the dataset's row lock, fill it in one
transaction (incrementally on the version before when the definition is the same), and announce it; and a ready
copy of a version without some outputs' rows (`copy_version_without`, for an erasure)."""

from datetime import datetime

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from labeling.models import Dataset, DatasetRow, DatasetVersion, VersionStatus
from labeling.rules.calendar import cycle_week

from .. import version_files, webhook_events
from ..resolution import resolve_stale_items
from .rows import RowMaker, definition_fingerprint, selected_keys
from .storage import ROW_COLUMNS, Unchanged, delete_rows, read_back, tally_of, write_incremental, write_rows


def build_version(*, dataset_id: int, full: bool = False, now: datetime | None = None) -> DatasetVersion | None:
    """Build the dataset's next version; None when nothing changed. Safe to run twice, or after a crash.

    `now`: the moment the version is made and built at (its `created_at`, `built_at`, and the cycle week it was built
    in); a weekly close passes its own, so a version it built reads that close's moment, however long the build took.
    By default the clock's. A call that joins a build already in flight keeps that build's `created_at` and writes
    `built_at` from its own `now`: `created_at` is informational, and `number` is the versions' order (nothing orders
    or picks a version by `created_at`).

    The project's items whose gold a label edit made stale are resolved first, so no row's `label` and `gold_status`
    contradict the answers in its `annotations`; an item never resolved yet stays so (its row says so).

    The rows of the version before are copied where nothing they were made from changed (see `_fill`);
    `full=True` builds every row from scratch. Either way the bytes are the same.

    A full build that finds another build's version claimed waits for it to finish; if that build copied rows (an
    incremental one was in flight) or made nothing, the build from scratch asked for has not happened yet, so it
    claims the next number and makes it (a version from scratch that copied no row, `rows_copied == 0`, is one).
    """
    # Gold answers first: a label edited since its item was resolved waits for a task (or the weekly close) to resolve
    # it again, and a row made meanwhile would put the old gold beside the new answers.
    project_id = Dataset.objects.filter(pk=dataset_id).values_list("project_id", flat=True).first()
    if project_id is not None:
        resolve_stale_items(project_id=project_id, resolved_before_only=True)
    while True:
        version = _claim_build(dataset_id, now=now)
        if version is None:
            return None
        built, filled_here = _build_claimed(dataset_id, version, full=full, now=now)
        if filled_here or not full or _built_from_scratch(built):
            return built


def _built_from_scratch(version: DatasetVersion | None) -> bool:
    return version is not None and version.status == VersionStatus.READY and version.rows_copied == 0


def _build_claimed(
    dataset_id: int, version: DatasetVersion, *, full: bool, now: datetime | None
) -> tuple[DatasetVersion | None, bool]:
    """Fill the claimed version unless a twin delivery or another build got there first: (the version or None
    when nothing changed, whether this call filled it)."""
    try:
        with transaction.atomic():
            version = DatasetVersion.objects.select_for_update(of=("self",)).filter(pk=version.pk).first()
            if version is None or version.status != VersionStatus.BUILDING:
                return version, False  # another build finished it, or found nothing had changed
            _fill(version, full=full, now=now)
    except Unchanged:
        DatasetVersion.objects.filter(pk=version.pk, status=VersionStatus.BUILDING).delete()
        Dataset.objects.filter(pk=dataset_id).update(build_requested_at=None)
        return None, True
    except Exception as exc:
        DatasetVersion.objects.filter(pk=version.pk).update(status=VersionStatus.FAILED, built_at=now or timezone.now())
        Dataset.objects.filter(pk=dataset_id).update(build_requested_at=None, build_error=str(exc)[:2000])
        raise
    Dataset.objects.filter(pk=dataset_id).update(build_requested_at=None)
    return version, True


@transaction.atomic
def _claim_build(dataset_id: int, *, now: datetime | None) -> DatasetVersion | None:
    dataset = Dataset.objects.select_for_update(of=("self",)).filter(pk=dataset_id).first()
    if dataset is None:
        return None
    building = dataset.versions.filter(status=VersionStatus.BUILDING).first()
    if building:
        return building
    last = dataset.versions.aggregate(last=Max("number"))["last"] or 0
    return DatasetVersion.objects.create(
        dataset=dataset, number=last + 1, status=VersionStatus.BUILDING, created_at=now or timezone.now()
    )


def _fill(version: DatasetVersion, *, full: bool, now: datetime | None) -> None:
    """Write the version's rows and figures: incrementally on top of the version before when it is ready and
    was built from the same definition, else (or with `full`) every row from scratch."""
    dataset = Dataset.objects.select_related("project").get(pk=version.dataset_id)
    delete_rows([version.pk])
    definition = definition_fingerprint(dataset)
    predecessor = dataset.versions.exclude(pk=version.pk).order_by("-number").first()
    incremental = (
        not full
        and predecessor is not None
        and predecessor.status == VersionStatus.READY
        and predecessor.definition_sha256 == definition
    )
    maker = RowMaker(dataset)
    if incremental:
        written = write_incremental(version, maker, predecessor)
    else:
        written = write_rows(version, maker.rows(selected_keys(dataset)))
    previous = dataset.versions.ready().order_by("-number").first()
    if previous and previous.sha256 == written["sha256"]:
        raise Unchanged
    for name, value in written.items():
        setattr(version, name, value)
    version.status, version.definition_sha256 = VersionStatus.READY, definition
    built_at = now or timezone.now()  # one moment: the week it was built in is the week of its built_at
    version.cycle_week, version.built_at = cycle_week(dataset.project, built_at), built_at
    version.save()
    version.dataset = dataset
    _became_ready(version)


def _became_ready(version: DatasetVersion) -> None:
    """What follows a new ready version, built or copied without an erased end user's rows: the event, and the
    request for its files (Parquet, Hugging Face) rendered by a worker, in the version's transaction (sent once it is
    committed)."""
    webhook_events.dataset_version_ready(version)
    version_files.request_files(version=version)


@transaction.atomic
def copy_version_without(*, version: DatasetVersion, external_ids: set[str]) -> DatasetVersion:
    """Make the dataset's next version: a ready copy of `version`, in order, without the rows of these outputs.

    The caller holds the dataset's row lock, so no build claims the number meanwhile (erasure does). The copy
    keeps the definition fingerprint and the rows' source digests, so the next build can start from it, and
    points its rows at the lines `version`'s rows point at: nothing is written but the rows.
    """
    last = version.dataset.versions.order_by("-number").values_list("number", flat=True).first()
    successor = DatasetVersion.objects.create(
        dataset_id=version.dataset_id,
        number=last + 1,
        status=VersionStatus.READY,
        cycle_week=version.cycle_week,
        built_at=timezone.now(),
        definition_sha256=version.definition_sha256,
    )
    kept = DatasetRow.objects.filter(version=version).exclude(external_id__in=external_ids)
    table, columns = DatasetRow._meta.db_table, ROW_COLUMNS
    sql, params = kept.values_list("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        # Positions renumbered in order from 0: the rows left keep their order.
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT %s, row_number() OVER (ORDER BY position) - 1, external_id, "
            f"split, line_id, octets, source_digest, rubric_version, annotation_versions FROM {table} "
            f"WHERE id IN ({sql})",
            [successor.pk, *params],
        )
    tally = tally_of(successor.pk)
    written = read_back(successor.pk, tally.rows.total(), tally)
    DatasetVersion.objects.filter(pk=successor.pk).update(**written, rows_copied=written["row_count"])
    successor.refresh_from_db()
    _became_ready(successor)
    return successor
