"""The OpenAPI schema declares how to authenticate: the project API key as a bearer token; on the platform
endpoints (operators only), the operator token."""

from drf_spectacular.validation import validate_schema


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
