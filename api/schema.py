from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from api.negotiation import answered_in, answers_not_acceptable
from api.serializers.outputs import ErrorsOut
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


def declare_empty_query_values(result, generator, request, public):
    """An optional query parameter sent empty is read as not given (DRF reads a blank optional field of a query
    string so, and the explore filters too, as a form's blank field sends it): say so with `allowEmptyValue`, so that
    the `minLength` or `pattern` a parameter keeps for a value it is given does not call the blank one invalid. The
    descriptions stay as written (the outputs list's are the explore filters' help, word for word)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter.get("in") == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
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


RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer", "minimum": 1}}
}
OVER_RATE = "Over the key's request rate (`API_THROTTLE_RATE`, {rate}): wait `Retry-After` seconds."
DATABASE_DOWN = (
    "The database is down, unreachable or too slow (README, When the database fails); answered by "
    "expertloop.middleware.DatabaseUnavailableMiddleware. Try again after `Retry-After` seconds."
)


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the answers that come from outside the views themselves, so that a client
    generated from the schema has a type for them: 406 from content negotiation (api/negotiation.py), 429 from the
    throttle (api/throttles.py) and 503 from the database middleware, each in the error shape the endpoint uses."""

    def get_tags(self) -> list[str]:
        """The operation's resource: the path segment after /api/v1/ (SPECTACULAR_SETTINGS' SCHEMA_PATH_PREFIX), or
        for a route under one project (/projects/<slug>/datasets/…) the segment after the project."""
        segments = self._tokenize_path()  # the path after the prefix, without its parameters (as the default reads)
        if segments[:1] == ["projects"] and len(segments) > 1:
            return segments[1:2]
        return super().get_tags()

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if not operation:
            return operation
        responses = operation["responses"]
        api_errors = {"application/json": {"schema": self.resolve_serializer(ErrorsOut, "response").ref}}
        # The shape of this endpoint's refusals, as its 401 declares it: this API's `{"errors": […]}`, or for OTLP
        # a google.rpc.Status in either encoding.
        errors = responses.get("401", {}).get("content") or api_errors
        if answers_not_acceptable(self.view):
            renderers = self.view.get_renderers()
            responses["406"] = {
                "content": api_errors,  # a 406 is always JSON: no renderer the caller accepts was found
                "description": f"The `Accept` header names no type this endpoint answers in, or refuses each with q=0: "
                f"{answered_in(renderers)}.",
            }
        if self.view.get_throttles():
            rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key"]
            responses["429"] = {"content": errors, "headers": RETRY_AFTER, "description": OVER_RATE.format(rate=rate)}
        outage = responses.setdefault("503", {"content": errors, "description": ""})
        outage["description"] = f"{outage['description']}\n\n{DATABASE_DOWN}".strip()
        outage["headers"] = RETRY_AFTER
        operation["responses"] = dict(sorted(responses.items()))
        return operation
