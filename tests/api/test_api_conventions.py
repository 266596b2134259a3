"""Rules every API endpoint shares, whatever the view: errors in the API's JSON shape, a body over Django's cap a
413, an unknown `?format=` a 400 naming it."""

import json

import pytest
from django.conf import settings

from api.exceptions import exception_handler
from api.views.otlp import status_response
from labeling.exceptions import TooManyRequests
from labeling.models import Dataset, Output
from labeling.services.api_keys import KEYS_PER_WINDOW, create_api_key
from tests.conftest import Api, output_record

DATASETS = "/api/v1/projects/support-bot/datasets"


@pytest.fixture
def builder(client, project):
    return Api(client, create_api_key(project=project, name="builder", scopes=["datasets"]).secret)


def test_a_body_over_djangos_cap_is_a_413_in_the_apis_shape(builder, client, engineer):
    """Django refuses it as it is read (RequestDataTooBig), which was an HTML 400; ingest answered 413 already."""
    big = json.dumps({"name": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})

    by_key = builder.post(DATASETS, big)
    client.force_login(engineer)
    by_session = client.post(DATASETS, big, content_type="application/json")

    for response in (by_key, by_session):
        assert response.status_code == 413, response.content[:200]
        assert response["Content-Type"] == "application/json"
        [error] = response.json()["errors"]
        assert error["message"] == f"The body is over the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("handler", [exception_handler, status_response], ids=["rest", "otlp"])
def test_a_limit_the_domain_enforces_is_a_429_with_retry_after_like_the_throttles(project, rf, handler):
    """The throttle's 429 carried Retry-After, a domain limit's (TooManyRequests) none. No API view reaches such a
    limit yet, so the handlers are given the refusal of a real one: a key past the project's hourly issue limit."""
    for n in range(KEYS_PER_WINDOW):
        create_api_key(project=project, name=f"key {n}", scopes=["read"])
    with pytest.raises(TooManyRequests) as refused:
        create_api_key(project=project, name="one more", scopes=["read"])

    response = handler(refused.value, {"request": rf.post("/api/v1/outputs"), "view": None})

    assert response.status_code == 429
    assert int(response["Retry-After"]) == refused.value.retry_after >= 1


def test_a_json_value_that_cannot_be_stored_is_a_400_naming_its_field(builder):
    """The API's JSON parser refuses a NUL (PostgreSQL stores none) anywhere in a body, saying where it is."""
    response = builder.post(DATASETS, '{"name": "Support", "queues": ["a\\u0000b"]}')

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "queues[0]" and "NUL" in error["message"]
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    "body, field, key",
    [
        ('{"name": "Support", "name": "Billing"}', "name", "name"),
        # Last one wins made these shares add up to 100: {"train": 50, "test": 50}.
        ('{"name": "Support", "splits": {"train": 10, "train": 50, "test": 50}}', "splits.train", "train"),
        ('{"name": "Support", "tags_any": [{"a": 1, "a": 2}]}', "tags_any[0].a", "a"),
    ],
)
def test_a_key_given_twice_in_one_json_object_is_a_400_naming_it(builder, body, field, key):
    """JSON parsers keep the last of a duplicated key without a word: the sender meant one of the two values."""
    response = builder.post(DATASETS, body)

    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert error["message"] == f"`{key}` is given twice in one object; send each key once."
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/caf%C3%A9/datasets",  # not a slug: no route
        "/api/v1/projects/support-bot/datasets/eval/versions/1/rows/extra",
        "/api/v1/nothing-here",
    ],
)
def test_a_url_no_endpoint_has_is_a_404_in_the_apis_shape(api, path):
    """The schema's 404s are JSON; a path no route matched was Django's HTML page."""
    response = api.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    [error] = response.json()["errors"]
    assert error["message"].startswith("No API endpoint has this URL")


def test_a_page_no_route_matches_is_still_the_html_404(client, db):
    response = client.get("/no-such-page/")

    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.fixture
def stored(api, project):
    assert api.post("/api/v1/outputs", {"outputs": [output_record(0)]}).status_code == 200
    return Output.objects.get(project=project)


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/api/v1/outputs?format=csv"),  # an ingest: nothing stored
        ("get", "/api/v1/key?format=csv"),
        ("get", "/api/v1/outputs/conv-0?format=csv"),  # a stored output, not "no such output"
        ("get", f"{DATASETS}?format=csv"),
    ],
)
def test_an_unknown_format_is_a_400_naming_it_not_a_404(api, stored, method, path):
    """DRF's URL_FORMAT_OVERRIDE answered a bare 404 "Not found." on endpoints that have no use for `format`."""
    response = api.post(path, {"outputs": [output_record(1)]}) if method == "post" else api.get(path)

    assert response.status_code == 400, response.content
    assert response.json()["errors"] == [{"index": None, "field": "format", "message": "Unknown format: use `json`."}]
    assert Output.objects.count() == 1  # the ingest stored nothing


