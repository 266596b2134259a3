"""Map domain errors raised by services to web responses, in one place (STYLE.md rule 6)."""

from django.http import Http404
from django.shortcuts import render

from labeling.exceptions import DomainError, NotFound


class DomainErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if request.path.startswith("/api/"):
            return None  # DRF's handler (api/exceptions.py) answers API requests
        if isinstance(exception, NotFound):
            raise Http404(exception.message)
        if isinstance(exception, DomainError):
            return render(request, "labeling/error.html", {"message": exception.message}, status=exception.status_code)
        return None
