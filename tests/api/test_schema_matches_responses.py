"""Real answers validate against the schema served at /api/schema/ (OpenAPI 3.1, so JSON Schema 2020-12): a page's
null links and an output's null input and context included, which OpenAPI 3.0 wording (`nullable`) and a nullable
any-value (`oneOf: [{}, null]`, which null matches twice) had made invalid."""

import re
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from labeling.models import Decision, Output, ReviewCycle, week_label
from labeling.rules import calendar
from labeling.rules.calendar import WEEK_LABEL_PATTERN, WEEK_YEARS
from labeling.services.api_keys import create_api_key
from labeling.services.cycles import close_week
from labeling.services.datasets import build_version, create_dataset
from labeling.services.rubrics import publish_rubric
from tests.conftest import output_record
from tests.factories import created_weeks_ago
from tests.helpers.clock import run_clock_clear_of_week_starts
from tests.helpers.labeling import label_outputs
from tests.helpers.otlp import export, span
from tests.helpers.reports import flagged_item, sample_report
from tests.helpers.rubrics import QUESTIONS
from tests.helpers.version_files import rendered

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


def parameter_problems(schema: dict, path: str, name: str, value: str) -> list[str]:
    """How `value` breaks the schema of GET `path`'s parameter `name` (an array's items are comma-separated)."""
    [parameter] = [each for each in schema["paths"][path]["get"]["parameters"] if each["name"] == name]
    described = parameter["schema"]
    if described["type"] == "array":
        value = value.split(",")
    elif described["type"] == "integer":
        value = int(value)
    return [error.message for error in Draft202012Validator(described).iter_errors(value)]


WEEKS = (["2026-W45", "2026-W01"], ["0", "2026-W4", "2026-W54", "2026-W00", "1969-W52", "2200-W01"])
PARAMETERS = {
    "a week of the metrics": ("/api/v1/metrics/quality", "from", "/api/v1/metrics/quality?to=2026-W48&from={}", WEEKS),
    "a week of the changes": ("/api/v1/metrics/changes", "week", "/api/v1/metrics/changes?week={}", WEEKS),
    "a cycle's week": ("/api/v1/cycles/{week}/report", "week", "/api/v1/cycles/{}/report", (["2026-W45"], ["0"])),
    "a page of outputs": ("/api/v1/outputs", "page_size", "/api/v1/outputs?page_size={}", (["1", "200"], ["0", "201"])),
    "what an output includes": (
        "/api/v1/outputs/{external_id}", "include", "/api/v1/outputs/conv-0?include={}", (["labels,gold"], ["bogus"])
    ),
    "a length of the outputs": ("/api/v1/outputs", "min_chars", "/api/v1/outputs?min_chars={}",
                                (["0", "10000000"], ["-1", "10000001"])),
    "a day of the facets": ("/api/v1/outputs/facets", "from", "/api/v1/outputs/facets?from={}",
                            (["2026-11-30", "2000-01-01"], ["1999-12-31", "2101-01-01", "30-11-2026"])),
    "the newer version of a diff": (f"{DATASETS}/{{dataset_slug}}/diff", "to", f"{EVAL}/diff?from=1&to={{}}",
                                    (["latest", "1"], ["0", "x", "1000000000"])),
}  # fmt: skip


@pytest.mark.parametrize(("path", "name", "url", "values"), PARAMETERS.values(), ids=PARAMETERS.keys())
def test_a_parameters_schema_takes_the_values_the_endpoint_takes(
    api, schema, dataset, project, path, name, url, values
):
    """Found by schemathesis: week labels, the outputs' page size, `include` and a diff's `to` were declared as any
    string or integer, so values the schema called valid were refused with a 400."""
    created_weeks_ago(project, 104)  # the weeks taken are the project's (an earlier one has no report: a 404)
    assert api.post("/api/v1/outputs", {"outputs": [output_record(0)]}).status_code == 200
    taken, refused = values
    for value in taken:
        response = api.get(url.format(value))
        assert response.status_code == 200, (value, response.content[:200])
        assert parameter_problems(schema, path, name, value) == [], value
    for value in refused:
        response = api.get(url.format(value))
        assert response.status_code in (400, 404), (value, response.content[:200])
        assert parameter_problems(schema, path, name, value) != [], value


