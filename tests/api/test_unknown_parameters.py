"""Every API endpoint refuses a query parameter it does not take: a 400 naming it and listing the ones it takes,
once the credentials are accepted and before any work. A typo (`?splt=test`) was ignored on most endpoints, so a
pull of the test split answered every row, train included."""

import json
import re
from dataclasses import dataclass
from functools import cache

import pytest
from django.contrib.auth.models import Permission
from django.urls import URLPattern
from drf_spectacular.generators import SchemaGenerator

from api.urls import urlpatterns
from labeling.models import AuditEvent, Dataset, DatasetVersion, OutboxMessage, Output, UsageEvent, week_label
from labeling.rules.calendar import current_week
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import build_version, create_dataset
from labeling.services.rubrics import publish_rubric
from tests.conftest import Api, output_record
from tests.factories import UserFactory
from tests.helpers.labeling import label_outputs
from tests.helpers.otlp import export, span
from tests.helpers.rubrics import QUESTIONS

EVAL = "/api/v1/projects/support-bot/datasets/support-eval"
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.completion.0.content": "Hi."}
EVENT = {"end_user_id": "u-1", "name": "page_view", "occurred_at": "2026-11-23T07:30:00Z"}


@dataclass(frozen=True)
class Endpoint:
    route: str  # the URL name in api/urls.py
    method: str
    path: str
    known: str  # a query the endpoint takes (empty: it takes none)
    unknown: str  # a plausible typo, named in the 400
    caller: str  # the credentials it needs
    body: object = None
    content_type: str = "application/json"
    ok: int = 200


ENDPOINTS = [
    Endpoint("key", "GET", "/api/v1/key", "format=json", "verbose=1", "read"),
    Endpoint("outputs", "GET", "/api/v1/outputs", "tag=billing&page_size=5", "tagz=billing", "read"),
    Endpoint("outputs", "POST", "/api/v1/outputs", "format=json", "dry_run=true", "ingest",
             body={"outputs": [output_record(9)]}),
    Endpoint("output-facets", "GET", "/api/v1/outputs/facets", "model=gpt-4o", "page_size=5", "read"),
    Endpoint("output-detail", "GET", "/api/v1/outputs/conv-0", "include=labels", "includes=labels", "read"),
    Endpoint("labels", "GET", "/api/v1/labels", "format=csv", "form=csv", "read"),
    Endpoint("rubric", "GET", "/api/v1/rubric", "version=1", "verison=1", "read"),
    Endpoint("queues", "GET", "/api/v1/queues", "project=support-bot", "active=true", "read"),
    Endpoint("events", "POST", "/api/v1/events", "format=json", "async=1", "ingest", body={"events": [EVENT]}),
    Endpoint("feedback", "POST", "/api/v1/feedback", "format=json", "overwrite=false", "ingest",
             body={"feedback": [{"external_id": "conv-0", "score": -1}]}),
    # OTLP answers in the request's encoding and reads no `format`: it takes no parameter at all.
    Endpoint("otel-traces", "POST", "/api/v1/otel/v1/traces", "", "format=json", "ingest",
             body=export(span(attrs=CHAT))),
    Endpoint("end-user", "DELETE", "/api/v1/end-users/u-0", "", "dry_run=true", "privacy", ok=204),
    Endpoint("redaction-rules", "GET", "/api/v1/redaction-rules", "format=json", "version=1", "read"),
    Endpoint("datasets", "GET", "/api/v1/projects/support-bot/datasets", "page_size=1", "pagesize=1", "read"),
    Endpoint("datasets", "POST", "/api/v1/projects/support-bot/datasets", "format=json", "build=true", "datasets",
             body={"name": "Typo"}, ok=201),
    Endpoint("dataset", "GET", EVAL, "format=json", "version=1", "read"),
    Endpoint("dataset-versions", "GET", f"{EVAL}/versions", "page_size=1", "status=ready", "read"),
    Endpoint("dataset-version", "GET", f"{EVAL}/versions/latest", "format=json", "split=test", "read"),
    Endpoint("dataset-rows", "GET", f"{EVAL}/versions/latest/rows", "split=test&page_size=2", "splt=test", "read"),
    Endpoint("dataset-download", "GET", f"{EVAL}/versions/1/download", "format=csv", "fromat=csv", "read"),
    Endpoint("dataset-diff", "GET", f"{EVAL}/diff", "from=1&to=latest", "form=1", "read"),
    Endpoint("dataset-build", "POST", f"{EVAL}/build", "full=true", "fulll=true", "datasets", ok=202),
    Endpoint("dataset-version-withdraw", "POST", f"{EVAL}/versions/1/withdraw", "format=json", "force=true",
             "datasets", body={"reason": "Bad gold."}),
    Endpoint("metrics-quality", "GET", "/api/v1/metrics/quality", "from={week}&to={week}", "sinec={week}", "read"),
    Endpoint("metrics-agreement", "GET", "/api/v1/metrics/agreement", "from={week}", "form={week}", "read"),
    Endpoint("metrics-throughput", "GET", "/api/v1/metrics/throughput", "to={week}", "until={week}", "read"),
    Endpoint("metrics-retention", "GET", "/api/v1/metrics/retention", "segment=all", "segments=all", "read"),
    Endpoint("metrics-changes", "GET", "/api/v1/metrics/changes", "week={week}", "weeks={week}", "read"),
    Endpoint("cycle-report", "GET", "/api/v1/cycles/{week}/report", "format=markdown", "fromat=markdown", "read"),
    Endpoint("platform-usage", "GET", "/api/v1/platform/usage", "project=support-bot", "projects=support-bot",
             "operator"),
]  # fmt: skip
DOCUMENTATION = {"schema", "docs"}  # drf-spectacular's own views: the schema and Swagger UI


