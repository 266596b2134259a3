"""Cross-cutting HTTP behaviour shared by the web pages and the API."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string

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
        if request.path.startswith("/api/"):
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
