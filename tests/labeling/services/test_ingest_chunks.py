"""The ingest service writes a batch in pipelined chunks: the chunks are one batch to the sender."""

import json

import psycopg
import pytest
from django.db import connection

from labeling.models import Output, UsageEvent
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