def endpoint_id(endpoint: Endpoint) -> str:
    return f"{endpoint.method} {endpoint.route}"


@pytest.fixture
def world(request, project, client):
    """A stored output, the callers each endpoint needs, and for the dataset endpoints a built dataset (with a test
    split): building it for every endpoint would double the file's time."""
    ingest = create_api_key(project=project, name="app", scopes=["ingest"])
    assert Api(client, ingest.secret).post("/api/v1/outputs", {"outputs": [output_record(0)]}).status_code == 200
    endpoint = getattr(request.node, "callspec", None) and request.node.callspec.params.get("endpoint")
    if endpoint is None or "/datasets/" in endpoint.path:
        label_outputs(project, 7)
        dataset = create_dataset(project=project, spec={"name": "Support eval"})
        build_version(dataset_id=dataset.pk)
    elif endpoint.route == "rubric":
        publish_rubric(project=project, questions=QUESTIONS)
    operator = UserFactory(username="opal")
    operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    return {
        "ingest": ingest.secret,
        "read": create_api_key(project=project, name="reader", scopes=["read"]).secret,
        "datasets": create_api_key(project=project, name="ci", scopes=["datasets"]).secret,
        "privacy": create_api_key(project=project, name="dpo", scopes=["privacy"]).secret,
        "operator": operator,
        "week": week_label(current_week(project)),
    }


def call(client, world, endpoint: Endpoint, query: str, *, signed_in: bool = True):
    """The endpoint's request with `query`, as its caller (or with no credentials at all)."""
    path = endpoint.path.format(week=world["week"])
    query = query.format(week=world["week"])
    headers = {}
    if signed_in and endpoint.caller == "operator":
        client.force_login(world["operator"])
    elif signed_in:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {world[endpoint.caller]}"
    body = json.dumps(endpoint.body) if endpoint.body is not None else ""
    url = f"{path}?{query}" if query else path
    return client.generic(endpoint.method, url, body, content_type=endpoint.content_type, **headers)


