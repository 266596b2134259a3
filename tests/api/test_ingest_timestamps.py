"""Ingest accepts timestamps only in a documented range; anything else is a 400 naming the record and field."""

from datetime import UTC, datetime, timedelta

import pytest

from labeling.models import Output, UsageEvent
from tests.conftest import output_record
from tests.helpers.processes import manage_check

OUT_OF_RANGE = {
    "year 1 (Go's zero time)": "0001-01-01T00:00:00Z",
    "year 1 with an offset east of UTC": "0001-01-01T00:00:00+01:00",
    "year 1 with an offset west of UTC": "0001-01-01T00:00:00-14:00",
    "year 9999 (.NET's MaxValue, to the microsecond)": "9999-12-31T23:59:59.999999Z",
    "year 9999 with an offset west of UTC": "9999-12-31T23:59:59-01:00",
    "year 9999 with an offset east of UTC": "9999-12-31T23:59:59+14:00",
    "a second before the earliest": "1999-12-31T23:59:59Z",
    "the earliest, written east of UTC": "2000-01-01T00:30:00+01:00",
    "the Unix epoch": "1970-01-01T00:00:00Z",
}


def _future(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


@pytest.mark.parametrize("moment", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_an_output_out_of_range_refuses_the_batch_naming_record_and_field(api, moment):
    records = [output_record(0), output_record(1, occurred_at=moment)]

    response = api.post("/api/v1/outputs", {"outputs": records})

    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert (error["index"], error["field"]) == (1, "occurred_at")
    assert "Out of range" in error["message"] and "2000-01-01T00:00:00Z" in error["message"]
    assert not Output.objects.exists()


@pytest.mark.parametrize("moment", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_an_event_out_of_range_refuses_the_batch_naming_record_and_field(api, moment):
    events = [
        {"end_user_id": "u-1", "name": "session_start", "external_id": "ev-1"},
        {"end_user_id": "u-1", "name": "message_sent", "occurred_at": moment},
    ]

    response = api.post("/api/v1/events", {"events": events})

    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert (error["index"], error["field"]) == (1, "occurred_at")
    assert not UsageEvent.objects.exists()


def test_every_bad_timestamp_of_a_batch_is_listed_in_one_answer(api):
    records = [output_record(0, occurred_at="0001-01-01T00:00:00+01:00"), output_record(1), output_record(2)]
    records[2]["occurred_at"] = "9999-12-31T23:59:59-01:00"
    records[1]["ouptut"] = "a typo, found by the slow path"

    response = api.post("/api/v1/outputs", {"outputs": records})

    assert response.status_code == 400
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [
        (0, "occurred_at"),
        (1, "ouptut"),
        (2, "occurred_at"),
    ]
    assert not Output.objects.exists()


def test_an_output_refused_for_its_time_leaves_its_feedback_unstored_too(api, project):
    api.post("/api/v1/outputs", {"outputs": [output_record(0, feedback=None)]})
    records = [output_record(0, feedback=None), output_record(1, occurred_at="0001-01-01T00:00:00Z")]

    response = api.post("/api/v1/outputs", {"outputs": records})
    late = api.post("/api/v1/feedback", {"feedback": [{"external_id": "conv-1", "score": -1}]})

    assert response.status_code == 400
    assert late.json() == {"updated": 0, "not_found": ["conv-1"]}
    assert list(Output.objects.values_list("external_id", "feedback_score")) == [("conv-0", None)]


def test_feedback_takes_no_timestamp_from_the_sender(api, project):
    """Late feedback is stamped with the server's time; a sent timestamp is an unknown field."""
    api.post("/api/v1/outputs", {"outputs": [output_record(0, feedback=None)]})

    response = api.post(
        "/api/v1/feedback", {"feedback": [{"external_id": "conv-0", "score": -1, "at": "0001-01-01T00:00:00Z"}]}
    )

    assert response.status_code == 400
    assert (response.json()["errors"][0]["index"], response.json()["errors"][0]["field"]) == (0, "at")
    assert Output.objects.get(external_id="conv-0").feedback_score is None


@pytest.mark.parametrize(
    "moment, accepted",
    [
        ("2000-01-01T00:00:00Z", True),
        ("2000-01-01T00:00:00+00:00", True),
        ("1999-12-31T23:00:00-01:00", True),  # the same instant, written west of UTC
        (timedelta(hours=23), True),  # from now, when the test runs (not when it was collected)
        (timedelta(days=1, minutes=5), False),
    ],
    ids=str,
)
def test_the_range_ends_are_the_earliest_timestamp_and_a_day_from_now(api, moment, accepted):
    if isinstance(moment, timedelta):
        moment = _future(seconds=moment.total_seconds())
    response = api.post("/api/v1/outputs", {"outputs": [output_record(0, occurred_at=moment)]})

    assert (response.status_code == 200) is accepted, response.content
    assert Output.objects.exists() is accepted


def test_the_range_follows_the_settings(api, settings):
    settings.INGEST_EARLIEST_TIMESTAMP = datetime(2026, 1, 1, tzinfo=UTC)
    settings.INGEST_MAX_FUTURE_SECONDS = 0

    old = api.post("/api/v1/outputs", {"outputs": [output_record(0, occurred_at="2025-12-31T23:59:59Z")]})
    ahead = api.post("/api/v1/outputs", {"outputs": [output_record(1, occurred_at=_future(minutes=5))]})
    fine = api.post("/api/v1/outputs", {"outputs": [output_record(2, occurred_at="2026-01-01T00:00:00Z")]})

    assert (old.status_code, ahead.status_code, fine.status_code) == (400, 400, 200)
    assert "2026-01-01T00:00:00Z" in old.json()["errors"][0]["message"]


def test_the_openapi_schema_documents_the_range(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    occurred_at = schema["components"]["schemas"]["OutputRecord"]["properties"]["occurred_at"]
    text = str(occurred_at)
    assert "2000-01-01T00:00:00Z" in text and "INGEST_MAX_FUTURE_SECONDS" in text
    assert "INGEST_EARLIEST_TIMESTAMP" in str(schema["components"]["schemas"]["EventRecord"])


@pytest.mark.parametrize(
    "env, message",
    [
        ({"INGEST_EARLIEST_TIMESTAMP": "last tuesday"}, "not an ISO 8601 timestamp"),
        ({"INGEST_EARLIEST_TIMESTAMP": "2000-01-01T00:00:00"}, "needs a zone"),
        ({"INGEST_EARLIEST_TIMESTAMP": "0001-01-01T00:00:00Z"}, "must lie between 1970"),
        ({"INGEST_EARLIEST_TIMESTAMP": "2999-01-01T00:00:00Z"}, "must lie between 1970"),
        ({"INGEST_MAX_FUTURE_SECONDS": "-1"}, "INGEST_MAX_FUTURE_SECONDS must be between"),
        ({"INGEST_MAX_FUTURE_SECONDS": "999999999"}, "INGEST_MAX_FUTURE_SECONDS must be between"),
    ],
)
def test_a_bad_range_setting_fails_at_start(env, message):
    result = manage_check(SECRET_KEY="s3cret", **env)

    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    "moment",
    ["2026-11-31T10:00:00Z", "2026-13-01T10:00:00Z", "2026-11-20T25:00:00+01:00", "2026-11-20T10:00:00+24:00"],
)
def test_a_timestamp_with_a_zone_but_no_such_day_or_hour_is_named_not_said_to_lack_a_zone(api, moment):
    """November 31st read "Expected a date and time with a time zone (RFC 3339)", though it had one: the engineer
    looked for a missing zone, not at the day."""
    response = api.post("/api/v1/events", {"events": [{"end_user_id": "u-1", "name": "x", "occurred_at": moment}]})

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["index"], error["field"]) == (0, "occurred_at")
    assert error["message"] == (
        f"'{moment}' is no date and time: a day, month, hour, minute, second or the zone's offset is out of its range "
        "(RFC 3339)."
    )


@pytest.mark.parametrize("moment", ["2026-11-20", "2026-11-20T14:03:00", "yesterday", "٢٠٢٦-11-20T14:03:00Z"])
def test_a_timestamp_without_a_time_or_a_zone_says_both_are_needed(api, moment):
    """A date alone (or a time without a zone) read "Invalid RFC3339 encoded datetime", naming neither."""
    response = api.post("/api/v1/outputs", {"outputs": [output_record(0, occurred_at=moment)]})

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["index"], error["field"]) == (0, "occurred_at")
    assert error["message"] == (
        "Expected a date and time with a time zone (RFC 3339), e.g. 2026-11-20T14:03:00Z or 2026-11-20T15:03:00+01:00."
    )


@pytest.mark.parametrize(
    "sent, echoed",
    [
        ("0001-01-01T00:00:00Z", "got 0001-01-01T00:00:00Z."),
        ("1999-12-31T23:59:59.5+00:00", "got 1999-12-31T23:59:59.500000Z."),
        ("0001-01-01T00:00:00+01:00", "got 0001-01-01T00:00:00+01:00."),
    ],
    ids=["written with Z", "written +00:00", "written at another offset"],
)
def test_an_out_of_range_moment_is_echoed_as_the_bounds_are_written(api, sent, echoed):
    """The 400 wrote the bounds with `Z` and the moment it refused, sent with `Z`, as `+00:00`: two ways of writing
    UTC in one message. A UTC moment is echoed with `Z`; one at another offset keeps it (year 1 at +01:00 has no
    UTC form)."""
    response = api.post("/api/v1/outputs", {"outputs": [output_record(0, occurred_at=sent)]})

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["message"].endswith(echoed), error["message"]
