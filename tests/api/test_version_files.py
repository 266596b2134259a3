"""Parquet and hf downloads are files a worker rendered once: 503 with Retry-After while one is prepared, the same
bytes the streamed renderer made, strong ETags and byte ranges, and an erasure that deletes and renders again."""

import base64
import dataclasses
import hashlib
import io
import logging
import threading
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DatabaseError, OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labeling.models import OutboxMessage, VersionFile, VersionFileState
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import build_version, create_dataset
from labeling.services.exports import FORMATS, parquet_chunks
from labeling.services.privacy import erase_end_user
from labeling.services.version_files import render_version_files, sweep_superseded_files
from tests.conftest import Api
from tests.helpers.concurrency import in_thread_noting_its_pid
from tests.helpers.labeling import TIE, label_outputs
from tests.outbox import enqueued, run_as_worker

pytestmark = pytest.mark.postgres
EVAL = "/api/v1/projects/support-bot/datasets/support-eval"
RENDER_TASK = "labeling.render_version_files"


ERASED = "end-user-7"


@pytest.fixture
def version(project, lead):
    label_outputs(project, 7)
    label_outputs(project, 1, answers=TIE, start=50)
    project.outputs.filter(pk=project.outputs.order_by("pk").first().pk).update(end_user_id=ERASED)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    return build_version(dataset_id=dataset.pk)


@pytest.fixture
def reader(client, project):
    return Api(client, create_api_key(project=project, name="reader", scopes=["read"]).secret)


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def get(reader, path, **headers):
    """A GET with the reader's key and these request headers."""
    return reader.client.get(path, headers=headers, **reader._headers(...))


def test_a_new_version_asks_a_worker_for_its_files_and_the_download_waits_for_them(reader, version):
    """Built: one render task in the outbox, a pending row per stored format; the download is a 503 saying so."""
    assert [m.args for m in enqueued(RENDER_TASK)] == [[version.pk]]
    assert set(VersionFile.objects.filter(version=version).values_list("format", "state")) == {
        ("parquet", VersionFileState.PENDING),
        ("hf", VersionFileState.PENDING),
    }

    response = reader.get(f"{EVAL}/versions/1/download?format=parquet")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "being prepared" in response.json()["errors"][0]["message"]
    assert len(enqueued(RENDER_TASK)) == 1  # asked once


@pytest.fixture
def request_log(caplog):
    """What django.request logs, from INFO up."""
    with caplog.at_level(logging.INFO, logger="django.request"):
        yield caplog


def test_polling_a_file_being_prepared_logs_no_error_but_a_database_outage_still_does(reader, version, request_log):
    """The 503 while a worker renders is an expected state a client polls through: an operator's error log must
    not fill with it. A real 5xx (the database down) is still an error."""
    for _poll in range(2):
        assert reader.get(f"{EVAL}/versions/1/download?format=parquet").status_code == 503

    polls = [(r.levelno, r.status_code) for r in request_log.records if r.name == "django.request"]
    assert polls == [(logging.INFO, 503)] * 2

    request_log.clear()

    def refuse(execute, sql, params, many, context):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    with connection.execute_wrapper(refuse):
        assert reader.get(f"{EVAL}/versions/1/download?format=parquet").status_code == 503

    outage = [(r.levelno, r.status_code) for r in request_log.records if r.name == "django.request"]
    assert outage == [(logging.ERROR, 503)]


def test_a_version_made_before_files_existed_is_rendered_when_first_downloaded(reader, version):
    VersionFile.objects.filter(version=version).delete()
    for message in enqueued(RENDER_TASK):
        message.delete()

    assert reader.get(f"{EVAL}/versions/1/download?format=hf").status_code == 503
    [message] = enqueued(RENDER_TASK)
    run_as_worker(message)

    response = reader.get(f"{EVAL}/versions/1/download?format=hf")
    assert response.status_code == 200 and body(response)[:2] == b"PK"


