"""Real answers validate against the schema served at /api/schema/ (OpenAPI 3.1, so JSON Schema 2020-12): a page's
null links and an output's null input and context included, which OpenAPI 3.0 wording (`nullable`) and a nullable
any-value (`oneOf: [{}, null]`, which null matches twice) had made invalid."""

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from labeling.models import Output
from labeling.services.datasets import build_version, create_dataset
from tests.conftest import output_record
from tests.helpers.labeling import label_outputs

SCHEMA = "urn:expertloop:openapi"
DATASETS = "/api/v1/projects/{project_slug}/datasets"
VERSIONS = f"{DATASETS}/{{dataset_slug}}/versions"
ROWS = f"{VERSIONS}/{{version}}/rows"
EVAL = "/api/v1/projects/support-bot/datasets/support-eval"


def problems(schema: dict, path: str, body) -> list[str]:
    """How the body breaks the 200 answer the schema declares for GET `path` (an empty list: it matches)."""
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in ("paths", path, "get", "responses", "200", "content", "application/json", "schema")
    )
    registry = Registry().with_resource(SCHEMA, DRAFT202012.create_resource(schema))
    validator = Draft202012Validator({"$ref": f"{SCHEMA}#/{pointer}"}, registry=registry)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(body)]


@pytest.fixture
def schema(client):
    return client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


@pytest.fixture
def dataset(project):
    label_outputs(project, 3)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    build_version(dataset_id=dataset.pk)
    return dataset


def test_the_last_page_of_each_paged_list_matches_the_schema(api, schema, dataset):
    first_rows = api.get(f"{EVAL}/versions/1/rows?page_size=2").json()
    last_rows = api.get(first_rows["next"]).json()
    answers = {
        DATASETS: api.get("/api/v1/projects/support-bot/datasets").json(),
        VERSIONS: api.get(f"{EVAL}/versions").json(),
        ROWS: last_rows,
    }

    assert last_rows["next"] is None and last_rows["previous"]  # a last page, with a way back
    for path, body in answers.items():
        assert body["results"] and body["next"] is None
        assert problems(schema, path, body) == [], path
    assert problems(schema, ROWS, first_rows) == []


def test_an_output_without_input_or_context_matches_the_schema(api, schema):
    sent = api.post("/api/v1/outputs", {"outputs": [output_record(0, input=None, context=None)]})
    assert sent.status_code == 200, sent.content

    one = api.get("/api/v1/outputs/conv-0").json()
    listed = api.get("/api/v1/outputs").json()

    assert (one["input"], one["context"]) == (None, None)
    assert problems(schema, "/api/v1/outputs/{external_id}", one) == []
    assert problems(schema, "/api/v1/outputs", listed) == []


REFUSALS = {
    "a made-up cursor on the datasets": (DATASETS, "/api/v1/projects/support-bot/datasets?cursor=abc", "full", 400),
    "a made-up cursor on the versions": (VERSIONS, f"{EVAL}/versions?cursor=abc", "full", 400),
    "the redaction rules without a key": ("/api/v1/redaction-rules", "/api/v1/redaction-rules", None, 401),
    "the redaction rules without read": ("/api/v1/redaction-rules", "/api/v1/redaction-rules", "ingest", 403),
    "a NUL in the key's query": ("/api/v1/key", "/api/v1/key?x=%00", "full", 400),
    "a NUL in a dataset's query": (f"{DATASETS}/{{dataset_slug}}", f"{EVAL}?x=%00", "full", 400),
    "a NUL in a version's query": (f"{VERSIONS}/{{version}}", f"{EVAL}/versions/1?x=%00", "full", 400),
}


@pytest.mark.parametrize(("path", "url", "key", "status"), REFUSALS.values(), ids=REFUSALS.keys())
def test_each_refusal_is_a_status_the_schema_declares_for_the_endpoint(
    client, schema, dataset, full_key, ingest_key, path, url, key, status
):
    """Found by schemathesis: a bad cursor on two dataset lists, the middleware's 400 for a NUL in any URL and the
    redaction rules' 401 and 403 were answered but not declared, so a client generated from the schema had no
    type for them."""
    keys = {"full": full_key.secret, "ingest": ingest_key.secret, None: None}
    headers = {"HTTP_AUTHORIZATION": f"Bearer {keys[key]}"} if keys[key] else {}

    response = client.get(url, **headers)

    assert response.status_code == status, response.content[:200]
    declared = schema["paths"][path]["get"]["responses"]
    assert str(status) in declared, sorted(declared)
    assert declared[str(status)]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorsOut"}
    assert response.json()["errors"][0]["message"]


def request_problems(schema: dict, path: str, body) -> list[str]:
    """How the body breaks the JSON request body the schema declares for POST `path`."""
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in ("paths", path, "post", "requestBody", "content", "application/json", "schema")
    )
    registry = Registry().with_resource(SCHEMA, DRAFT202012.create_resource(schema))
    validator = Draft202012Validator({"$ref": f"{SCHEMA}#/{pointer}"}, registry=registry)
    return [error.message for error in validator.iter_errors(body)]


INGEST_REFUSALS = {
    "a null output": {"outputs": [output_record(0, output=None)]},
    "a chat message without a role": {"outputs": [output_record(0, input=[{"content": "Hi"}])]},
    "a chat message whose content is a number": {"outputs": [output_record(0, input=[{"role": "user", "content": 1}])]},
    "more records than a batch holds": {"outputs": [output_record(n) for n in range(1001)]},
}


@pytest.mark.parametrize("body", INGEST_REFUSALS.values(), ids=INGEST_REFUSALS.keys())
def test_the_schema_refuses_the_outputs_ingest_refuses(api, schema, project, body):
    """Found by schemathesis: the schema allowed a null `output`, any object as a chat message and a batch of any
    size, which ingest refuses (a 400), so a client could send a batch the schema called valid and lose it."""
    response = api.post("/api/v1/outputs", body)

    assert response.status_code == 400, response.content[:200]
    assert not Output.objects.exists()  # nothing of the batch was stored
    assert request_problems(schema, "/api/v1/outputs", body) != []
    assert request_problems(schema, "/api/v1/outputs", {"outputs": [output_record(0)]}) == []


@pytest.mark.parametrize("path", ["/api/v1/outputs", "/api/v1/events", "/api/v1/feedback"])
def test_an_ingest_body_is_required_as_the_schema_says(api, schema, path):
    response = api.post(path, b"")

    assert response.status_code == 400 and "The body is empty" in response.json()["errors"][0]["message"]
    assert schema["paths"][path]["post"]["requestBody"]["required"] is True
