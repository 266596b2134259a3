"""Each hostile input that used to answer 500 is now a 4xx naming what is wrong, and nothing is stored.

NUL fails only on PostgreSQL (it refuses NUL in text and jsonb), so these run there.
"""

import io
import json

import pytest
from django.test import Client
from rest_framework.exceptions import ParseError

from api.parsers import StrictJSONParser
from labeling.exceptions import InvalidSpec
from labeling.models import Comment, Flag, Output, Queue, Resolution, Rubric, Skip, UsageEvent
from labeling.models.queues import WEEKLY_QUOTA_MAX
from labeling.services.queues import QueueValues, create_queue
from labeling.services.rubrics import publish_rubric
from tests.conftest import output_record
from tests.factories import OutputFactory, UserFactory
from tests.helpers.labeling import handed_token, label_outputs, take

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

DEEP = "[" * 10_000 + "]" * 10_000
RECORD_WITHOUT_CONTEXT = {name: value for name, value in output_record(0).items() if name != "context"}
OUT_OF_RANGE_WEEKS = ["0001-W01", "9999-W52", "1969-W52", "2200-W01"]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response) -> str:
    return " ".join(error["message"] for error in response.json()["errors"])


# JSON bodies ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, body, message",
    [
        ("/api/v1/outputs", DEEP, "Expected `object`, got `array`"),
        ("/api/v1/outputs", '{"outputs": ' + DEEP + "}", "deeper than 32 levels"),
        (
            "/api/v1/outputs",
            '{"outputs": [' + json.dumps(RECORD_WITHOUT_CONTEXT)[:-1] + ', "context": ' + DEEP + "}]}",
            "deeper than 32 levels",
        ),
        ("/api/v1/events", '{"events": [{"end_user_id": "u", "name": ' + DEEP + "}]}", "deeper than 32 levels"),
        ("/api/v1/feedback", '{"feedback": [{"external_id": "x", "score": ' + DEEP + "}]}", "deeper than 32 levels"),
    ],
    ids=["body", "envelope", "output-field", "event-field", "feedback-field"],
)
def test_json_nested_10000_deep_is_a_400(api, path, body, message):
    response = api.post(path, body)

    assert response.status_code == 400
    assert message in messages_of(response)
    assert Output.objects.count() == UsageEvent.objects.count() == 0


@pytest.mark.parametrize(
    "key", [b'"\\ud800"', b'"\xff\xfe"', b'"a\\u0000b"'], ids=["lone-surrogate", "invalid-utf8", "nul"]
)
@pytest.mark.parametrize("path, envelope", [("/api/v1/outputs", "outputs"), ("/api/v1/feedback", "feedback")])
def test_a_hostile_object_key_is_a_400_that_renders(api, path, envelope, key):
    if envelope == "feedback":  # feedback for an output that exists, so "nothing stored" can be seen
        assert api.post("/api/v1/outputs", {"outputs": [output_record(0)]}).status_code == 200
    record = json.dumps(output_record(0) if envelope == "outputs" else {"external_id": "conv-0", "score": -1})
    body = b'{"' + envelope.encode() + b'": [' + record.encode()[:-1] + b", " + key + b': "x"}]}'

    response = api.post(path, body)

    assert response.status_code == 400
    error = response.json()["errors"][0]  # the response is valid UTF-8 JSON, the key shown escaped
    assert error["index"] == 0 and error["message"]
    if envelope == "outputs":
        assert Output.objects.count() == 0
    else:  # the output keeps the score it was sent with, not the refused -1
        assert list(Output.objects.values_list("feedback_score", flat=True)) == [1]


def test_the_api_json_parser_refuses_deep_nesting_and_nul():
    parser = StrictJSONParser()
    for body, message in ((DEEP, "deeper than"), ('{"note": "a\\u0000b"}', "NUL"), ('{"\\ud800": 1}', "surrogate")):
        with pytest.raises(ParseError, match=message):
            parser.parse(io.BytesIO(body.encode()), "application/json", {})


# NUL in URLs, queries and forms --------------------------------------------------------------------------------


def test_nul_in_an_output_id_path_is_a_400(api):
    response = api.get("/api/v1/outputs/conv%00-1")

    assert response.status_code == 400
    assert "NUL" in messages_of(response)


def test_nul_in_the_project_query_is_a_400(project, lead):
    response = signed_in(lead).get("/api/v1/metrics/quality?project=support%00bot")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "project"


@pytest.fixture
def handed(project, expert, rubric):
    """An item the expert was shown, with the page's `handed` token."""
    queue = Queue.objects.create(project=project, slug="all", name="All answers")
    OutputFactory.create_batch(2, project=project)
    from labeling.services.routing import route_outputs

    route_outputs(project_id=project.pk, output_ids=list(Output.objects.values_list("pk", flat=True)))
    client = signed_in(expert)
    item = take(client, queue)
    token = handed_token(client.get(f"/p/{project.slug}/items/{item.pk}/").content.decode())
    return client, item, token


