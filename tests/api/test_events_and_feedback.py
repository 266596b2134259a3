"""POST /api/v1/events and /api/v1/feedback follow the same rules as outputs."""

from datetime import UTC, date, datetime

import pytest

from labeling.models import Item, Output, Project, Queue, UsageEvent
from labeling.selectors.metrics import WeekRange, WeekState, first_week_of_the_project, week_states
from labeling.services import cycles
from tests.conftest import output_record
from tests.outbox import run_each_as_worker


def event(index, **overrides):
    record = {
        "external_id": f"ev-{index}",
        "end_user_id": f"u-{index % 5}",
        "name": "session_start",
        "occurred_at": "2026-11-23T07:30:00Z",
        "properties": {"platform": "ios"},
    }
    record.update(overrides)
    return record


def test_events_are_stored_and_idempotent_by_external_id(api, project):
    first = api.post("/api/v1/events", {"events": [event(i) for i in range(10)]})
    again = api.post("/api/v1/events", {"events": [event(i) for i in range(10)] + [event(3, name="other")]})

    assert first.json() == {"created": 10, "duplicates": 0, "conflicts": 0, "conflict_ids": []}
    assert again.json() == {"created": 0, "duplicates": 10, "conflicts": 1, "conflict_ids": ["ev-3"]}
    assert UsageEvent.objects.filter(project=project).count() == 10


def test_events_without_external_id_are_always_stored(api, project):
    anonymous = {"end_user_id": "u-1", "name": "message_sent"}

    api.post("/api/v1/events", {"events": [anonymous, anonymous]})
    response = api.post("/api/v1/events", {"events": [anonymous]})

    assert response.json()["created"] == 1
    assert UsageEvent.objects.filter(project=project, external_id__isnull=True).count() == 3


@pytest.mark.parametrize(
    "record, field",
    [
        ({"name": "x"}, "end_user_id"),
        ({"end_user_id": "u", "name": ""}, "name"),
        ({"end_user_id": 5, "name": "x"}, "end_user_id"),
        ({"end_user_id": "u", "name": "x", "properties": []}, "properties"),
        ({"end_user_id": "u", "name": "x", "occurred_at": "2026-11-23 07:30"}, "occurred_at"),
        ({"end_user_id": "u", "name": "x", "properties": {"k": "\u0000"}}, "properties.k"),
        ({"end_user_id": "u", "name": "x", "user": "typo"}, "user"),
    ],
    ids=["no end user", "empty name", "number as end user", "list as properties", "no zone", "NUL", "unknown field"],
)
def test_bad_events_are_refused_whole(api, record, field):
    response = api.post("/api/v1/events", {"events": [event(0), record]})

    assert response.status_code == 400
    assert response.json()["errors"][0]["index"] == 1
    assert response.json()["errors"][0]["field"] == field
    assert not UsageEvent.objects.exists()


def test_late_feedback_updates_the_output_and_lists_unknown_ids(api, project):
    api.post("/api/v1/outputs", {"outputs": [output_record(1, feedback=None), output_record(2)]})

    response = api.post(
        "/api/v1/feedback",
        {"feedback": [{"external_id": "conv-1", "score": -1, "comment": "wrong"}, {"external_id": "nope", "score": 1}]},
    )

    assert response.status_code == 200
    assert response.json() == {"updated": 1, "not_found": ["nope"]}
    output = Output.objects.get(project=project, external_id="conv-1")
    assert (output.feedback_score, output.feedback_comment) == (-1, "wrong")
    assert output.feedback_at is not None