def written() -> dict:
    """What any write of the API would change."""
    return {
        "outputs": Output.objects.count(),
        "feedback": Output.objects.filter(feedback_score__isnull=False).count(),
        "events": UsageEvent.objects.count(),
        "datasets": Dataset.objects.count(),
        "builds asked": Dataset.objects.filter(build_requested_at__isnull=False).count(),
        "versions": DatasetVersion.objects.count(),
        "tasks": OutboxMessage.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def error_of(response) -> tuple[str, str]:
    """(field, message) of the one error, in the API's shape or OTLP's google.rpc.Status (JSON)."""
    body = response.json()
    if "errors" in body:
        [error] = body["errors"]
        return error["field"], error["message"]
    field, message = body["message"].split(": ", 1)
    return field, message


@cache
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def declared(endpoint: Endpoint, week: str) -> set[str]:
    """The query parameters the OpenAPI schema documents for the endpoint."""
    concrete = endpoint.path.format(week=week)
    path = re.sub(r"/(support-bot|support-eval|latest|conv-0|u-0|\d+|\d{4}-W\d\d)(?=/|$)", "/{}", concrete)
    [operation] = [
        item[endpoint.method.lower()]
        for template, item in schema()["paths"].items()
        if re.sub(r"\{[^}]+\}", "{}", template) == path
    ]
    return {parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "query"}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
def test_an_unknown_parameter_is_a_400_naming_it_and_nothing_is_done(client, world, endpoint):
    """The 400 lists what the endpoint takes: what the OpenAPI schema documents for it, no more, no less."""
    before = written()

    response = call(client, world, endpoint, endpoint.unknown)

    assert response.status_code == 400, response.content[:300]
    field, message = error_of(response)
    assert field == endpoint.unknown.split("=")[0]
    assert message.startswith("Unknown parameter")
    assert set(re.findall(r"`([^`]+)`", message)) == declared(endpoint, world["week"])
    assert written() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
def test_a_known_parameter_still_works(client, world, endpoint):
    response = call(client, world, endpoint, endpoint.known)

    assert response.status_code == endpoint.ok, response.content[:300]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=endpoint_id)
def test_no_credentials_is_a_401_before_the_unknown_parameter(client, world, endpoint):
    before = written()

    response = call(client, world, endpoint, endpoint.unknown, signed_in=False)

    assert response.status_code == 401, response.content[:300]
    assert written() == before


def test_every_api_route_is_covered():
    routes = {pattern.name for pattern in urlpatterns if isinstance(pattern, URLPattern)}

    assert routes - DOCUMENTATION == {endpoint.route for endpoint in ENDPOINTS}


def test_the_rows_of_a_split_are_not_every_row_when_the_parameter_is_misspelt(client, world, project):
    """The report's case: `?splt=test` answered the train rows too."""
    reader = Api(client, world["read"])

    test_rows = reader.get(f"{EVAL}/versions/latest/rows?split=test").json()["results"]
    misspelt = reader.get(f"{EVAL}/versions/latest/rows?splt=test")

    assert test_rows and {row["split"] for row in test_rows} == {"test"}
    assert misspelt.status_code == 400
    assert misspelt.json()["errors"] == [
        {"index": None, "field": "splt", "message": "Unknown parameter: use `split`, `cursor`, `page_size`."}
    ]


@pytest.mark.parametrize(
    "path",
    [
        f"{EVAL}/versions/latest/rows?splt=test",
        "/api/v1/metrics/quality?project=support-bot&sinec=2026-W40",
        "/api/v1/labels?project=support-bot&form=csv",
    ],
)
def test_a_project_hidden_from_the_caller_is_a_404_before_the_unknown_parameter(client, project, outsider, path):
    """Who may see the project is decided first, as for every other parameter: the 400 would be no leak, but one
    order everywhere is easier to rely on."""
    client.force_login(outsider)

    assert client.get(path).status_code == 404
