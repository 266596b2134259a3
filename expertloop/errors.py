"""Django's error handlers (expertloop/urls.py): under /api/, in the API's JSON error shape (api/exceptions.py)."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve, reverse
from django.views.defaults import page_not_found


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A URL no route matches. The API's views answer their own 404s; this one is a path that names no endpoint,
    such as a project slug with characters a slug cannot hold, which an API client must get as JSON too."""
    if request.path_info.startswith("/api/"):
        return api_not_found(request)
    return page_not_found(request, exception)


def api_not_found(request: HttpRequest) -> JsonResponse:
    """The API's JSON 404 for a path that names no endpoint, naming the endpoint one slash away if there is one.
    Also answered with DEBUG on (expertloop.middleware.ApiNotFoundMiddleware), when Django skips handler404."""
    # Both: the docs page for a person who typed the URL, the schema for a client's code.
    message = (
        f"No API endpoint has this URL: see {reverse('api:docs')} for the documentation, or {reverse('api:schema')} "
        "(OpenAPI) for the paths, and what a slug or id may hold."
    )
    if meant := _other_slash(request.path_info):
        message += f" Did you mean {meant}?"
    return JsonResponse({"errors": [{"index": None, "field": None, "message": message}]}, status=404)


def _other_slash(path: str) -> str | None:
    """The path with its trailing slash dropped (or one added) when that is an endpoint: `POST /api/v1/outputs/`
    is a slip clients make, and a bare 404 does not say which."""
    other = path.removesuffix("/") if path.endswith("/") else f"{path}/"
    try:
        resolve(other)
    except Resolver404:
        return None
    return other
