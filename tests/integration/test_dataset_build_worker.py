"""A dataset build delivered twice, or whose worker is killed with SIGKILL midway and redelivered by
Redis, ends with exactly one ready version whose checksum equals a clean build's."""

import hashlib
import signal

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from labeling.models import (
    DatasetVersion,
    Item,
    ItemStatus,
    Label,
    Output,
    Queue,
    Resolution,
    ResolutionStatus,
    Slot,
    SlotState,
    VersionStatus,
)
from labeling.services.datasets import create_dataset
from labeling.services.datasets.rows import RowMaker, selected_keys
from labeling.services.rubrics import publish_rubric
from labeling.tasks import build_dataset
from tests.factories import MembershipFactory, UserFactory
from tests.helpers.processes import start_worker, stop_worker, wait_for, worker_log
from tests.helpers.rubrics import QUESTIONS
from tests.helpers.servers import database_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
ITEMS = 6000  # three chunks of rows


def _labeled_project(project):
    """ITEMS outputs, each one complete item with two agreeing labels and a resolution (bulk, fast)."""
    rubric = publish_rubric(project=project, questions=QUESTIONS)
    queue = Queue.objects.create(project=project, slug="all", name="All", overlap=2)
    experts = [MembershipFactory(project=project, user=UserFactory(username=f"w{n}")).user for n in range(2)]
    now = timezone.now()
    outputs = Output.objects.bulk_create(
        Output(
            project=project, external_id=f"o-{i:05d}", occurred_at=now, received_at=now, routed_at=now,
            input="Where is my parcel?", output=f"It ships on day {i % 7}. " * 20, content_hash=f"{i:064x}",
        )
        for i in range(ITEMS)
    )  # fmt: skip
    week = now.date()
    items = Item.objects.bulk_create(  # resolved below, so their gold is not stale
        Item(project=project, queue=queue, output=o, week=week, overlap=2, status=ItemStatus.COMPLETE, gold_stale=False)
        for o in outputs
    )
    Slot.objects.bulk_create(
        Slot(item=item, queue=queue, number=n + 1, state=SlotState.DONE, expert=expert)
        for item in items
        for n, expert in enumerate(experts)
    )
    Label.objects.bulk_create(
        Label(item=item, expert=expert, rubric=rubric, answers={"correct": bool(item.pk % 3)})
        for item in items
        for expert in experts
    )
    Resolution.objects.bulk_create(
        Resolution(
            item=item, status=ResolutionStatus.RESOLVED,
            automatic={"correct": {"value": bool(item.pk % 3), "method": "unanimous"}},
        )
        for item in items
    )  # fmt: skip
    return create_dataset(project=project, spec={"name": "Support eval"})


def _clean_checksum(dataset) -> str:
    """The SHA-256 of the dataset's JSONL as a build from scratch makes its lines, without storing a version."""
    digest = hashlib.sha256()
    for _, _, line, *_ in RowMaker(dataset).rows(selected_keys(dataset)):
        digest.update(line + b"\n")
    return digest.hexdigest()


def _a_build_waits_on_the_labels() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


def test_a_build_killed_midway_is_redelivered_and_ends_with_one_clean_version(project, tmp_path):
    dataset = _labeled_project(project)
    expected = _clean_checksum(dataset)

    # Hold the labels table so the build stops inside its transaction, with its version claimed: the
    # worker is killed there, at a moment the test knows, however fast the build has become.
    blocker = psycopg.connect(database_url())
    blocker.execute(f"LOCK TABLE {Label._meta.db_table} IN ACCESS EXCLUSIVE MODE")
    first = start_worker(log=tmp_path / "first.log", CELERY_VISIBILITY_TIMEOUT="3")
    try:
        killed = build_dataset.delay(dataset.pk).id
        assert wait_for(lambda: DatasetVersion.objects.filter(dataset=dataset, status="building").exists(), 60)
        assert wait_for(_a_build_waits_on_the_labels, 60)
        stop_worker(first, signal.SIGKILL)
    finally:
        stop_worker(first, signal.SIGKILL)
        blocker.rollback()
        blocker.close()

    version = DatasetVersion.objects.get(dataset=dataset)
    assert version.status == VersionStatus.BUILDING and version.rows.count() == 0  # nothing half-visible

    # The killed worker's message comes back once its 3 s of visibility have passed, at the worker's next look for
    # lost messages (every second here).
    second = start_worker(
        log=tmp_path / "second.log", empty_queue=False,
        CELERY_VISIBILITY_TIMEOUT="3", CELERY_UNACKED_RESTORE_SECONDS="1",
    )  # fmt: skip
    try:
        twin = build_dataset.delay(dataset.pk).id  # and a twin delivery of the same build, for good measure
        done = wait_for(
            lambda: (
                DatasetVersion.objects.filter(dataset=dataset, status="ready").exists()
                and not DatasetVersion.objects.filter(dataset=dataset, status="building").exists()
            ),
            120,
        )
        # Both deliveries ran to the end: the redelivered one too (the build, or finding nothing left to do).
        said = second.log.read_text
        both_ran = wait_for(lambda: all(f"[{task}] succeeded" in said(errors="replace") for task in (killed, twin)))
    finally:
        stop_worker(second)

    assert done
    assert both_ran, worker_log(second)
    versions = list(DatasetVersion.objects.filter(dataset=dataset))
    assert [(v.number, v.status) for v in versions] == [(1, VersionStatus.READY)]
    assert versions[0].row_count == ITEMS == versions[0].rows.count()
    assert versions[0].sha256 == expected
