"""GET /api/v1/metrics/changes: a week's significant changes, whose they are, and bad input."""

from datetime import timedelta

import pytest
from drf_spectacular.validation import validate_schema

from labeling.models import CycleStatus, ReviewCycle, week_label
from labeling.rules.calendar import current_week, week_start
from labeling.services.changes import refresh_week_changes
from tests.conftest import Api, _member
from tests.factories import created_weeks_ago
from tests.helpers.changes import add_outputs

# Each test reads the running week on the clock and again on a later request: clear_of_week_start keeps it a day
# from a week start, which would set the two a week apart.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db, pytest.mark.usefixtures("clear_of_week_start")]

CHANGES = "/api/v1/metrics/changes"


@pytest.fixture
def project(project):
    """Created two years ago: the weeks these tests read are the project's own (a week that ended before the project
    was created, holding no review work, has no report or changes: a 404)."""
    return created_weeks_ago(project, 104)


@pytest.fixture
def other_project(other_project):
    return created_weeks_ago(other_project, 104)


def changed(project, week, *, new_model="gpt-next", new_outputs=60) -> None:
    """Four steady weeks, then a week with a new model; the changes stored."""
    for offset in range(1, 5):
        add_outputs(project, week - timedelta(weeks=offset), 200, rated=100, down=10)
    add_outputs(project, week, 200, rated=100, down=10)
    add_outputs(project, week, new_outputs, rated=new_outputs, down=new_outputs // 2, model=new_model)
    refresh_week_changes(project=project, week=week)


@pytest.fixture
def reader(client, read_key):
    return Api(client, read_key.secret)


def test_a_key_reads_the_weeks_changes_with_their_counts_and_tests(reader, project, last_week):
    changed(project, last_week)

    response = reader.get(f"{CHANGES}?week={week_label(last_week)}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["project"], body["week"], body["week_start"], body["status"]) == (
        "support-bot", week_label(last_week), last_week.isoformat(), "open",
    )  # fmt: skip
    first = body["results"][0]
    assert (first["kind"], first["dimension"], first["value"], first["rank"]) == ("new_slice", "model", "gpt-next", 0)
    assert (first["current_count"], first["current_total"], first["baseline_count"], first["baseline_total"]) == (
        60, 260, 0, 800,
    )  # fmt: skip
    assert first["q_value"] <= 0.05 and first["test"] == "two_proportion_z" and first["tests"] > len(body["results"])
    assert first["explore_query"] == (
        f"from={last_week.isoformat()}&to={(last_week + timedelta(days=6)).isoformat()}&model=gpt-next"
    )
    assert "New: model gpt-next, 60 outputs" in first["sentence"]


def test_without_a_week_it_answers_for_the_latest_closed_week_else_the_running_one(reader, project, last_week):
    running = current_week(project)
    assert reader.get(CHANGES).json()["week"] == week_label(running)

    frozen = [{"rank": 0, "kind": "volume", "mark": "frozen"}]
    ReviewCycle.objects.create(
        project=project, week=last_week - timedelta(days=7), status=CycleStatus.CLOSED, report={"changes": []}
    )
    ReviewCycle.objects.create(project=project, week=last_week, status=CycleStatus.OPEN, report={"changes": frozen})

    body = reader.get(CHANGES).json()
    assert (body["week"], body["status"], body["results"]) == (week_label(last_week - timedelta(days=7)), "closed", [])


def test_a_closed_week_answers_what_its_close_froze(reader, project, last_week):
    changed(project, last_week)
    stored = reader.get(f"{CHANGES}?week={week_label(last_week)}").json()["results"]
    ReviewCycle.objects.create(
        project=project, week=last_week, status=CycleStatus.CLOSED, report={"changes": stored[:1]}
    )
    refresh_week_changes(project=project, week=last_week, now=week_start(project, last_week))  # rows gone since

    body = reader.get(f"{CHANGES}?week={week_label(last_week)}").json()

    assert (body["status"], body["results"]) == ("closed", stored[:1])


@pytest.mark.parametrize(
    "query, field, words",
    [
        ("week=2026-48", "week", "not a week"),
        ("week=2026-W54", "week", "has no week 54"),
        ("week=1900-W01", "week", "out of range"),
        ("week=" + "9" * 40, "week", "16"),
        ("weeks=2026-W48", "weeks", "Unknown parameter"),
        ("week=2026-W48&from=2026-W40", "from", "Unknown parameter"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(reader, project, query, field, words):
    response = reader.get(f"{CHANGES}?{query}")

    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["field"] == field and words in error["message"]


def test_a_week_that_ended_before_the_project_was_created_is_a_404(reader, project):
    """It was a 200 with status "open" and no changes, for a week that can never be closed."""
    created_weeks_ago(project, 0)

    response = reader.get(f"{CHANGES}?week=2001-W10")

    assert response.status_code == 404
    assert response.json()["errors"][0]["message"] == "Week 2001-W10 ended before this project was created."


def test_a_week_with_outputs_but_no_items_yet_is_one_of_the_projects(reader, project):
    """Outputs sent with older dates, routed into no queue yet: their week's changes are answered, not refused as a
    week before the project."""
    created_weeks_ago(project, 0)
    week = current_week(project) - timedelta(weeks=2)
    changed(project, week)

    response = reader.get(f"{CHANGES}?week={week_label(week)}")

    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["value"] == "gpt-next"


def test_a_week_that_has_not_started_is_a_404(reader, project):
    response = reader.get(f"{CHANGES}?week={week_label(current_week(project) + timedelta(days=7))}")

    assert response.status_code == 404
    assert "has not started" in response.json()["errors"][0]["message"]


def test_it_validates_ownership(client, project, other_project, other_project_key, last_week):
    """Project B's key sees only B's changes and cannot name project A; B's members are told A does not exist."""
    changed(project, last_week, new_model="secret-model")
    changed(other_project, last_week, new_model="sql-model")
    other = Api(client, other_project_key.secret)
    label = week_label(last_week)

    own = other.get(f"{CHANGES}?week={label}").json()
    assert own["project"] == "sql-assistant"
    assert "sql-model" in {row["value"] for row in own["results"]}
    assert b"secret-model" not in other.get(f"{CHANGES}?week={label}").content
    response = other.get(f"{CHANGES}?week={label}&project=support-bot")
    assert response.status_code == 404 and b"secret-model" not in response.content
    # Access comes before the parameters: bad ones do not turn the 404 into a 400.
    assert other.get(f"{CHANGES}?project=support-bot&week=garbage&nope=1").status_code == 404
    client.force_login(_member(other_project, "otto", "engineer"))
    assert client.get(f"{CHANGES}?week={label}&project=support-bot").status_code == 404


def test_a_signed_in_member_reads_with_the_project_in_the_query(client, project, expert, last_week):
    changed(project, last_week)
    client.force_login(expert)

    response = client.get(f"{CHANGES}?week={week_label(last_week)}&project=support-bot")

    assert response.status_code == 200 and response.json()["results"]
    assert client.get(f"{CHANGES}?week={week_label(last_week)}").status_code == 400  # the project must be named


def test_no_credentials_is_a_401_and_a_key_without_the_read_scope_a_403(client, project, ingest_key):
    assert client.get(f"{CHANGES}?project=support-bot").status_code == 401
    assert Api(client, ingest_key.secret).get(CHANGES).status_code == 403


def test_the_openapi_schema_documents_the_endpoint(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    validate_schema(schema)
    operation = schema["paths"][CHANGES]["get"]
    assert operation["operationId"] == "get_week_changes"
    assert {p["name"] for p in operation["parameters"]} == {"project", "week"}
    row = schema["components"]["schemas"]["ChangeOut"]["properties"]
    assert {"kind", "current_count", "baseline_total", "p_value", "q_value", "explore_query", "sentence"} <= set(row)


def test_each_change_names_its_test_in_words_as_the_weeks_report_does(reader, project, last_week):
    """The report's changes carried `test_name` ("two-proportion z test") and this endpoint's did not, nor did the
    schema of either: the same row read two ways had two shapes."""
    changed(project, last_week)

    running = reader.get(f"{CHANGES}?week={week_label(last_week)}").json()["results"][0]
    report = reader.get(f"/api/v1/cycles/{week_label(last_week)}/report").json()["changes"][0]
    schema = reader.get("/api/schema/?format=json").json()

    assert running["test_name"] == report["test_name"] == "two-proportion z test"
    assert "test_name" in schema["components"]["schemas"]["ChangeOut"]["properties"]


def test_a_change_frozen_without_its_test_in_words_is_named_from_its_test(reader, project, last_week):
    changed(project, last_week)
    stored = reader.get(f"{CHANGES}?week={week_label(last_week)}").json()["results"][0]
    frozen = {key: value for key, value in stored.items() if key != "test_name"}  # as a close before test_name froze it
    ReviewCycle.objects.create(project=project, week=last_week, status=CycleStatus.CLOSED, report={"changes": [frozen]})

    response = reader.get(f"{CHANGES}?week={week_label(last_week)}")

    assert response.status_code == 200
    assert response.json()["results"][0]["test_name"] == "two-proportion z test"
