"""The ingest service: a batch written in pipelined chunks is still one batch; the project it belongs to."""

import json

import psycopg
import pytest
from django.db import connection

from labeling.exceptions import NotFound
from labeling.models import Output, Project, UsageEvent
from labeling.services import ingest


def body(ids, **fields):
    return json.dumps({"outputs": [{"external_id": i, "output": f"answer {i}", **fields} for i in ids]}).encode()


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(ingest, "_CHUNK", 2)


def test_a_repeat_across_a_chunk_boundary_answers_as_in_one_chunk(project, small_chunks):
    """Sorted, the two "b" land in two chunks: stored once, the second a duplicate; the other a conflict."""
    first = ingest.ingest_outputs(project=project, body=body(["a", "b", "b"]))
    assert (first.created, first.duplicates, first.conflicts) == (2, 1, 0)

    again = ingest.ingest_outputs(project=project, body=body(["c", "b", "d", "a", "e"]))
    assert (again.created, again.duplicates, again.conflicts) == (3, 2, 0)
    changed = json.dumps({"outputs": [{"external_id": "a", "output": "other"}, {"external_id": "f", "output": "x"}]})
    result = ingest.ingest_outputs(project=project, body=changed.encode())
    assert (result.created, result.conflicts, result.conflict_ids) == (1, 1, ["a"])
    assert sorted(Output.objects.filter(project=project).values_list("external_id", flat=True)) == list("abcdef")
    assert len(set(first.created_ids + again.created_ids + result.created_ids)) == 6


def test_every_chunk_is_stored_in_the_one_transaction_in_id_order(project, small_chunks):
    ingest.ingest_outputs(project=project, body=body(["e", "c", "a", "d", "b"]))

    ids = list(Output.objects.filter(project=project).order_by("pk").values_list("external_id", flat=True))
    assert ids == ["a", "b", "c", "d", "e"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(DISTINCT xmin::text) FROM labeling_output WHERE project_id = %s", [project.pk])
            assert cursor.fetchone() == (1,)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the pipelined path is PostgreSQL's")
def test_a_failure_in_a_later_chunk_stores_nothing(project, small_chunks, monkeypatch):
    real = ingest._insert_sql

    def failing_on_the_last_id(model, columns):  # a division by zero in the third chunk only
        return real(model, columns).replace(
            "SELECT %b, %b,", "SELECT %b, %b + interval '1 s' * (1 / (CASE WHEN r ->> 0 = 'z' THEN 0 ELSE 1 END)),"
        )

    monkeypatch.setattr(ingest, "_insert_sql", failing_on_the_last_id)

    with pytest.raises(psycopg.errors.DivisionByZero):
        ingest.ingest_outputs(project=project, body=body(["a", "b", "c", "d", "z"]))

    assert not Output.objects.filter(project=project).exists()


def test_events_without_an_id_are_all_stored_across_chunks(project, small_chunks):
    events = [{"end_user_id": "u1", "name": "session_start"} for _ in range(3)] + [
        {"end_user_id": "u1", "name": "message", "external_id": "m1"},
        {"end_user_id": "u1", "name": "message", "external_id": "m1"},
    ]
    result = ingest.ingest_events(project=project, body=json.dumps({"events": events}).encode())

    assert (result.created, result.duplicates) == (4, 1)
    assert UsageEvent.objects.filter(project=project).count() == 4


def test_deleting_a_project_deletes_its_outputs_and_events(project, other_project):
    """Output.project and UsageEvent.project have no database constraint: the deletion cascades in Django."""
    ingest.ingest_outputs(project=project, body=body(["a", "b"]))
    ingest.ingest_outputs(project=other_project, body=body(["a"]))
    ingest.ingest_events(project=project, body=json.dumps({"events": [{"end_user_id": "u", "name": "n"}]}).encode())

    Project.objects.filter(pk=project.pk).delete()

    assert list(Output.objects.values_list("project_id", flat=True)) == [other_project.pk]
    assert not UsageEvent.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the project lock is on the PostgreSQL path")
def test_a_batch_for_a_project_deleted_meanwhile_stores_nothing(project):
    gone = Project(pk=project.pk, slug=project.slug, name=project.name)
    Project.objects.filter(pk=project.pk).delete()

    with pytest.raises(NotFound):
        ingest.ingest_outputs(project=gone, body=body(["a", "b", "c"]))

    assert not Output.objects.exists()