def test_the_task_renders_each_file_once_and_the_download_is_the_streamed_renderers_bytes(reader, version):
    [message] = enqueued(RENDER_TASK)
    assert sorted(run_as_worker(message)) == ["hf", "parquet"]
    stored = VersionFile.objects.get(version=version, format="parquet")
    assert render_version_files(version_id=version.pk) == []  # a second delivery leaves the files as they are
    assert VersionFile.objects.get(pk=stored.pk).rendered_at == stored.rendered_at

    response = reader.get(f"{EVAL}/versions/1/download?format=parquet")

    served = body(response)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(stored.size) == str(len(served))
    assert response.headers["ETag"] == f'"{version.sha256}-parquet.v4"'
    assert response.headers["Content-Disposition"] == 'attachment; filename="support-bot-support-eval-v1.parquet"'
    assert hashlib.sha256(served).hexdigest() == stored.sha256
    streamed = b"".join(parquet_chunks(version=version))  # what the web request made before files
    assert pq.read_table(io.BytesIO(served)).equals(pq.read_table(io.BytesIO(streamed)))
    table = pq.read_table(io.BytesIO(served))
    assert table.num_rows == version.row_count == 7  # the tie is not settled: not in a resolved-only dataset
    assert table.schema.field("input").type == pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    assert pa.types.is_struct(table.schema.field("label").type)


def test_a_stored_file_answers_304_to_its_etag_and_one_byte_range(reader, version):
    render_version_files(version_id=version.pk)
    whole = body(reader.get(f"{EVAL}/versions/1/download?format=parquet"))
    etag = f'"{version.sha256}-parquet.v4"'

    parquet = f"{EVAL}/versions/1/download?format=parquet"

    assert get(reader, parquet, **{"If-None-Match": etag}).status_code == 304
    ranged = get(reader, parquet, Range="bytes=4-99")
    assert ranged.status_code == 206
    assert ranged.headers["Content-Range"] == f"bytes 4-99/{len(whole)}"
    assert body(ranged) == whole[4:100]
    assert body(get(reader, parquet, Range="bytes=-4")) == whole[-4:] == b"PAR1"
    assert get(reader, parquet, Range="bytes=4-99", **{"If-Range": '"another"'}).status_code == 200
    assert get(reader, parquet, Range=f"bytes={len(whole)}-").status_code == 416


def test_a_file_missing_from_the_volume_is_rendered_again(reader, version):
    render_version_files(version_id=version.pk)
    stored = VersionFile.objects.get(version=version, format="parquet")
    Path(settings.MEDIA_ROOT, stored.name).unlink()
    for message in enqueued(RENDER_TASK):
        message.delete()

    assert reader.get(f"{EVAL}/versions/1/download?format=parquet").status_code == 503
    run_as_worker(enqueued(RENDER_TASK)[0])
    assert reader.get(f"{EVAL}/versions/1/download?format=parquet").status_code == 200


def test_erasure_deletes_the_withdrawn_versions_files_and_its_copy_gets_its_own(
    reader, project, version, django_capture_on_commit_callbacks
):
    render_version_files(version_id=version.pk)
    directory = Path(settings.MEDIA_ROOT, VersionFile.objects.get(version=version, format="hf").name).parent

    with django_capture_on_commit_callbacks(execute=True):
        result = erase_end_user(project=project, end_user_id=ERASED)

    assert result.withdrawn_versions == ["support-eval/v1"] and result.successor_versions == ["support-eval/v2"]
    assert not directory.exists() and not VersionFile.objects.filter(version=version).exists()
    assert reader.get(f"{EVAL}/versions/1/download?format=parquet").status_code == 410
    successor = version.dataset.versions.get(number=2)
    render_version_files(version_id=successor.pk)  # the render the copy asked for (published by the commit above)
    served = pq.read_table(io.BytesIO(body(reader.get(f"{EVAL}/versions/2/download?format=parquet"))))
    assert served.num_rows == successor.row_count < version.row_count
    assert len(served.to_pylist()) == version.row_count - 1


