"""Content negotiation for the API: DRF's, except that an unknown `?format=` is a 400 naming `format`."""

from django.http import Http404
from rest_framework.exceptions import NotAcceptable, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation


class UnknownFormat(ValidationError):
    """A `?format=` none of the view's renderers has: a 400 naming `format` and the formats it takes."""

    def __init__(self, renderers):
        # Once each: the schema view has two renderers per format.
        formats = " or ".join(f"`{name}`" for name in dict.fromkeys(renderer.format for renderer in renderers))
        super().__init__({"format": f"Unknown format: use {formats}."})


class FormatNegotiation(DefaultContentNegotiation):
    """DRF reads `?format=` on every view (URL_FORMAT_OVERRIDE) and answers one no renderer has with a bare 404,
    which reads as "no such output" and refuses an ingest without saying why. Here it is a 400 naming it, as any
    unknown parameter value is; but only once the view's authentication and permissions have passed: DRF negotiates
    before them, and a caller with no key or a wrong one must hear 401 (a key without the scope 403), not fix the
    format first and only then learn of its key. The same holds for the 406 of an Accept header no renderer meets.

    Views whose own `format` parameter names a file (the downloads) negotiate with force=True, which ignores this.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except Http404:
            self.check_credentials_first(request)
            raise UnknownFormat(renderers) from None
        except NotAcceptable:  # an Accept header none of the renderers meets: a 406, after the same checks
            self.check_credentials_first(request)
            raise NotAcceptable(
                f"The Accept header names no type this endpoint answers in: {answered_in(renderers)}."
            ) from None

    @staticmethod
    def check_credentials_first(request) -> None:
        """What APIView.initial does after negotiating, brought forward: its 401 or 403 wins."""
        view = request.parser_context.get("view") if request.parser_context else None
        if view is not None:
            view.perform_authentication(request)
            view.check_permissions(request)


def answered_in(renderers) -> str:
    """The media types of the renderers, once each, for a message: `application/json` or `text/markdown`."""
    return " or ".join(f"`{media_type}`" for media_type in dict.fromkeys(renderer.media_type for renderer in renderers))


class NamesItsOwnFile:
    """A view whose `format` parameter names the file it sends (the downloads): DRF's renderers do not choose, so
    neither `?format=` nor `Accept` is negotiated (no 400 for the one, no 406 for the other); errors are still JSON."""

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)


def answers_not_acceptable(view) -> bool:
    """Whether the view answers 406 to an Accept header none of its renderers meets (the schema declares it)."""
    return isinstance(view.get_content_negotiator(), FormatNegotiation) and not isinstance(view, NamesItsOwnFile)
