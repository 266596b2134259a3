"""Map domain errors raised by services to web responses, in one place (STYLE.md rule 6)."""

from django.http import Http404
from django.middleware.csrf import REASON_NO_CSRF_COOKIE
from django.shortcuts import render

from labeling.exceptions import DomainError, NotForYourRole, NotFound


class DomainErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if request.path.startswith("/api/"):
            return None  # DRF's handler (api/exceptions.py) answers API requests
        if isinstance(exception, NotForYourRole):
            return render(request, "404.html", {"reason": exception.message}, status=404)
        if isinstance(exception, NotFound):
            raise Http404(exception.message)
        if isinstance(exception, DomainError):
            return render(request, "labeling/error.html", {"message": exception.message}, status=exception.status_code)
        return None


# Set on the answer to a form whose CSRF token a sign-in or sign-out since has renewed: label.js keeps its screen.
STALE_FORM_HEADER = "X-Form-Stale"


def csrf_failure(request, reason=""):
    """Answer a form the CSRF check refused. A token that no longer matches is a page opened before a sign-in or
    sign-out in another tab (label.js keeps its answers); anything else (no cookie, another origin) says so."""
    stale = reason.startswith("CSRF token from") and reason.endswith("incorrect.")
    if stale:
        message = (
            "This page was out of date (you signed in or out in another tab since it was opened), so nothing was "
            "saved. Go back, reload the page and send it again."
        )
    elif reason == REASON_NO_CSRF_COOKIE:
        message = "Your browser sent no cookie with this form, so nothing was saved: allow cookies for this site."
    else:
        message = "This form could not be checked as sent from this site, so nothing was saved: reload the page."
    response = render(request, "labeling/error.html", {"message": message}, status=403)
    if stale:
        response[STALE_FORM_HEADER] = "1"
    return response
