from drf_spectacular.extensions import OpenApiAuthenticationExtension

from labeling.services.records import request_schemas


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Declare the project API key (api/authentication.py) as the schema's security scheme."""

    target_class = "api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A project API key: `Authorization: Bearer el_…` (see README, Get a key).",
        }


UNSTORABLE_URL = (
    "The URL path or a query parameter holds a NUL character or a lone surrogate (refused before the endpoint, "
    "by expertloop.middleware.RefuseUnstorableInputMiddleware); the message names it."
)


def declare_unstorable_url_refusal(result, generator, request, public):
    """Every API URL may be answered 400 by the middleware that refuses unstorable text in the path or query, before
    any view runs: an operation that declares no 400 of its own gets that one, so a client expects it everywhere."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if responses is not None and "400" not in responses:
                responses["400"] = {
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorsOut"}}},
                    "description": UNSTORABLE_URL,
                }
    return result


def add_request_components(result, generator, request, public):
    """Publish the ingest request bodies, generated from the same structs that validate them. Every request body
    of the API is required, which drf-spectacular cannot tell from a schema given as a dict: ingest answers an
    empty body with a 400 (`The body is empty; …`), the OTLP endpoint a request without a Content-Type with a 415."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(request_schemas())
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if body:
                body["required"] = True
    return result


class OperatorTokenScheme(OpenApiAuthenticationExtension):
    """Declare the operator token (api/authentication.py) as the platform endpoints' security scheme."""

    target_class = "api.authentication.OperatorTokenAuthentication"
    name = "operatorToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An operator token: `Authorization: Bearer elop_…` (issued on /platform/tokens/).",
        }
