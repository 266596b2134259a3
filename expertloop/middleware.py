"""Request input every view can rely on: nothing unstorable in the URL path or query.

PostgreSQL refuses NUL (U+0000) in text, and lone surrogates cannot be encoded to UTF-8, so either one
turns the first query or render that touches it into a 500. Django decodes paths and query strings
leniently (invalid UTF-8 becomes U+FFFD), so NUL is what reaches a view in practice; surrogates are
checked too, for any decoding that keeps them. The URL path and every query parameter are checked
here, once. Form bodies are not: forms re-show what was typed with the error beside its field
(Django's CharField refuses NUL), and services check the free text they store
(`labeling.services.text.check_storable`). JSON bodies are checked by their parsers.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from labeling.services.text import text_problem


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
    """A 400 naming the path or query parameter, before any view runs; JSON in the API's error shape under /api/."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        found = _first_problem(request)
        if found is None:
            return self.get_response(request)
        field, message = found
        if request.path_info.startswith("/api/"):
            return JsonResponse({"errors": [{"index": None, "field": field, "message": message}]}, status=400)
        return render(request, "labeling/error.html", {"message": message}, status=400)

