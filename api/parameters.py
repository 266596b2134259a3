"""The rule for query parameters, on every API endpoint: one the endpoint does not take is a 400 naming it and listing
those it takes, so a typo (`?splt=test`, `?fulll=true`) never passes as the default and widens what is answered or
done.

What an endpoint takes is what its OpenAPI schema declares for the operation: the query parameters and query
serializers of its `@extend_schema(parameters=…)`, a list view's pagination, and DRF's `format` (api.negotiation)
unless the schema excludes it. One declaration, so an endpoint cannot take a parameter its documentation omits.
"""

from collections.abc import Iterable, Mapping

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.mixins import ListModelMixin

from labeling.rules.ids import is_whole_number, whole_number_up_to
from labeling.rules.query_booleans import not_a_query_boolean, read_query_boolean

# DRF's own `?format=`, which every endpoint negotiated by api.negotiation takes; not listed in the refusal, as the
# schema lists it only where it does more than name JSON.
FORMAT_PARAMETER = "format"

# What a larger page size is read as: above every endpoint's largest page, so lowered or refused as that endpoint
# documents, without reading thousands of digits.
PAGE_SIZE_CEILING = 10**9


class QueryBooleanField(serializers.BooleanField):
    """A yes/no query parameter, read by the one rule of `labeling.rules.query_booleans` (DRF's own takes `on`, `t`,
    `y` and others the explore filters refuse)."""

    def to_internal_value(self, data):
        if isinstance(data, bool):  # DRF hands an absent parameter over as False
            return data
        answer = read_query_boolean(data) if isinstance(data, str) else None
        if answer is None:
            raise serializers.ValidationError(not_a_query_boolean(str(data)))
        return answer


class WholeNumberField(serializers.IntegerField):
    """DRF's IntegerField for a query parameter, taking only what `is_whole_number` takes (refused with the field's
    "invalid" message)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not is_whole_number(data):
            self.fail("invalid")
        return super().to_internal_value(data)


def page_size_asked(value: str | None, *, default: int) -> int | None:
    """The page size a `?page_size=` asks for, by the one rule of every paged endpoint: `default` when absent or
    empty, None (each endpoint words its refusal) when not a whole number of 1 or more in ASCII digits (`ten`, `0`,
    `-5`, `+5`, `1.5`, `١٠`). The largest page is each endpoint's to apply; any size above `PAGE_SIZE_CEILING` (a
    run of 5,000 digits) is read as that ceiling."""
    if value is None or value == "":
        return default
    if not is_whole_number(value):
        return None
    size = whole_number_up_to(value, PAGE_SIZE_CEILING)
    return size if size >= 1 else None


def choice_parameter(choices: Iterable[str], noun: str, **kwargs) -> serializers.ChoiceField:
    """A parameter taking one of `choices`, whose refusal lists them (`"x" is not a segment. The segments: all, …`),
    not DRF's bare "not a valid choice", so a guess finds the right name."""
    choices = list(choices)
    listed = f'"{{input}}" is not a {noun}. The {noun}s: {", ".join(choices)}.'
    return serializers.ChoiceField(choices=choices, error_messages={"invalid_choice": listed}, **kwargs)


def refuse_unknown_parameters(
    params: Iterable[str], known: Iterable[str], *, takes_format: bool = True, reasons: Mapping[str, str] | None = None
) -> None:
    """Raise a ValidationError naming each parameter outside `known` (and `format`), listing the known ones; a name
    in `reasons` (another endpoint's parameter, meaningless here) is refused with its reason."""
    known, reasons = list(known), reasons or {}
    accepted = {*known, FORMAT_PARAMETER} if takes_format else set(known)
    unknown = [name for name in params if name not in accepted]
    if unknown:
        named = ", ".join(f"`{name}`" for name in known)
        usage = f"use {named}." if known else "this endpoint takes none."
        raise serializers.ValidationError(
            {
                name: f"{reasons[name]} Use {named}." if name in reasons else f"Unknown parameter: {usage}"
                for name in unknown
            }
        )


def declared_parameters(view, method: str) -> tuple[list[str], bool]:
    """The query parameters the schema declares for the view's `method`, and whether it takes `format`."""
    handler = getattr(view, method.lower())
    names: list[str] = []
    excluded: set[str] = set()
    # Where drf-spectacular keeps a handler's @extend_schema (its SchemaGenerator.create_view reads it the same way).
    schema_class = getattr(handler, "kwargs", {}).get("schema")
    if schema_class is not None:
        schema = schema_class()
        schema.view, schema.method = view, method
        for parameter in schema.get_override_parameters():
            if not isinstance(parameter, OpenApiParameter):  # a query serializer: each field is a parameter
                names += list(parameter().fields if isinstance(parameter, type) else parameter.fields)
            elif parameter.location == OpenApiParameter.QUERY:
                (excluded.add if parameter.exclude else names.append)(parameter.name)
    if method in ("GET", "HEAD") and isinstance(view, ListModelMixin) and view.paginator is not None:
        names += [parameter["name"] for parameter in view.paginator.get_schema_operation_parameters(view)]
    return [name for name in names if name not in excluded], FORMAT_PARAMETER not in excluded


# Mixed into every API view: a query parameter the endpoint does not take is a 400, after authentication,
# permissions and throttling (no key is a 401, a key without the scope a 403, whatever the query says) and the view's
# `check_access` (a project hidden from the caller is a 404), before the handler does anything (a write writes
# nothing). A comment, not a docstring: drf-spectacular would describe a view without a docstring of its own by it.
class KnownParametersOnly:
    # Parameters of a sibling endpoint that mean nothing on this one, refused with a reason of their own.
    parameter_reasons: Mapping[str, str] = {}

    def check_access(self) -> None:
        """Raise NotFound if the caller may not see what the URL (or `?project=`) names; a view that hides it so."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        method = request.method.lower()
        # OPTIONS describes the endpoint and reads no parameter; a method the view lacks is DRF's 405, which says why.
        if method != "options" and method in self.http_method_names and hasattr(self, method):
            self.check_access()
            known, takes_format = declared_parameters(self, request.method)
            refuse_unknown_parameters(
                request.query_params, known, takes_format=takes_format, reasons=self.parameter_reasons
            )
