"""Django's error handlers (expertloop/urls.py): under /api/, in the API's JSON error shape (api/exceptions.py)."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A URL no route matches. The API's views answer their own 404s; this one is a path that names no endpoint,
    such as a project slug with characters a slug cannot hold, which an API client must get as JSON too."""
    if request.path_info.startswith("/api/"):
        message = "No API endpoint has this URL: see /api/schema/ for the paths, and what a slug or id may hold."
        return JsonResponse({"errors": [{"index": None, "field": None, "message": message}]}, status=404)
    return page_not_found(request, exception)
