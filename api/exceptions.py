"""One place that turns errors into API responses: `{"errors": [{"index", "field", "message"}]}`."""

from django.conf import settings
from django.contrib.auth import get_user
from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.exceptions import ErrorDetail, NotAuthenticated, Throttled, UnsupportedMediaType
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from api.parsers import PayloadTooLarge
from labeling.exceptions import BatchInvalid, DomainError, InvalidFilter, InvalidSpec, TooManyRequests


def _flatten(detail, field=None):
    """Each problem with the field it is about: a nested serializer's field by its dotted path (`filters.models`),
    as the parsers name a duplicated key's, so a client can tell which `models` is meant."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            # A list field's errors are keyed by the item's position: they are the list field's.
            named = isinstance(key, str) and key != "non_field_errors"
            yield from _flatten(value, (f"{field}.{key}" if field else key) if named else field)
    elif isinstance(detail, list):
        for value in detail:
            yield from _flatten(value, field)
    else:
        yield {"index": None, "field": field, "message": str(detail)}


def _printable(error: dict) -> dict:
    """The error with lone surrogates (from a hostile key or value) escaped, so the 400 itself can be encoded."""
    return {
        name: value.encode("utf-8", "backslashreplace").decode() if isinstance(value, str) else value
        for name, value in error.items()
    }


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        # Django refuses a body over its cap as DRF's JSON parser reads it; DRF leaves that to Django's HTML 400.
        exc = PayloadTooLarge(f"The body is over the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
    if isinstance(exc, BatchInvalid):
        errors = [error.as_dict() for error in exc.errors]
        return Response({"errors": list(map(_printable, errors))}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, InvalidFilter):
        errors = [{"index": None, "field": name, "message": message} for name, message in exc.problems.items()]
        return Response({"errors": list(map(_printable, errors))}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, InvalidSpec) and exc.fields:
        errors = [
            {"index": None, "field": name, "message": problem}
            for name, problem in zip(exc.fields, exc.problems, strict=True)
        ]
        return Response({"errors": list(map(_printable, errors))}, status=exc.api_status_code)
    if isinstance(exc, DomainError):
        error = {"index": None, "field": exc.field, "message": exc.message}
        return Response({"errors": [_printable(error)]}, status=exc.api_status_code, headers=retry_after(exc))
    if isinstance(exc, UnsupportedMediaType) and str(exc.detail).startswith("Unsupported media type"):
        exc = _with_the_types_taken(exc, context)
    if isinstance(exc, NotAuthenticated):
        exc = saying_what_to_send(exc, context)
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        response.data = {"errors": [_printable(error) for error in _flatten(detail)]}
    return response


def retry_after(exc) -> dict[str, str]:
    """The Retry-After header of a 429, a domain limit's as the throttle's: whole seconds, at least 1 (a 0 reads as
    "at once"). None for other errors. (DRF's own handler sets the throttle's on the REST views; OTLP's uses this.)"""
    if isinstance(exc, TooManyRequests):
        wait = exc.retry_after
    elif isinstance(exc, Throttled) and exc.wait is not None:
        wait = exc.wait
    else:
        return {}
    return {"Retry-After": str(max(1, int(wait)))}


def _with_the_types_taken(exc: UnsupportedMediaType, context) -> UnsupportedMediaType:
    """DRF's 415 names the Content-Type sent, not the one to send: `curl -d` without `-H` sends a form. Name the types
    the endpoint reads."""
    view = context.get("view")
    types = [parser.media_type for parser in view.get_parsers()] if view is not None else []
    if not types:
        return exc
    header = f"`Content-Type: {'` or `'.join(dict.fromkeys(types))}`"
    sent = context["request"].META.get("CONTENT_TYPE", "") if context.get("request") is not None else None
    if sent == "":  # DRF's message then quotes an empty type
        return UnsupportedMediaType("", detail=f"The request has no Content-Type header: send the body with {header}.")
    if sent is not None and sent.split(";")[0].strip().lower() == "text/plain":
        # `make demo`'s development server (wsgiref) hands a request without a Content-Type over as text/plain.
        return UnsupportedMediaType(
            "",
            detail="The body was sent as text/plain, or with no Content-Type (which the development server reads "
            f"as text/plain): send the body with {header}.",
        )
    return UnsupportedMediaType("", detail=f"{exc.detail} Send the body with {header}.")


def saying_what_to_send(exc: NotAuthenticated, context) -> NotAuthenticated:
    """DRF's 401 for a request without credentials says none were provided, not which to send: an authentication
    class that knows (`no_credentials`) says it instead. A signed-in browser did send something, a session, which this
    endpoint does not take: the view or the authentication class says so (`session_refused`)."""
    request = context.get("request")
    # DRF has set the request's user to its own verdict (anonymous) by now: the session is read again, on a 401 only.
    session = request is not None and get_user(request._request).is_authenticated
    if session and (message := getattr(context.get("view"), "session_refused", None)):
        exc.detail = ErrorDetail(message, code=exc.default_code)
        return exc
    for authenticator in getattr(request, "authenticators", None) or ():
        if session and (message := getattr(authenticator, "session_refused", None)):
            exc.detail = ErrorDetail(message, code=exc.default_code)
            break
        if message := getattr(authenticator, "no_credentials", None):
            exc.detail = ErrorDetail(message, code=exc.default_code)  # kept: its WWW-Authenticate header
            break
    return exc
