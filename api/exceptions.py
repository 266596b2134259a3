"""One place that turns errors into API responses: `{"errors": [{"index", "field", "message"}]}`."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from labeling.exceptions import BatchInvalid, DomainError


def _flatten(detail, field=None):
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _flatten(value, key if key != "non_field_errors" else field)
    elif isinstance(detail, list):
        for value in detail:
            yield from _flatten(value, field)
    else:
        yield {"index": None, "field": field, "message": str(detail)}


def exception_handler(exc, context):
    if isinstance(exc, BatchInvalid):
        return Response({"errors": [error.as_dict() for error in exc.errors]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DomainError):
        return Response({"errors": [{"index": None, "field": None, "message": exc.message}]}, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        response.data = {"errors": list(_flatten(detail))}
    return response