def test_a_dataset_without_a_name_is_refused_by_the_schema_as_by_the_endpoint(client, schema, project):
    builder = create_api_key(project=project, name="builder", scopes=["datasets"])

    response = client.post(DATASETS.replace("{project_slug}", "support-bot"), {"name": ""},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {builder.secret}")  # fmt: skip

    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "name"
    assert request_problems(schema, DATASETS, {"name": ""}) != []
    assert request_problems(schema, DATASETS, {"name": "Eval"}) == []


def test_a_withdrawal_of_latest_is_refused_by_the_schema_as_by_the_endpoint(client, schema, project, lead, dataset):
    """Found by schemathesis: the withdrawal's `version` took `latest` by the schema, which the endpoint refuses
    (a retry would withdraw the version before it); a number it takes."""
    ci = create_api_key(project=project, name="ci", scopes=["datasets"], created_by=lead)
    path = f"{VERSIONS}/{{version}}/withdraw"
    [version] = [each for each in schema["paths"][path]["post"]["parameters"] if each["name"] == "version"]
    takes = Draft202012Validator(version["schema"]).is_valid

    response = client.post(f"{EVAL}/versions/latest/withdraw", {"reason": "Wrong gold."},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {ci.secret}")  # fmt: skip

    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "version"
    assert dataset.versions.get().status == "ready"
    assert not takes("latest") and takes("1")


# Each a GET whose optional query parameter, sent empty, is answered as if it were not sent.
EMPTY_VALUES = {
    "the metrics' last week": ("/api/v1/metrics/agreement", "/api/v1/metrics/agreement", "to"),
    "the changes' week": ("/api/v1/metrics/changes", "/api/v1/metrics/changes", "week"),
    "the metrics' question": ("/api/v1/metrics/quality", "/api/v1/metrics/quality", "question"),
    "the queues' project": ("/api/v1/queues", "/api/v1/queues", "project"),
    "the rubric's project": ("/api/v1/rubric", "/api/v1/rubric", "project"),
    "the outputs' last day": ("/api/v1/outputs", "/api/v1/outputs", "to"),
    "the facets' last day": ("/api/v1/outputs/facets", "/api/v1/outputs/facets", "to"),
    "what an output includes": ("/api/v1/outputs/{external_id}", "/api/v1/outputs/conv-0", "include"),
    "a diff's newer version": (f"{DATASETS}/{{dataset_slug}}/diff", f"{EVAL}/diff?from=1", "to"),
}


@pytest.mark.parametrize(("path", "url", "name"), EMPTY_VALUES.values(), ids=EMPTY_VALUES.keys())
def test_an_empty_query_parameter_is_read_as_not_given_as_the_schema_says(
    api, schema, project, dataset, monkeypatch, path, url, name
):
    """Found by schemathesis: `?to=` was answered as no `to` (DRF reads a blank optional field so), while the schema
    gave these parameters a `minLength` or a `pattern` that calls the empty value invalid."""
    run_clock_clear_of_week_starts(monkeypatch, [project])  # both answers read the same running week
    assert api.post("/api/v1/outputs", {"outputs": [output_record(0)]}).status_code == 200
    [parameter] = [each for each in schema["paths"][path]["get"]["parameters"] if each["name"] == name]
    joined = "&" if "?" in url else "?"

    without, empty = api.get(url), api.get(f"{url}{joined}{name}=")

    assert without.status_code == 200, without.content[:200]
    assert (empty.status_code, empty.json()) == (without.status_code, without.json())
    assert parameter.get("allowEmptyValue") is True


def test_only_optional_query_parameters_take_an_empty_value(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                takes_empty = parameter.get("allowEmptyValue", False)
                assert takes_empty == (parameter["in"] == "query" and not parameter.get("required")), (
                    method,
                    path,
                    parameter["name"],
                )


def test_the_week_pattern_takes_the_years_week_from_label_takes():
    pattern = re.compile(WEEK_LABEL_PATTERN)
    for year in (WEEK_YEARS.start - 1, WEEK_YEARS.start, WEEK_YEARS.stop - 1, WEEK_YEARS.stop, 1999, 2000, 2100):
        assert bool(pattern.fullmatch(f"{year}-W01")) == (year in WEEK_YEARS), year


OTLP = "/api/v1/otel/v1/traces"
OTLP_DOCUMENTS = {
    "the empty export": ({}, 200),
    "spans beside a field the server does not know": ({"resourceSpans": [], "extension": {}}, 200),
    "only a field the server does not know": ({"extension": {}}, 400),
    "null spans, read as none (protobuf's JSON mapping)": ({"resourceSpans": None}, 200),
}


@pytest.mark.parametrize(("document", "status"), OTLP_DOCUMENTS.values(), ids=OTLP_DOCUMENTS.keys())
def test_the_otlp_json_schema_takes_the_documents_the_endpoint_takes(api, schema, document, status):
    """Found by schemathesis: the OTLP/JSON body was declared as any object and optional, so `{"extension": {}}`
    and a request with no body and no Content-Type (a 415) were valid by the schema."""
    response = api.post(OTLP, document)

    assert response.status_code == status, response.content[:200]
    assert (request_problems(schema, OTLP, document) == []) == (status == 200)
    assert schema["paths"][OTLP]["post"]["requestBody"]["required"] is True


def answer_problems(schema: dict, path: str, method: str, response) -> list[str]:
    """How a real answer breaks what the schema declares for it: its status, headers and body (an empty list: it
    matches)."""
    declared = schema["paths"][path][method]["responses"].get(str(response.status_code))
    if declared is None:
        return [f"{response.status_code} is not declared for {method.upper()} {path}"]
    media_type = response["Content-Type"].split(";")[0]
    problems = [f"no {name} header" for name in declared.get("headers", {}) if not response.has_header(name)]
    if media_type not in declared["content"]:
        return [*problems, f"{media_type} is not declared for its {response.status_code}"]
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in ("paths", path, method, "responses", str(response.status_code), "content", media_type, "schema")
    )
    registry = Registry().with_resource(SCHEMA, DRAFT202012.create_resource(schema))
    validator = Draft202012Validator({"$ref": f"{SCHEMA}#/{pointer}"}, registry=registry)
    return [*problems, *(f"{error.json_path}: {error.message}" for error in validator.iter_errors(response.json()))]


def _refuse_the_database(execute, sql, params, many, context):
    raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")


OUTSIDE_ANSWERS = {
    "the outputs list": ("/api/v1/outputs", "get", "/api/v1/outputs", None),
    "outputs ingest": ("/api/v1/outputs", "post", "/api/v1/outputs", {"outputs": [output_record(0)]}),
    "the weekly report": ("/api/v1/cycles/{week}/report", "get", "/api/v1/cycles/2026-W45/report", None),
    "the datasets": (DATASETS, "get", "/api/v1/projects/support-bot/datasets", None),
    "OTLP/JSON": ("/api/v1/otel/v1/traces", "post", "/api/v1/otel/v1/traces", export(span())),
}


@pytest.mark.parametrize(("path", "method", "url", "body"), OUTSIDE_ANSWERS.values(), ids=OUTSIDE_ANSWERS.keys())
def test_the_answers_from_outside_the_views_are_the_ones_the_schema_declares(
    client, schema, full_key, settings, path, method, url, body
):
    """An unsupported Accept (406), the throttle (429) and a database outage (503) were answered by every endpoint
    but declared by none (but a download's 503), so a client generated from the schema had no type for them."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "1/hour"}}

    def send(**headers):
        if method == "get":
            return client.get(url, HTTP_AUTHORIZATION=f"Bearer {full_key.secret}", **headers)
        return client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {full_key.secret}",
                           **headers)  # fmt: skip

    with connection.execute_wrapper(_refuse_the_database):
        unavailable = send()
    not_acceptable = send(HTTP_ACCEPT="image/png")
    send()
    throttled = send()

    assert unavailable.status_code == 503 and unavailable["Retry-After"] == "30"
    assert (throttled.status_code, int(throttled["Retry-After"]) > 0) == (429, True)
    answers = [unavailable, throttled]
    if path != "/api/v1/otel/v1/traces":  # OTLP answers in the request's encoding, whatever Accept says
        assert not_acceptable.status_code == 406, not_acceptable.content[:200]
        assert "`application/json`" in not_acceptable.json()["errors"][0]["message"]
        answers.append(not_acceptable)
    for response in answers:
        assert answer_problems(schema, path, method, response) == [], response.status_code


FILES = {
    "a download": (f"{VERSIONS}/{{version}}/download", f"{EVAL}/versions/1/download?format=csv"),
    "the label export": ("/api/v1/labels", "/api/v1/labels"),
}


@pytest.mark.parametrize(("path", "url"), FILES.values(), ids=FILES.keys())
def test_the_files_answer_whatever_accept_says_and_declare_no_406(client, schema, dataset, full_key, path, url):
    response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {full_key.secret}", HTTP_ACCEPT="image/png")

    assert response.status_code == 200
    assert "406" not in schema["paths"][path]["get"]["responses"]


def test_every_operation_declares_the_throttle_and_the_database_outage_with_retry_after(schema):
    operations = [op for path, item in schema["paths"].items() if path.startswith("/api/v1/") for op in item.values()]

    assert len(operations) >= 25
    for operation in operations:
        for status in ("429", "503"):
            assert "Retry-After" in operation["responses"][status]["headers"], (operation["operationId"], status)


# Keys a value may carry that no schema can name: they are the data's own, as sent. (An expert's `answers`, keyed by
# the rubric's questions, have no such excuse: the schema types their values, `additionalProperties`.)
DATA_KEYED = {"metadata", "input", "output", "context", "filters"}


def _shapes(schema: dict, node: dict) -> list[dict]:
    """The schemas a value must match at `node`: its $ref resolved, its allOf / oneOf / anyOf branches flattened."""
    if "$ref" in node:
        target = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _shapes(schema, target)
    found = [node]
    for combinator in ("allOf", "oneOf", "anyOf"):
        for branch in node.get(combinator, []):
            found += _shapes(schema, branch)
    return found


def unshaped(schema: dict, node: dict, body, at: str = "$") -> list[str]:
    """The places in `body` whose shape the schema leaves out: a key no `properties` declares, or an object or a list
    declared only as free-form (`{}` or an untyped dict), but under keys that hold the data's own keys (DATA_KEYED)."""
    shapes = _shapes(schema, node)
    if isinstance(body, dict):
        declared = {name: each for shape in shapes for name, each in shape.get("properties", {}).items()}
        typed = [s["additionalProperties"] for s in shapes if isinstance(s.get("additionalProperties"), dict)]
        typed = [each for each in typed if each]
        if not declared and not typed:
            return [f"{at}: a free-form object"]
        found = []
        for key, value in body.items():
            if key in declared:
                found += unshaped(schema, declared[key], value, f"{at}.{key}") if key not in DATA_KEYED else []
            elif typed:
                found += unshaped(schema, typed[0], value, f"{at}.{key}")
            else:
                found.append(f"{at}.{key}: not declared")
        return found
    if isinstance(body, list):
        items = [shape["items"] for shape in shapes if isinstance(shape.get("items"), dict)]
        if not items:
            return [f"{at}: a free-form list"]
        return [
            problem for index, each in enumerate(body) for problem in unshaped(schema, items[0], each, f"{at}[{index}]")
        ]
    return []


def answer_shape(schema: dict, path: str) -> dict:
    """What the schema declares for the 200 JSON answer of GET `path`."""
    return schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


def test_a_rows_answer_declares_every_key_of_its_rows(api, schema, dataset):
    """`gold_status`, in every row, was missing from the rows' schema: a client generated from it dropped it."""
    body = api.get(f"{EVAL}/versions/latest/rows").json()

    assert body["results"] and all("gold_status" in row for row in body["results"])
    assert unshaped(schema, answer_shape(schema, ROWS), body) == []
    assert problems(schema, ROWS, body) == []


def test_an_outputs_detail_declares_its_feedback_labels_and_gold(api, schema, dataset):
    """`feedback` was declared as any object: a client generated from the schema had no `score` nor `comment`."""
    sent = api.post("/api/v1/feedback", {"feedback": [{"external_id": "out-00000", "score": -1, "comment": "wrong"}]})
    assert sent.status_code == 200, sent.content

    body = api.get("/api/v1/outputs/out-00000?include=labels,gold").json()

    assert body["feedback"]["score"] == -1 and body["items"][0]["gold"]
    assert unshaped(schema, answer_shape(schema, "/api/v1/outputs/{external_id}"), body) == []
    assert problems(schema, "/api/v1/outputs/{external_id}", body) == []


def test_a_listed_version_declares_its_questions_as_a_version_does(api, schema, dataset):
    """The list now gives each version's `questions`, declared as the detail's are: a client generated from the
    schema has them."""
    listed = api.get(f"{EVAL}/versions").json()
    one = api.get(f"{EVAL}/versions/1").json()

    assert listed["results"][0]["questions"] and listed["results"][0]["questions"] == one["questions"]
    for path, body in ((VERSIONS, listed), (f"{VERSIONS}/{{version}}", one)):
        assert unshaped(schema, answer_shape(schema, path), body) == [], path
        assert problems(schema, path, body) == [], path


DIFF = f"{DATASETS}/{{dataset_slug}}/diff"
LEFT_OUT = {"added_left_out", "removed_left_out", "changed_left_out"}


def test_a_diff_declares_how_many_ids_each_list_left_out(api, schema, dataset):
    """`added_left_out`, `removed_left_out` and `changed_left_out` are declared and required, as
    `changed_rows_left_out` is."""
    diff = api.get(f"{EVAL}/diff?from=1&to=1").json()

    assert LEFT_OUT <= set(diff)
    assert unshaped(schema, answer_shape(schema, DIFF), diff) == []
    assert problems(schema, DIFF, diff) == []
    assert LEFT_OUT <= set(schema["components"]["schemas"]["DiffOut"]["required"])


REPORT = "/api/v1/cycles/{week}/report"


@pytest.fixture
def flagged(project, rubric, other_expert):
    """This week's item that another expert labeled, flagged and commented on."""
    return flagged_item(project, rubric, other_expert, note="Refunds take 30 days", comment="I marked it incorrect")


def test_a_weekly_report_declares_every_key_it_carries(client, api, schema, project, expert, flagged):
    """`changes`, `close` and `themes` were missing from the report's schema, and the headline, agenda, throughput,
    retention, quality and agreement were free-form objects: a client generated from it had no type for them. The
    blind copy an expert reads (`expert` null, `expert_hidden`, `note_hidden`, `comments_hidden`) too."""
    week = calendar.current_week(project)
    earlier = ReviewCycle.objects.create(project=project, week=week - timedelta(days=7))
    Decision.objects.create(cycle=earlier, text="Still open", owner="Priya", due_date=week)  # carried to this week
    url = f"/api/v1/cycles/{week_label(week)}/report"
    open_report = api.get(url).json()
    client.force_login(expert)
    blind = client.get(f"{url}?project={project.slug}").json()
    close_week(project_id=project.pk, week=week, now=calendar.week_end(project, week) + timedelta(minutes=1))
    closed = api.get(url).json()
    ReviewCycle.objects.filter(project=project, week=week).update(report=sample_report())
    frozen = api.get(url).json()

    assert blind["agenda"]["flags"][0]["expert_hidden"] is True
    assert closed["status"] == "closed" and "close" in closed
    assert [entry["text"] for entry in closed["carried_decisions"]] == ["Still open"]
    for report in (open_report, blind, closed, frozen):
        assert unshaped(schema, answer_shape(schema, REPORT), report) == [], report["status"]
        assert problems(schema, REPORT, report) == [], report["status"]


DOWNLOAD = f"{VERSIONS}/{{version}}/download"


def test_a_downloads_range_answer_and_headers_are_the_ones_the_schema_declares(client, full_key, schema, dataset):
    """The 206 of a byte range (Content-Range), the 416 of one past the end, and the ETag, Repr-Digest and version
    headers clients rely on were answered but not declared, nor the Range and If-Range a client may send."""
    rendered(dataset.versions.get(number=1))
    url = f"{EVAL}/versions/1/download?format=parquet"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {full_key.secret}"}
    whole = client.get(url, **auth)
    part = client.get(url, HTTP_RANGE="bytes=0-9", **auth)
    past = client.get(url, HTTP_RANGE="bytes=999999999-", **auth)
    same = client.get(url, HTTP_IF_NONE_MATCH=whole["ETag"], **auth)

    operation = schema["paths"][DOWNLOAD]["get"]
    assert {each["name"] for each in operation["parameters"] if each["in"] == "header"} >= {"Range", "If-Range"}
    for response in (whole, part, past, same):
        declared = operation["responses"].get(str(response.status_code))
        assert declared is not None, response.status_code
        sent = {name for name in declared.get("headers", {}) if response.has_header(name)}
        # Retry-After is a 503's; X-Rows-Note comes only with an empty file of an OpenAI format (never parquet).
        assert sent == set(declared.get("headers", {})) - {"Retry-After", "X-Rows-Note"}, response.status_code
    assert (whole.status_code, part.status_code, past.status_code, same.status_code) == (200, 206, 416, 304)
    assert {"ETag", "Repr-Digest", "X-Dataset-Version"} <= set(operation["responses"]["200"]["headers"])
    assert "Content-Range" in operation["responses"]["206"]["headers"]


def test_the_rubric_and_the_queues_declare_every_key_they_carry(api, schema, rubric, dataset):
    """The annotation schema's two reads: every question kind (options and scale null or not), an older version, and
    queues with items waiting."""
    publish_rubric(project=rubric.project, questions=QUESTIONS[:1])
    answers = {
        "/api/v1/rubric": [api.get("/api/v1/rubric").json(), api.get("/api/v1/rubric?version=1").json()],
        "/api/v1/queues": [api.get("/api/v1/queues").json()],
    }

    assert {question["kind"] for question in answers["/api/v1/rubric"][1]["questions"]} == {
        question["kind"] for question in QUESTIONS
    }
    assert answers["/api/v1/queues"][0]["results"]
    for path, bodies in answers.items():
        for body in bodies:
            assert unshaped(schema, answer_shape(schema, path), body) == [], path
            assert problems(schema, path, body) == [], path
