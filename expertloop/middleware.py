"""Cross-cutting HTTP behaviour shared by the web pages and the API: a database that fails, pages not
stored by caches, and request input every view can rely on."""

import io
import json
import logging
from datetime import UTC

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone

from api.otlp_encoding import OTLP_PATH_PREFIX, media_type_of, status_body
from expertloop.errors import api_not_found
from labeling.rules.text import text_problem

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
UNAVAILABLE_MESSAGE = f"The database is not answering right now. Try again in {RETRY_AFTER_SECONDS} seconds."


def database_unavailable(exception: BaseException) -> bool:
    """Whether an error means the database is down, unreachable or too slow, rather than a bug.

    OperationalError covers a refused or timed-out connection, a connection lost mid-request and a
    statement cancelled by statement_timeout (PostgreSQL's QueryCanceled); InterfaceError a connection
    that was already closed.
    """
    return isinstance(exception, OperationalError | InterfaceError)


class DatabaseUnavailableMiddleware:
    """Answer 503 with Retry-After when the database fails, instead of a 500 (the one place that does)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not database_unavailable(exception):
            return None
        logger.error("Database unavailable for %s %s: %s", request.method, request.path, exception)
        if request.path.startswith(OTLP_PATH_PREFIX):
            # OpenTelemetry exporters read a google.rpc.Status, in the encoding they sent.
            body, content_type = status_body(503, UNAVAILABLE_MESSAGE, media_type_of(request.content_type))
            response = HttpResponse(body, status=503, content_type=content_type)
        elif request.path.startswith("/api/"):
            # The API's error shape (api/exceptions.py).
            body = {"errors": [{"index": None, "field": None, "message": UNAVAILABLE_MESSAGE}]}
            response = JsonResponse(body, status=503)
        else:
            # No request context: base.html reads request.user, which needs the database.
            page = render_to_string("labeling/unavailable.html", {"message": UNAVAILABLE_MESSAGE})
            response = HttpResponse(page, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


class NoStoreMiddleware:
    """Tell browsers and proxies to keep no copy of what the app answers, unless a view chose otherwise.

    Pages and API responses show AI outputs, labels and end users' data; a middleware covers every
    current and future one (a per-view decorator is easy to forget). Static files are answered by
    WhiteNoise before this middleware and keep their long cache lifetimes.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response


class ApiNotFoundMiddleware:
    """Under /api/, the API's JSON 404 with DEBUG on too. Django then answers a URL no route matches (or an Http404
    no DRF view caught) with its HTML debug page and never calls handler404 (expertloop.errors.not_found): an
    engineer trying the API on the demo saw HTML where production answers JSON. The web pages keep the debug page.
    Placed inside CommonMiddleware, which may still turn the 404 into its APPEND_SLASH redirect, as in production."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code == 404
            and request.path_info.startswith("/api/")
            and response.get("Content-Type", "").startswith("text/html")
        ):
            return api_not_found(request)
        return response


class ApiMomentsInUtcMiddleware:
    """Under /api/, the current time zone is UTC: DRF writes a datetime field in the current zone, which is the
    server's TIME_ZONE unless one is activated, so a server run in an operator's zone (its platform pages and logs
    read in it) wrote `-05:00` where the API promises UTC with `Z` (labeling.rules.moments). Streamed bodies write
    their moments with rules.moments.utc_moment, which needs no active zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith("/api/"):
            return self.get_response(request)
        with timezone.override(UTC):
            return self.get_response(request)


# Request input every view can rely on: nothing unstorable in URLs and forms, chunked bodies with a length.
#
# PostgreSQL refuses NUL (U+0000) in text, and lone surrogates cannot be encoded to UTF-8, so either one
# turns the first query or render that touches it into a 500. Django decodes paths and query strings
# leniently (invalid UTF-8 becomes U+FFFD), so NUL is what reaches a view in practice; surrogates are
# checked too, for any decoding that keeps them. The URL path and every query parameter are checked
# here, once. Form bodies are not: forms re-show what was typed with the error beside its field
# (Django's CharField refuses NUL), and services check the free text they store
# (`labeling.rules.text.check_storable`). JSON bodies are checked by their parsers.


def _first_problem(request: HttpRequest) -> tuple[str, str] | None:
    problem = text_problem(request.path_info)
    if problem:
        return "path", f"The URL path {problem}."
    for name, values in request.GET.lists():
        problem = text_problem(name) or next(filter(None, map(text_problem, values)), None)
        if problem:
            shown = name.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\u0000")
            return shown, f"The query parameter “{shown}” {problem}."
    return None


class RefuseUnstorableInputMiddleware:
    """A 400 naming the path or query parameter, before any view runs; JSON in the API's error shape under /api/
    (a google.rpc.Status under the OpenTelemetry endpoint)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        found = _first_problem(request)
        if found is None:
            return self.get_response(request)
        field, message = found
        if request.path_info.startswith(OTLP_PATH_PREFIX):
            body, content_type = status_body(400, message, media_type_of(request.content_type))
            return HttpResponse(body, status=400, content_type=content_type)
        if request.path_info.startswith("/api/"):
            return JsonResponse({"errors": [{"index": None, "field": field, "message": message}]}, status=400)
        return render(request, "labeling/error.html", {"message": message}, status=400)


class ChunkedBodyMiddleware:
    """WSGI: give a `Transfer-Encoding: chunked` body its length, or answer 413 past INGEST_MAX_BODY_BYTES
    (OTLP_MAX_BODY_BYTES for the OpenTelemetry endpoint, whose exports may be larger).

    gunicorn passes a chunked body without CONTENT_LENGTH; Django then reads it as empty (its stream is
    limited to the declared length, 0) and so does DRF, which skips parsing a body of length 0. Reading it
    here, bounded, lets every view and parser see the body as if its length had been sent.
    """

    READ_SIZE = 64 * 1024

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            otlp = environ.get("PATH_INFO", "").startswith(OTLP_PATH_PREFIX)
            limit = settings.OTLP_MAX_BODY_BYTES if otlp else settings.INGEST_MAX_BODY_BYTES
            body = self._read(environ["wsgi.input"], limit + 1)
            if len(body) > limit:
                return self._too_large(environ, start_response, limit)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)

    def _read(self, stream, most: int) -> bytes:
        parts, size = [], 0
        while size < most:
            part = stream.read(min(self.READ_SIZE, most - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
        return b"".join(parts)

    @staticmethod
    def _too_large(environ, start_response, limit: int):
        message = f"The body is over the limit of {limit} bytes."
        path = environ.get("PATH_INFO", "")
        if path.startswith(OTLP_PATH_PREFIX):
            body, content_type = status_body(413, message, media_type_of(environ.get("CONTENT_TYPE")))
        elif path.startswith("/api/"):
            body = json.dumps({"errors": [{"index": None, "field": None, "message": message}]}).encode()
            content_type = "application/json"
        else:
            body, content_type = message.encode(), "text/plain; charset=utf-8"
        start_response("413 Content Too Large", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]
