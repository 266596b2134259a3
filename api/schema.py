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


def add_request_components(result, generator, request, public):
    """Publish the ingest request bodies, generated from the same structs that validate them."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(request_schemas())
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