def test_a_render_that_finishes_after_an_erasure_withdrew_the_version_keeps_no_file(project, version):
    """The erasure wins: the file written meanwhile is deleted and no row says it is ready."""
    from labeling.services import version_files

    real = version_files.write_beside

    def erase_meanwhile(name, chunks):
        written = real(name, chunks)
        erase_end_user(project=project, end_user_id=ERASED)
        return written

    version_files.write_beside = erase_meanwhile
    try:
        assert render_version_files(version_id=version.pk) == []
    finally:
        version_files.write_beside = real
    assert not any(Path(settings.MEDIA_ROOT, f"datasets/{version.pk}").glob("*.parquet"))
    assert not VersionFile.objects.filter(version=version, state=VersionFileState.READY).exists()


def test_a_render_that_finishes_after_the_versions_rubric_versions_widened_leaves_its_files_pending(
    version, monkeypatch
):
    """Migration 0066 widens a version's rubric versions (which decide the typed files' columns) and asks for its files
    again while a render that read the version before runs: that render marks no file ready, and the render asked
    for makes them, from what the version is now."""
    from django.db import transaction

    from labeling.models import DatasetVersion
    from labeling.services import version_files

    real = version_files.write_beside

    def widened_meanwhile(name, chunks):
        written = real(name, chunks)
        with transaction.atomic():
            DatasetVersion.objects.filter(pk=version.pk).update(rubric_versions=[*version.rubric_versions, 99])
            version_files.request_files(version=version)
        return written

    monkeypatch.setattr(version_files, "write_beside", widened_meanwhile)
    assert render_version_files(version_id=version.pk) == []
    assert set(VersionFile.objects.filter(version=version).values_list("state", flat=True)) == {
        VersionFileState.PENDING
    }

    monkeypatch.setattr(version_files, "write_beside", real)
    assert render_version_files(version_id=version.pk) == ["parquet", "hf"]
    assert set(VersionFile.objects.filter(version=version).values_list("state", flat=True)) == {VersionFileState.READY}


def test_a_render_that_loses_at_its_record_leaves_no_stamp_on_the_files_it_did_not_make(version, monkeypatch):
    """Its version widened under it without a new request (as migration 0066 did, which predates the stamp): the render
    marks nothing ready and stops, and its stamp leaves every file it did not make, as a failed render's does, so none
    reads as on its way for RENDER_SILENCE after a render that ended."""
    from labeling.models import DatasetVersion
    from labeling.services import version_files

    real = version_files.write_beside

    def widened_meanwhile(name, chunks):
        written = real(name, chunks)
        DatasetVersion.objects.filter(pk=version.pk).update(rubric_versions=[*version.rubric_versions, 99])
        return written

    monkeypatch.setattr(version_files, "write_beside", widened_meanwhile)
    assert render_version_files(version_id=version.pk) == []

    files = VersionFile.objects.filter(version=version).order_by("format")
    assert list(files.values_list("format", "state", "render_started_at")) == [
        ("hf", VersionFileState.PENDING, None), ("parquet", VersionFileState.PENDING, None)
    ]  # fmt: skip


def test_a_render_that_loses_to_a_newer_render_of_the_version_keeps_the_newer_renders_files(version, monkeypatch):
    """A render reads the version; the version widens and the render asked for then records its files; the first
    render, losing at its record, must not delete or replace the files of the same names the newer one recorded: a
    download between the two would fail or render them again."""
    from django.db import transaction

    from labeling.models import DatasetVersion
    from labeling.services import version_files

    real_record, newer = version_files._record, []

    def newer_render_records_first(**recorded):
        if not newer:
            newer.append(True)
            with transaction.atomic():
                DatasetVersion.objects.filter(pk=version.pk).update(rubric_versions=[*version.rubric_versions, 99])
                version_files.request_files(version=version)
            newer.extend(render_version_files(version_id=version.pk))
        return real_record(**recorded)

    monkeypatch.setattr(version_files, "_record", newer_render_records_first)
    assert render_version_files(version_id=version.pk) == []
    assert newer == [True, "parquet", "hf"]

    for stored in VersionFile.objects.filter(version=version):
        assert stored.state == VersionFileState.READY
        assert default_storage.exists(stored.name), f"the newer render's {stored.format} file was deleted"
        with default_storage.open(stored.name) as on_disk:
            assert hashlib.sha256(on_disk.read()).hexdigest() == stored.sha256
    assert sorted(path.suffix for path in Path(settings.MEDIA_ROOT, f"datasets/{version.pk}").iterdir()) == [
        ".parquet",
        ".zip",
    ]