@pytest.mark.parametrize(
    "method, path, scope_refused",
    [
        ("post", "/api/v1/outputs?format=csv", False),
        ("get", "/api/v1/key?format=csv", False),  # any valid key may name itself
        ("get", "/api/v1/outputs/conv-0?format=csv", True),
        ("get", f"{DATASETS}?format=csv", True),
        ("get", f"{DATASETS}/support-eval/versions/latest/download?format=xml", True),  # the file's own `format`
    ],
)
def test_credentials_are_decided_before_an_unknown_format(client, ingest_key, method, path, scope_refused):
    """No key or a wrong one is a 401, a key without the scope a 403, whatever `format` says: a client told only
    "Unknown format" fixes that and learns of its key on the next request (an ingest's sender may think it good)."""
    callers = [(Api(client, None), 401), (Api(client, "el_000000000000_" + "x" * 43), 401)]
    if scope_refused:  # an ingest-only key
        callers.append((Api(client, ingest_key.secret), 403))
    for caller, expected in callers:
        response = caller.post(path, {"outputs": [output_record(1)]}) if method == "post" else caller.get(path)
        assert response.status_code == expected, response.content
        assert response.json()["errors"][0]["field"] != "format"
    assert not Output.objects.exists()


@pytest.mark.parametrize(
    "method, path, scope_refused",
    [
        ("post", "/api/v1/outputs", False),
        ("get", "/api/v1/key", False),
        ("get", "/api/v1/outputs/conv-0", True),
        ("get", f"{DATASETS}", True),
        ("get", "/api/v1/metrics/quality", True),
    ],
)
def test_credentials_are_decided_before_an_accept_header_the_endpoint_cannot_answer(
    client, ingest_key, method, path, scope_refused
):
    """As for an unknown `format`: a 406 for `Accept: application/xml` came before the 401 of a missing key."""
    callers = [(Api(client, None), 401), (Api(client, "el_000000000000_" + "x" * 43), 401)]
    if scope_refused:  # an ingest-only key
        callers.append((Api(client, ingest_key.secret), 403))
    for caller, expected in callers:
        headers = {"HTTP_ACCEPT": "application/xml", **caller._headers(...)}
        if method == "post":
            body = json.dumps({"outputs": [output_record(1)]})
            response = client.generic("POST", path, body, content_type="application/json", **headers)
        else:
            response = client.get(path, **headers)
        assert response.status_code == expected, response.content
    assert not Output.objects.exists()
    accepted = Api(client, ingest_key.secret)
    response = client.get("/api/v1/key", HTTP_ACCEPT="application/xml", **accepted._headers(...))
    assert response.status_code == 406  # a good key still hears that the Accept header cannot be met


@pytest.mark.parametrize("accept", ["", "   ", ",", " , "])
def test_an_empty_accept_header_is_answered_in_json_as_if_absent(api, accept):
    """Some clients send `Accept: ` with nothing after it: that asks for nothing in particular, not for nothing."""
    response = api.client.get("/api/v1/key", HTTP_ACCEPT=accept, **api._headers(...))

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["project"] == "support-bot"


@pytest.mark.parametrize(
    "accept", ["application/json;q=0", "application/json; q=0.000, text/csv", "*/*;q=0", "application/*;q=0, */*"]
)
def test_a_type_the_accept_header_gives_q_0_is_not_acceptable(api, accept):
    """RFC 9110 12.4.2: `q=0` means "not acceptable"; the most specific range naming a type decides its quality."""
    response = api.client.get("/api/v1/key", HTTP_ACCEPT=accept, **api._headers(...))

    assert response.status_code == 406, response.content
    assert "application/json" in response.json()["errors"][0]["message"]


def test_an_output_whose_external_id_holds_a_newline_is_found_by_its_url(api, project):
    """`<path:…>` stops at a newline, so an id ingest had taken had no URL: an HTML 404 instead of the output."""
    assert api.post("/api/v1/outputs", {"outputs": [output_record(0, external_id="conv-1\nturn-2")]}).status_code == 200

    response = api.get("/api/v1/outputs/conv-1%0Aturn-2")

    assert response.status_code == 200, response.content[:200]
    assert response.json()["external_id"] == "conv-1\nturn-2"


def test_format_json_names_the_one_format_these_endpoints_answer_in(api, stored):
    assert api.get("/api/v1/key?format=json").status_code == 200
    assert api.get("/api/v1/outputs/conv-0?format=json").json()["external_id"] == "conv-0"


def test_the_schema_offers_format_only_where_it_does_something(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    offered = {
        path
        for path, item in schema["paths"].items()
        for operation in item.values()
        if any(parameter["name"] == "format" for parameter in operation.get("parameters", []))
    }
    assert offered == {
        "/api/v1/labels",
        "/api/v1/cycles/{week}/report",
        "/api/v1/projects/{project_slug}/datasets/{dataset_slug}/versions/{version}/download",
    }  # not the OTLP endpoint, which answers in the request's encoding whatever `format` says


def test_the_schemas_unknown_format_names_each_format_once(client, db):
    response = client.get("/api/schema/?format=xml")

    assert response.status_code == 400
    assert b"Unknown format: use `yaml` or `json`." in response.content
