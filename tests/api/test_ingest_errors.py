"""Records refused by ingest are counted per project and day (the platform page's "ingest errors"): bad records of a
REST batch, rejected OTLP spans. A good batch counts nothing; a request without a valid key has no project and
counts nothing; a failure to count never changes the answer."""

import json
import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from labeling.models import IngestErrorDay
from labeling.services.platform import record_ingest_errors
from tests.conftest import output_record
from tests.helpers.otlp import export, span

OTLP = "/api/v1/otel/v1/traces"
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}


def _answer(text: str) -> dict:
    return {
        **CHAT,
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": text}]}]),
    }


def _count(project) -> int:
    today = timezone.localtime(timezone.now(), project.tzinfo).date()
    return sum(IngestErrorDay.objects.filter(project=project, day=today).values_list("count", flat=True))


def test_a_rest_batch_with_bad_records_counts_each_bad_record(api, project):
    bad = [output_record(0), output_record(1, occurred_at="yesterday"), output_record(2, model=7)]

    response = api.post("/api/v1/outputs", {"outputs": bad})

    assert response.status_code == 400
    assert _count(project) == 2
    events = api.post("/api/v1/events", {"events": [{"end_user_id": 5, "name": "x", "occurred_at": "never"}]})
    assert events.status_code == 400
    assert _count(project) == 3


def test_a_body_refused_whole_counts_one(api, project):
    response = api.post("/api/v1/outputs", b"{not json")

    assert response.status_code == 400
    assert _count(project) == 1


def test_a_good_batch_counts_nothing(api, project):
    assert api.post("/api/v1/outputs", {"outputs": [output_record(0)]}).status_code == 200
    assert not IngestErrorDay.objects.exists()


def test_a_request_failing_authentication_counts_nothing(api, project):
    response = api.post("/api/v1/outputs", {"outputs": [output_record(0, occurred_at="never")]}, key="el_wrong")

    assert response.status_code == 401
    assert not IngestErrorDay.objects.exists()


def test_an_otlp_export_counts_its_rejected_spans(client, ingest_key, project):
    spans = [
        span("00000000000000a1", attrs=_answer("fine")),
        span("00000000000000a2", attrs=CHAT, status=2, message="timeout"),  # no output: rejected
        span("00000000000000a3", attrs=_answer("NUL \x00 inside")),  # rejected
    ]

    response = client.post(
        OTLP,
        json.dumps(export(*spans)),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {ingest_key.secret}",
    )

    assert response.json()["partialSuccess"]["rejectedSpans"] == "2"
    assert _count(project) == 2


def test_an_otlp_body_that_is_no_export_counts_one(client, ingest_key, project):
    response = client.post(
        OTLP, "[1, 2]", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {ingest_key.secret}"
    )

    assert response.status_code == 400
    assert _count(project) == 1


def test_counts_add_up_within_a_day_and_start_again_the_next(project):
    moment = timezone.now()
    record_ingest_errors(project=project, count=2, now=moment)
    record_ingest_errors(project=project, count=5, now=moment)
    record_ingest_errors(project=project, count=1, now=moment + timezone.timedelta(days=1))

    assert list(IngestErrorDay.objects.order_by("day").values_list("count", flat=True)) == [7, 1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_counts_are_never_lost(project):
    """Eight threads each add 1 five times to the same day: the upsert adds in the database, so the day holds 40."""
    start = threading.Barrier(8)

    def count():
        try:
            start.wait()
            for _ in range(5):
                record_ingest_errors(project=project, count=1)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert _count(project) == 40


def test_a_failure_to_count_does_not_fail_the_request(api, project):
    """The counting statement failing (its table gone) leaves the 400 the sender is owed."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE labeling_ingesterrorday RENAME TO ingest_errors_away")
    try:
        response = api.post("/api/v1/outputs", {"outputs": [output_record(0, occurred_at="never")]})
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE ingest_errors_away RENAME TO labeling_ingesterrorday")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "occurred_at"