def test_late_thumbs_down_on_outputs_older_than_the_project_queues_them_in_their_week_a_lead_closes(api, project, lead):
    """Outputs sent with dates before the project was created, then thumbs-down feedback a queue's rule routes: the
    items go into the outputs' own week, within the queue's weekly quota. That week is the project's first (its items
    and outputs make it so), not one nothing counts: beat leaves weeks before the project alone, a lead closes it by
    hand and its report counts the items (tests/labeling/services/test_cycles.py closes one of outputs only)."""
    Project.objects.filter(pk=project.pk).update(created_at=datetime(2026, 11, 4, tzinfo=UTC))
    project.refresh_from_db()
    queue = Queue.objects.create(
        project=project, slug="thumbs-down", name="Thumbs down", rule={"feedback_scores": [-1]}, weekly_quota=1
    )
    old = [output_record(n, occurred_at=f"2026-10-0{n + 6}T12:00:00Z", feedback=None) for n in (1, 2)]
    api.post("/api/v1/outputs", {"outputs": old})
    run_each_as_worker("labeling.route_outputs")
    assert not Item.objects.exists()

    thumbs_down = [{"external_id": record["external_id"], "score": -1} for record in old]
    assert api.post("/api/v1/feedback", {"feedback": thumbs_down}).status_code == 200
    run_each_as_worker("labeling.route_outputs")

    [item] = Item.objects.filter(queue=queue)  # a quota of one: the earlier output's
    week = date(2026, 10, 5)  # 5 to 11 October
    assert (item.output.external_id, item.week) == ("conv-1", week)
    assert first_week_of_the_project(project) == week
    assert week_states(project=project, weeks=WeekRange(week, week))[week] == WeekState.NOT_CLOSED
    cycle = cycles.close_week(project_id=project.pk, week=week, closed_by=lead, now=datetime(2026, 11, 25, tzinfo=UTC))
    assert cycle.report["headline"]["labels"]["items"] == 1


def test_the_last_feedback_in_a_batch_wins(api, project):
    api.post("/api/v1/outputs", {"outputs": [output_record(1)]})

    api.post(
        "/api/v1/feedback",
        {"feedback": [{"external_id": "conv-1", "score": -1}, {"external_id": "conv-1", "score": 0}]},
    )

    assert Output.objects.get(project=project, external_id="conv-1").feedback_score == 0


def test_late_feedback_does_not_make_a_resent_output_a_conflict(api):
    api.post("/api/v1/outputs", {"outputs": [output_record(1)]})
    api.post("/api/v1/feedback", {"feedback": [{"external_id": "conv-1", "score": -1}]})

    assert api.post("/api/v1/outputs", {"outputs": [output_record(1)]}).json()["duplicates"] == 1


def test_a_score_out_of_range_lists_the_scores_taken(api):
    api.post("/api/v1/outputs", {"outputs": [output_record(1, feedback=None)]})

    response = api.post("/api/v1/feedback", {"feedback": [{"external_id": "conv-1", "score": 2}]})

    [error] = response.json()["errors"]
    assert (error["field"], error["message"]) == ("score", "Invalid value 2: use -1 (thumbs down), 0 or 1 (thumbs up).")


@pytest.mark.parametrize(
    "record, field",
    [
        ({"external_id": "conv-1", "score": 2}, "score"),
        ({"external_id": "conv-1"}, "score"),
        ({"score": 1}, "external_id"),
    ],
)
def test_bad_feedback_changes_nothing(api, project, record, field):
    api.post("/api/v1/outputs", {"outputs": [output_record(1, feedback=None)]})

    response = api.post("/api/v1/feedback", {"feedback": [{"external_id": "conv-1", "score": -1}, record]})

    assert response.status_code == 400
    assert (response.json()["errors"][0]["index"], response.json()["errors"][0]["field"]) == (1, field)
    assert Output.objects.get(project=project, external_id="conv-1").feedback_score is None


def test_feedback_for_another_projects_output_is_not_found(api, client, other_project_key, project):
    from tests.conftest import Api

    api.post("/api/v1/outputs", {"outputs": [output_record(1, feedback=None)]})

    response = Api(client, other_project_key.secret).post(
        "/api/v1/feedback", {"feedback": [{"external_id": "conv-1", "score": -1}]}
    )

    assert response.json() == {"updated": 0, "not_found": ["conv-1"]}
    assert Output.objects.get(project=project, external_id="conv-1").feedback_score is None


def test_the_openapi_schema_documents_the_ingest_bodies(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    record = schema["components"]["schemas"]["OutputRecord"]
    assert set(record["required"]) == {"external_id", "output"}
    assert record["properties"]["external_id"]["maxLength"] == 200
    body = schema["paths"]["/api/v1/outputs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/OutputsBatch"}
    assert "OutputsBatch" in schema["components"]["schemas"]


def test_the_api_docs_page_answers(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


@pytest.mark.parametrize("path", ["/api/v1/outputs", "/api/v1/events", "/api/v1/feedback"])
def test_the_api_docs_try_it_out_body_of_each_ingest_endpoint_is_accepted_as_it_is(client, api, path):
    """/api/docs/ fills "Try it out" from the schema: with no example given, Swagger UI made one of nulls
    (`"output": null`), and executing it was a 400 ("Expected a string or JSON value, got null")."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    examples = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["examples"]

    assert examples
    for example in examples.values():
        response = api.post(path, example["value"])

        assert response.status_code == 200, response.content