def _as_if_later(monkeypatch, by: timedelta):
    """The version files service reads the clock `by` later from now on (the rows keep the times they were written)."""
    from labeling.services import version_files

    real = version_files.timezone
    monkeypatch.setattr(version_files, "timezone", SimpleNamespace(now=lambda: real.now() + by))


def _sent_to_the_worker():
    """The render messages asked for so far are published: asking again adds a message, not finds one queued."""
    OutboxMessage.objects.filter(task=RENDER_TASK).update(published_at=timezone.now())


def _moving_clock(monkeypatch) -> list[timedelta]:
    """The version files service reads the clock this far ahead from now on, in every thread; move it by changing
    the list's one item."""
    from labeling.services import version_files

    real, ahead = version_files.timezone, [timedelta(0)]
    monkeypatch.setattr(version_files, "timezone", SimpleNamespace(now=lambda: real.now() + ahead[0]))
    return ahead


def _slowed(monkeypatch, fmt: str, before_each_piece):
    """The format's renderer hands its real bytes over in 64-byte pieces, calling `before_each_piece(number)` before
    it hands over each: a render that writes slowly, and a place to act in the middle of its writes."""
    export = FORMATS[fmt]

    def pieces(*, version):
        number = 0
        for chunk in export.chunks(version=version):
            for start in range(0, len(chunk), 64):
                before_each_piece(number)
                number += 1
                yield chunk[start : start + 64]

    monkeypatch.setitem(FORMATS, fmt, dataclasses.replace(export, chunks=pieces))


def test_a_live_render_longer_than_stale_request_and_render_silence_asks_for_no_second_render(version, monkeypatch):
    """A render may take up to its hard time limit (an hour): a download 26 minutes into one that is still writing
    must not judge its request lost, or a second render of the version runs beside the first. Its heartbeat (the
    stamp renewed as it writes) keeps it on its way; the page's states say pending too."""
    from labeling.services import version_files

    _sent_to_the_worker()
    ahead, seen = _moving_clock(monkeypatch), []

    def two_minutes_a_piece(number):
        ahead[0] += timedelta(minutes=2)
        if number == 12:
            seen.append(ahead[0])
            seen.append(version_files.prepare_file(version=version, fmt="parquet"))
            seen.extend(state.state for state in version_files.file_states(versions=[version])[version.pk].values())

    _slowed(monkeypatch, "parquet", two_minutes_a_piece)
    assert render_version_files(version_id=version.pk) == ["parquet", "hf"]

    assert seen == [timedelta(minutes=26), None, VersionFileState.PENDING, VersionFileState.PENDING]
    assert enqueued(RENDER_TASK) == []  # no second render asked for


def test_a_live_renders_heartbeat_writes_at_most_once_a_minute(version, monkeypatch):
    """The heartbeat renews the stamp as the render writes, but one UPDATE a RENDER_HEARTBEAT, not one a chunk: a
    render writing a piece every 20 seconds stamps its files once every third piece."""
    from labeling.services import version_files

    assert version_files.RENDER_HEARTBEAT == timedelta(minutes=1)
    ahead, pieces = _moving_clock(monkeypatch), []

    def twenty_seconds_a_piece(number):
        ahead[0] += timedelta(seconds=20)
        pieces.append(number)

    _slowed(monkeypatch, "parquet", twenty_seconds_a_piece)
    with CaptureQueriesContext(connection) as queries:
        assert render_version_files(version_id=version.pk) == ["parquet", "hf"]

    renewals = [
        query["sql"] for query in queries
        if query["sql"].startswith('UPDATE "labeling_versionfile" SET "render_started_at" = ')
        and 'AND "labeling_versionfile"."render_started_at" = ' in query["sql"]
    ]  # fmt: skip
    assert len(pieces) >= 9 and len(renewals) == len(pieces) // 3  # a minute of writing, one UPDATE


