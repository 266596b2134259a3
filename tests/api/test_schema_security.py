"""The OpenAPI schema declares how to authenticate: the project API key as a bearer token; on the platform
endpoints (operators only), the operator token."""

import pytest
from django.contrib.auth.models import Permission
from drf_spectacular.validation import validate_schema

from labeling.services.api_keys import create_api_key, revoke_api_key
from labeling.services.operator_tokens import issue_operator_token
from tests.factories import UserFactory


def test_the_api_key_is_the_schemas_security_scheme_on_every_endpoint(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    validate_schema(schema)

    scheme = schema["components"]["securitySchemes"]["apiKey"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    operations = [op for path, item in schema["paths"].items() if path.startswith("/api/v1/") for op in item.values()]
    platform = [
        op for path, item in schema["paths"].items() if path.startswith("/api/v1/platform/") for op in item.values()
    ]
    assert len(operations) >= 15 and platform
    assert all({"apiKey": []} in operation["security"] for operation in operations if operation not in platform)
    assert schema["components"]["securitySchemes"]["operatorToken"]["scheme"] == "bearer"
    assert all({"operatorToken": []} in operation["security"] for operation in platform)
    assert not any({"apiKey": []} in operation["security"] for operation in platform)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/api/docs/?script="])
@pytest.mark.parametrize(
    "authorization",
    ["unknown key", "operator token", "revoked key", "project key", "Bearer", "Bearer a b", "Basic dXNlcjpwdw=="],
)
def test_the_schema_and_its_docs_are_public_whatever_authorization_header_is_sent(client, project, path, authorization):
    """A client (or Swagger UI) that sends its bearer token everywhere still reads the schema: no key is checked."""
    key = create_api_key(project=project, name="app", scopes=["read"])
    headers = {"unknown key": "Bearer el_notakey_0000000000000000", "project key": f"Bearer {key.secret}"}
    if authorization == "revoked key":
        revoke_api_key(api_key=key.api_key)
        headers["revoked key"] = f"Bearer {key.secret}"
    if authorization == "operator token":
        operator = UserFactory()
        operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
        headers["operator token"] = f"Bearer {issue_operator_token(user=operator, name='script').secret}"
    response = client.get(path, HTTP_AUTHORIZATION=headers.get(authorization, authorization))

    assert response.status_code == 200, response.content[:300]