@pytest.mark.parametrize(
    "action, field, model", [("flag", "note", Flag), ("skip", "reason", Skip), ("comment", "body", Comment)]
)
def test_nul_in_an_experts_note_is_a_400_and_nothing_is_stored(handed, project, action, field, model):
    client, item, token = handed
    url = f"/p/{project.slug}/items/{item.pk}/{action}"

    response = client.post(url, {field: "broken\x00note", "handed": token}, follow=True)

    # Flags and comments come back to the item page with the message (as for an empty note); a skip is a 400.
    assert response.status_code == (400 if action == "skip" else 200)
    assert "NUL character" in response.content.decode()
    assert model.objects.count() == 0


def test_nul_in_an_adjudication_note_is_a_400(project, expert, other_expert, lead):
    [item] = label_outputs(project, experts=[expert, other_expert])

    response = signed_in(lead).post(
        f"/p/{project.slug}/manage/adjudication/{item.pk}/", {"action": "mark", "note": "wrong\x00rule"}
    )

    assert response.status_code == 400
    assert Resolution.objects.get(item=item).note == ""


@pytest.mark.parametrize(
    "questions",
    [
        '- key: correct\n  kind: binary\n  prompt: "Is it \\0 correct?"\n',  # YAML's own escape for NUL
        '- key: tone\n  kind: choice\n  prompt: Tone\n  options: ["ok", "bad\\0"]\n',
        DEEP,
    ],
    ids=["nul-escape-in-prompt", "nul-escape-in-option", "10000-deep"],
)
def test_a_rubric_that_cannot_be_stored_is_a_400(project, lead, questions):
    response = signed_in(lead).post(f"/p/{project.slug}/manage/rubric/", {"questions": questions, "guidelines": ""})

    assert response.status_code == 400
    assert not Rubric.objects.filter(project=project).exists()


def test_the_rubric_service_refuses_nul_from_any_caller(project):
    with pytest.raises(InvalidSpec, match="NUL"):
        publish_rubric(project=project, questions=[{"key": "a", "kind": "binary", "prompt": "Is it\x00 ok?"}])


# Week labels ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("week", OUT_OF_RANGE_WEEKS)
@pytest.mark.parametrize("endpoint", ["quality", "agreement", "throughput", "retention"])
@pytest.mark.parametrize("param", ["from", "to"])
def test_an_out_of_range_week_on_the_metrics_api_is_a_400(api, endpoint, param, week):
    response = api.get(f"/api/v1/metrics/{endpoint}?{param}={week}")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == param
    assert "out of range" in messages_of(response)


@pytest.mark.parametrize("week", OUT_OF_RANGE_WEEKS)
def test_an_out_of_range_week_report_is_a_400(api, week):
    response = api.get(f"/api/v1/cycles/{week}/report")

    assert response.status_code == 400
    assert "out of range" in messages_of(response)


@pytest.mark.parametrize("week", OUT_OF_RANGE_WEEKS)
@pytest.mark.parametrize(
    "suffix, method", [("", "get"), ("report.md", "get"), ("decisions", "post"), ("close", "post")]
)
def test_an_out_of_range_week_on_the_meeting_page_is_a_404(project, lead, week, suffix, method):
    response = getattr(signed_in(lead), method)(f"/p/{project.slug}/meeting/{week}/{suffix}")

    assert response.status_code == 404


@pytest.mark.parametrize("week", OUT_OF_RANGE_WEEKS)
@pytest.mark.parametrize("param", ["from", "to"])
def test_an_out_of_range_week_on_the_dashboard_is_a_400(project, lead, param, week):
    response = signed_in(lead).get(f"/p/{project.slug}/dashboard/?{param}={week}")

    assert response.status_code == 400
    assert "out of range" in response.content.decode()


# The weekly quota ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quota", [str(2**63), str(10**100), str(WEEKLY_QUOTA_MAX + 1)])
def test_an_unbounded_weekly_quota_is_a_400(project, lead, quota):
    data = {"name": "Big", "slug": "big", "sample_rate": "1", "overlap": "1", "priority": "0", "weekly_quota": quota}

    response = signed_in(lead).post(f"/p/{project.slug}/manage/queues/new", data)

    assert response.status_code == 400
    assert f"{WEEKLY_QUOTA_MAX}" in response.content.decode().replace(",", "").replace("\u202f", "")
    assert not Queue.objects.filter(slug="big").exists()


@pytest.mark.parametrize("quota", [2**63, WEEKLY_QUOTA_MAX + 1])
def test_the_queue_service_bounds_the_weekly_quota(project, quota):
    with pytest.raises(InvalidSpec) as caught:
        create_queue(project=project, values=QueueValues(slug="big", name="Big", weekly_quota=quota))

    assert "weekly quota" in " ".join(caught.value.problems or [caught.value.message]).lower()


# The operator's admin ------------------------------------------------------------------------------------------


def test_the_admin_refuses_a_deep_json_rule_and_adding_service_made_rows(project):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = signed_in(admin)

    response = client.post(
        "/admin/labeling/queue/add/",
        {
            "project": project.pk,
            "slug": "q",
            "name": "Q",
            "rule": DEEP,
            "sample_rate": "1",
            "overlap": "1",
            "priority": "0",
        },  # fmt: skip
    )

    assert response.status_code == 200 and "deeper than" in response.content.decode()
    assert not Queue.objects.exists()
    for model in ("output", "rubric", "auditevent"):
        assert client.post(f"/admin/labeling/{model}/add/", {}).status_code == 403
