"""The OpenAPI schema is generated and rendered once per process (api/views/schema.py), and served as generated."""

import json

import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture
def generations(monkeypatch, settings):
    """drf-spectacular's real generator, counting its runs; a changed setting first, which empties the cache."""
    settings.SPECTACULAR_SETTINGS = {**settings.SPECTACULAR_SETTINGS}
    runs: list[bool] = []
    generate = SchemaGenerator.get_schema

    def counted(self, *args, **kwargs):
        runs.append(True)
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counted)
    return runs


_CHROMIUM_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7"
)


def _served(response) -> tuple:
    return response.status_code, response.content, response["Content-Type"], response["Content-Disposition"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "headers", "content_type"),
    [
        ("", {}, "application/vnd.oai.openapi"),
        ("?format=json", {}, "application/vnd.oai.openapi+json"),
        ("", {"HTTP_ACCEPT": "application/json"}, "application/json"),
        # chromium opening the address: `*/*;q=0.8` accepts the renderer, whose own media type is answered
        ("", {"HTTP_ACCEPT": _CHROMIUM_ACCEPT}, "application/vnd.oai.openapi"),
    ],
)
def test_the_schema_is_generated_once_and_then_served_the_same(client, generations, query, headers, content_type):
    """Before: every request to /api/schema/ generated the schema again (and rendered it: ~0.3 s in-process for the
    YAML). Now the first request of a process generates it; later ones answer the same bytes and headers, whoever
    asks (another host name, any Authorization header: none goes into the schema)."""
    first = client.get(f"/api/schema/{query}", **headers)
    assert first.status_code == 200 and first["Content-Type"].startswith(content_type)
    assert len(generations) == 1

    again = client.get(f"/api/schema/{query}", **headers)
    other = client.get(f"/api/schema/{query}", HTTP_HOST="localhost", HTTP_AUTHORIZATION="Bearer el_x", **headers)
    assert len(generations) == 1
    assert _served(again) == _served(first) == _served(other)


@pytest.mark.django_db
def test_a_changed_setting_is_in_the_schema_served_next(client, settings):
    """A guard for the cache: a setting that goes into the schema (the throttle's rate in each 429) is served as it
    now is, not as the process first rendered it."""
    described = "Over the key's request rate (`API_THROTTLE_RATE`, {rate}): wait `Retry-After` seconds."

    def rate_said() -> str:
        schema = client.get("/api/schema/?format=json").json()
        return schema["paths"]["/api/v1/outputs"]["post"]["responses"]["429"]["description"]

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "7/min"}}
    assert rate_said() == described.format(rate="7/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "9/min"}}
    assert rate_said() == described.format(rate="9/min")


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["2", "1.0.0 (hacked)", "x" * 300])
def test_an_unknown_version_is_a_400_naming_it_and_generates_nothing(client, generations, version):
    """Before: drf-spectacular wrote any `?version=` into `info.version` ("1.0.0 (2)") and generated the schema again
    for it, each such request past the cache. The API has one version, v1 (its paths say it)."""
    refused = client.get("/api/schema/", {"format": "json", "version": version})
    assert refused.status_code == 400
    (error,) = refused.json()["errors"]
    assert error["field"] == "version" and "v1" in error["message"]
    assert generations == []


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["v1", "V1", ""])
def test_the_one_version_is_the_schema_served_to_everyone(client, generations, version):
    """`?version=v1` names the API's one version: the schema every caller gets, from the cache (no "(v1)" added)."""
    plain = client.get("/api/schema/?format=json")
    asked = client.get("/api/schema/", {"format": "json", "version": version})
    assert asked.status_code == 200 and asked.json()["info"]["version"] == "1.0.0"
    assert _served(asked) == _served(plain)
    assert len(generations) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "headers", "field"),
    [
        ({"version": "2"}, {}, "version"),
        ({"version": "2"}, {"HTTP_ACCEPT": "application/vnd.oai.openapi"}, "version"),
        ({"version": "2", "format": "json"}, {}, "version"),
        ({"format": "xml"}, {}, "format"),
    ],
)
def test_a_refused_schema_request_answers_in_the_apis_json(client, query, headers, field):
    """Before: without `?format=json` the 400 came as YAML under the OpenAPI type, which a client asking for the
    schema reads as a schema; every other error of the API is JSON."""
    refused = client.get("/api/schema/", query, **headers)
    assert refused.status_code == 400
    assert refused["Content-Type"] == "application/json"
    (error,) = json.loads(refused.content)["errors"]
    assert error["field"] == field