def _terminate(pid: int) -> None:
    """End a PostgreSQL backend, as an outage or a failover does to the connections it had."""
    with psycopg.connect(_dsn("postgres"), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])  # returns once the backend is gone


def _dsn(dbname: str) -> str:
    db = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"] or None, dbname=dbname
    )


@contextmanager
def _database_refusing_new_connections():
    """The test database refuses new connections meanwhile (the open ones go on): a database that is gone, to a
    process whose connection was cut.

    Needed, not decoration: Django does reconnect within a task. The cut connection fails the render's `_record`, an
    `atomic` block whose rollback then fails too, so `Atomic.__exit__` closes the connection; the failure handler's
    UPDATE opens a new one. With the database taking new connections, that handler marks the file failed and clears
    the stamps (checked: without this block the test fails at `stamped`), a brief blip rather than the outage the
    test is about, in which nothing of the render can write."""
    name = connection.ops.quote_name(connection.settings_dict["NAME"])
    with psycopg.connect(_dsn("postgres"), autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        try:
            yield
        finally:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")


@pytest.mark.django_db(transaction=True)
def test_a_render_whose_database_goes_away_mid_write_is_asked_for_again_once_it_falls_silent(version, monkeypatch):
    """A render's connection is cut in the middle of its write and the database takes no new one: its record fails,
    and so does its failure handler, so its files stay pending with its stamp. A download within RENDER_SILENCE of
    that stamp waits for it; one after asks for the files again (not an hour later, at its time limit)."""
    from labeling.services import version_files

    _sent_to_the_worker()
    asked = OutboxMessage.objects.filter(task=RENDER_TASK)  # committed requests are sent to Redis at once here
    asked_before = asked.count()
    mid_write, resume = threading.Event(), threading.Event()

    def outage_after_the_first_piece(number):
        if number == 1:
            mid_write.set()
            assert resume.wait(20)

    with monkeypatch.context() as slow:
        _slowed(slow, "parquet", outage_after_the_first_piece)
        render, errors, pid = in_thread_noting_its_pid(partial(render_version_files, version_id=version.pk))
        try:
            assert mid_write.wait(20)
            with _database_refusing_new_connections():
                _terminate(pid[0])
                resume.set()
                render.join(30)
        finally:
            resume.set()
            render.join(30)

    assert len(errors) == 1 and isinstance(errors[0], DatabaseError), errors
    stamped = VersionFile.objects.filter(
        version=version, state=VersionFileState.PENDING, render_started_at__isnull=False
    )
    assert sorted(stamped.values_list("format", flat=True)) == ["hf", "parquet"]  # the handler could write nothing
    assert not any(Path(settings.MEDIA_ROOT, f"datasets/{version.pk}").glob(".*.part"))

    with monkeypatch.context() as later:
        _as_if_later(later, version_files.RENDER_SILENCE - timedelta(minutes=1))
        assert version_files.file_states(versions=[version])[version.pk]["parquet"].state == VersionFileState.PENDING
        assert version_files.prepare_file(version=version, fmt="parquet") is None
        assert asked.count() == asked_before

    with monkeypatch.context() as later:
        _as_if_later(later, version_files.RENDER_SILENCE + timedelta(seconds=1))
        states = version_files.file_states(versions=[version])[version.pk]
        assert {fmt: state.state for fmt, state in states.items()} == {
            "parquet": VersionFileState.ON_REQUEST, "hf": VersionFileState.ON_REQUEST
        }  # fmt: skip
        assert version_files.prepare_file(version=version, fmt="parquet") is None
        assert asked.count() == asked_before + 1

    assert run_as_worker(asked.latest("pk")) == ["parquet", "hf"]
    assert set(VersionFile.objects.filter(version=version).values_list("state", flat=True)) == {VersionFileState.READY}


def test_a_killed_render_is_pending_until_it_falls_silent_and_asked_for_again_at_once_after(
    reader, version, monkeypatch
):
    """The worker kills a render (its hard time limit; Celery acks it and does not deliver it again): nothing in the
    render runs after the kill. Until its stamp is RENDER_SILENCE old the file is being made; past it a download asks
    again at once."""
    from labeling.services import version_files

    _sent_to_the_worker()

    def killed(name, chunks):
        raise SystemExit("SIGKILL")  # not an Exception: no handler of the render runs, as with a kill

    monkeypatch.setattr(version_files, "write_beside", killed)
    with pytest.raises(SystemExit):
        render_version_files(version_id=version.pk)
    monkeypatch.undo()

    with monkeypatch.context() as later:
        _as_if_later(later, version_files.RENDER_SILENCE - timedelta(minutes=1))
        assert version_files.file_states(versions=[version])[version.pk]["parquet"].state == VersionFileState.PENDING
        assert version_files.prepare_file(version=version, fmt="parquet") is None
        assert enqueued(RENDER_TASK) == []

    with monkeypatch.context() as later:
        _as_if_later(later, version_files.RENDER_SILENCE + timedelta(seconds=1))
        assert version_files.file_states(versions=[version])[version.pk]["parquet"].state == VersionFileState.ON_REQUEST
        assert version_files.prepare_file(version=version, fmt="parquet") is None
        [message] = enqueued(RENDER_TASK)

    assert run_as_worker(message) == ["parquet", "hf"]
    assert reader.get(f"{EVAL}/versions/1/download?format=parquet").status_code == 200


def test_a_file_asked_for_again_after_an_earlier_render_is_asked_again_when_that_request_is_lost(version, monkeypatch):
    """An earlier render's stamp is not the new request's: if its message is lost, the 15 minutes hold."""
    from labeling.services import version_files

    VersionFile.objects.filter(version=version, format="hf").update(
        state=VersionFileState.FAILED, render_started_at=timezone.now()
    )
    version_files.request_files(version=version, formats=["hf"])
    _sent_to_the_worker()
    with monkeypatch.context() as later:
        _as_if_later(later, version_files.STALE_REQUEST + timedelta(seconds=1))
        assert version_files.prepare_file(version=version, fmt="hf") is None
        assert len(enqueued(RENDER_TASK)) == 1


def test_a_request_no_render_took_up_is_asked_for_again_after_stale_request(version, monkeypatch):
    """Its message was lost (or its task failed before it started): no render is on its way after STALE_REQUEST."""
    from labeling.services import version_files

    _sent_to_the_worker()
    with monkeypatch.context() as later:
        _as_if_later(later, version_files.STALE_REQUEST - timedelta(minutes=1))
        assert version_files.prepare_file(version=version, fmt="hf") is None
        assert enqueued(RENDER_TASK) == []
    with monkeypatch.context() as later:
        _as_if_later(later, version_files.STALE_REQUEST + timedelta(seconds=1))
        assert version_files.prepare_file(version=version, fmt="hf") is None
        assert len(enqueued(RENDER_TASK)) == 1


def test_a_render_that_fails_recording_its_file_marks_it_failed_and_a_download_asks_again_at_once(version, monkeypatch):
    """A render's error after the file is written (a database error at its record) must not leave the file pending,
    which now waits for the render's time limit: it is failed, and the next download asks for it again. The files the
    render did not reach are no longer on their way either."""
    from labeling.services import version_files

    _sent_to_the_worker()

    def refused(**recorded):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    monkeypatch.setattr(version_files, "_record", refused)
    with pytest.raises(OperationalError):
        render_version_files(version_id=version.pk)
    monkeypatch.undo()

    failed = VersionFile.objects.get(version=version, format="parquet")
    assert failed.state == VersionFileState.FAILED and failed.error.startswith("OperationalError: connection")
    assert not any(Path(settings.MEDIA_ROOT, f"datasets/{version.pk}").glob(".*.part"))
    assert version_files.prepare_file(version=version, fmt="parquet") is None
    assert len(enqueued(RENDER_TASK)) == 1
    with monkeypatch.context() as later:
        _as_if_later(later, version_files.STALE_REQUEST + timedelta(seconds=1))
        assert version_files.file_states(versions=[version])[version.pk]["hf"].state == VersionFileState.ON_REQUEST


@pytest.mark.parametrize("fmt", [name for name, export in FORMATS.items() if not export.stored])
def test_the_other_formats_are_still_streamed_at_once(reader, version, fmt):
    response = reader.get(f"{EVAL}/versions/1/download?format={fmt}")
    assert response.status_code == 200 and response.streaming


def test_a_file_swept_to_save_disk_is_made_again_on_download_with_the_same_bytes(
    reader, project, version, settings, django_capture_on_commit_callbacks
):
    """A superseded version's files, swept: the download is a 503 that asks a worker for the file, then the same
    bytes under the same ETag."""
    run_as_worker(enqueued(RENDER_TASK)[0])
    first = reader.get(f"{EVAL}/versions/1/download?format=parquet")
    first_bytes = body(first)
    settings.DATASET_FILES_KEEP_LATEST = 0  # as if newer versions had superseded it
    with django_capture_on_commit_callbacks(execute=True):
        swept = sweep_superseded_files(now=timezone.now() + timedelta(days=settings.DATASET_FILES_KEEP_DAYS + 1))
    assert {row.format for row in swept} == {"parquet", "hf"}
    assert not default_storage.exists(swept[0].name)

    response = reader.get(f"{EVAL}/versions/1/download?format=parquet")

    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    [message] = enqueued(RENDER_TASK)
    assert run_as_worker(message) == ["parquet"]  # the hf file stays on request: nobody asked for it
    again = reader.get(f"{EVAL}/versions/1/download?format=parquet")
    assert again.status_code == 200
    assert body(again) == first_bytes and again.headers["ETag"] == first.headers["ETag"]
    assert VersionFile.objects.get(version=version, format="hf").state == VersionFileState.ON_REQUEST


def test_a_versions_files_say_whether_a_download_is_served_at_once(
    reader, project, version, settings, django_capture_on_commit_callbacks
):
    """`files` on the version: pending until the worker made them, then ready with the bytes' size and SHA-256; swept,
    on_request with the same figures; reading it asks a worker for nothing."""
    detail, listing = f"{EVAL}/versions/1", f"{EVAL}/versions"
    pending = {"state": "pending", "size": None, "sha256": None, "last_render_error": ""}
    assert reader.get(detail).json()["files"] == {"parquet": pending, "hf": pending}

    run_as_worker(enqueued(RENDER_TASK)[0])
    made = {}
    for fmt in ("parquet", "hf"):
        served = body(reader.get(f"{EVAL}/versions/1/download?format={fmt}"))
        made[fmt] = {
            "state": "ready",
            "size": len(served),
            "sha256": hashlib.sha256(served).hexdigest(),
            "last_render_error": "",
        }
    assert reader.get(detail).json()["files"] == made
    assert reader.get(listing).json()["results"][0]["files"] == made

    settings.DATASET_FILES_KEEP_LATEST = 0
    with django_capture_on_commit_callbacks(execute=True):
        sweep_superseded_files(now=timezone.now() + timedelta(days=settings.DATASET_FILES_KEEP_DAYS + 1))
    swept = {fmt: {**figures, "state": "on_request"} for fmt, figures in made.items()}
    assert reader.get(detail).json()["files"] == swept
    assert reader.get(listing).json()["results"][0]["files"] == swept
    # Reading the version asked a worker for nothing.
    assert set(VersionFile.objects.filter(version=version).values_list("state", flat=True)) == {"on_request"}

    assert reader.get(f"{EVAL}/versions/1/download?format=parquet").status_code == 503
    assert reader.get(detail).json()["files"] == {"parquet": {**made["parquet"], "state": "pending"}, "hf": swept["hf"]}


def test_a_failed_render_says_why_in_the_versions_files_until_a_render_makes_it(
    reader, version, django_capture_on_commit_callbacks
):
    """An engineer whose download keeps answering 503 reads why the last render failed beside the file's state, in
    plain words as the dataset page says it (the exception names database hosts: it stays in the workers' log), and
    whether a render is on its way again; the render that makes the file clears it."""
    error = 'OperationalError: connection to server at "10.0.3.7", port 5432 failed: Connection refused'
    VersionFile.objects.filter(version=version, format="hf").update(state=VersionFileState.FAILED, error=error)
    detail = f"{EVAL}/versions/1"

    files = reader.get(detail).json()["files"]
    assert files["hf"]["state"] == "on_request" and files["parquet"]["last_render_error"] == ""
    assert files["hf"]["last_render_error"] == (
        "The last try failed (the database could not be reached); a download makes it again."
    )
    with django_capture_on_commit_callbacks():
        assert reader.get(f"{EVAL}/versions/1/download?format=hf").status_code == 503  # asks a worker again
    assert reader.get(detail).json()["files"]["hf"]["last_render_error"] == (
        "The last try failed (the database could not be reached); it is being made again."
    )

    render_version_files(version_id=version.pk)
    assert reader.get(detail).json()["files"]["hf"]["last_render_error"] == ""


def test_a_version_that_is_not_ready_has_no_files(reader, version):
    building = version.dataset.versions.create(number=2, status="building")
    assert reader.get(f"{EVAL}/versions/{building.number}").json()["files"] == {}
    assert [row["files"] == {} for row in reader.get(f"{EVAL}/versions").json()["results"]] == [True, False]


def test_a_file_gone_between_the_check_and_the_open_answers_503_and_is_made_again(reader, version, monkeypatch):
    """A sweep (or a lost volume) deletes the file after the download found it: the answer is the 503 of a file being
    prepared, not a 500, and a worker is asked for it."""
    run_as_worker(enqueued(RENDER_TASK)[0])
    stored = VersionFile.objects.get(version=version, format="parquet")
    Path(settings.MEDIA_ROOT, stored.name).unlink()
    checks = []
    real_exists = default_storage.exists

    def there_when_first_checked(name):
        checks.append(name)
        return len(checks) == 1 or real_exists(name)

    monkeypatch.setattr(default_storage, "exists", there_when_first_checked)

    response = reader.get(f"{EVAL}/versions/1/download?format=parquet")

    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert len(checks) == 2  # found, opened in vain, then looked for again
    assert VersionFile.objects.get(pk=stored.pk).state == VersionFileState.PENDING
    run_as_worker(enqueued(RENDER_TASK)[0])
    assert reader.get(f"{EVAL}/versions/1/download?format=parquet").status_code == 200


def test_jsonl_and_the_stored_files_carry_the_sha256_of_their_bytes_in_repr_digest(reader, version):
    """RFC 9530's `Repr-Digest: sha-256=:<base64>:`, of the whole file: also on the answer to a byte range."""
    run_as_worker(enqueued(RENDER_TASK)[0])

    def published(response) -> bytes:
        algorithm, _, value = response.headers["Repr-Digest"].partition("=")
        assert algorithm == "sha-256" and value.startswith(":") and value.endswith(":")
        return base64.b64decode(value[1:-1])

    jsonl = reader.get(f"{EVAL}/versions/1/download?format=jsonl")
    assert published(jsonl) == hashlib.sha256(body(jsonl)).digest() == bytes.fromhex(version.sha256)
    for fmt in ("parquet", "hf"):
        whole = reader.get(f"{EVAL}/versions/1/download?format={fmt}")
        assert published(whole) == hashlib.sha256(body(whole)).digest()
        assert published(get(reader, f"{EVAL}/versions/1/download?format={fmt}", Range="bytes=0-3")) == published(whole)
    assert "Repr-Digest" not in reader.get(f"{EVAL}/versions/1/download?format=csv").headers  # made as it streams
