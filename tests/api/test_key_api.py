"""`GET /api/v1/key`: any valid key learns its project and what it may do (the Python client finds its project so)."""

import pytest
from drf_spectacular.validation import validate_schema

from labeling.services.api_keys import create_api_key, revoke_api_key
from tests.conftest import Api

URL = "/api/v1/key"


@pytest.mark.parametrize("scopes", [["ingest"], ["read"], ["privacy"], ["ingest", "read"]])
def test_any_valid_key_reads_its_project_name_prefix_and_scopes(client, project, scopes):
    issued = create_api_key(project=project, name="support-bot prod", scopes=scopes)

    response = Api(client, issued.secret).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert sorted(body.pop("scopes")) == sorted(scopes)
    assert body == {
        "project": "support-bot",
        "project_name": "Support bot",
        "name": "support-bot prod",
        "prefix": issued.api_key.prefix,
    }


def test_each_key_answers_for_its_own_project(client, full_key, other_project_key):
    assert Api(client, full_key.secret).get(URL).json()["project"] == "support-bot"
    assert Api(client, other_project_key.secret).get(URL).json()["project"] == "sql-assistant"


def test_no_key_an_unknown_key_or_a_revoked_key_is_a_401(client, full_key, engineer):
    assert client.get(URL).status_code == 401
    assert Api(client, "el_nothing_here").get(URL).status_code == 401
    client.force_login(engineer)
    assert client.get(URL).status_code == 401  # a session is no key
    client.logout()
    revoke_api_key(api_key=full_key.api_key)
    response = Api(client, full_key.secret).get(URL)
    assert response.status_code == 401 and response.json()["errors"][0]["message"] == "This API key has been revoked."


def test_the_openapi_schema_documents_the_endpoint(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    validate_schema(schema)

    operation = schema["paths"][URL]["get"]
    assert operation["operationId"] == "get_current_key"
    # 400: a NUL in the URL; 406, 429 and 503: an Accept it cannot meet, the throttle, the database down; as on
    # every endpoint.
    assert set(operation["responses"]) == {"200", "400", "401", "406", "429", "503"}
    assert set(schema["components"]["schemas"]["KeyOut"]["properties"]) == {
        "project", "project_name", "name", "prefix", "scopes",
    }  # fmt: skip
