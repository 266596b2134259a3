"""Content negotiation for the API: DRF's, except that an unknown `?format=` is a 400 naming `format`, and that
Accept is read as RFC 9110 says (its q values count; an empty one asks for anything)."""

from dataclasses import dataclass

from django.http import Http404
from django.utils.http import parse_header_parameters
from rest_framework.exceptions import NotAcceptable, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer


@dataclass(frozen=True, eq=False)
class MediaRange:
    """A renderer's media type or a range of an Accept header (`text/*;q=0.5`), read as DRF reads them (its reader,
    `_MediaType`, is private): the type, lower case, and the parameters, their names lower case."""

    orig: str
    main_type: str
    sub_type: str
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> "MediaRange":
        try:
            full_type, params = parse_header_parameters(text)
        except ValueError:  # over Django's header length, or an unknown RFC 2231 charset: a range matching nothing
            full_type, params = "", {}
        main_type, _, sub_type = full_type.partition("/")
        return cls(orig=text, main_type=main_type, sub_type=sub_type, params=params)

    def match(self, accepted: "MediaRange") -> bool:
        """Whether this type is in the range `accepted`: type and subtype alike or `*` on either side, and each of
        this type's parameters but q given alike by the range (the range's other parameters do not count)."""
        return (
            all(name == "q" or accepted.params.get(name) == value for name, value in self.params.items())
            and _alike(self.sub_type, accepted.sub_type)
            and _alike(self.main_type, accepted.main_type)
        )

    @property
    def precedence(self) -> int:
        """How specific it is: 0 for `*/*`, 1 for `type/*`, 2 for `type/subtype`, 3 with parameters besides q."""
        if self.main_type == "*":
            return 0
        if self.sub_type == "*":
            return 1
        return 2 if set(self.params) <= {"q"} else 3


def _alike(one: str, other: str) -> bool:
    return one == other or "*" in (one, other)


ANYTHING = MediaRange.parse("*/*")


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
            return self.by_quality(request, renderers, format_suffix)
        except Http404:
            self.check_credentials_first(request)
            raise UnknownFormat(renderers) from None
        except NotAcceptable:  # an Accept header none of the renderers meets: a 406, after the same checks
            self.check_credentials_first(request)
            raise NotAcceptable(
                "The Accept header names no type this endpoint answers in, or refuses each with q=0: "
                f"{answered_in(renderers)}."
            ) from None

    def by_quality(self, request, renderers, format_suffix=None):
        """DRF's choice, with the Accept header's q values heeded (DRF ranks ranges only by how specific they are,
        so `application/json;q=0, text/markdown` got JSON): each renderer's quality is that of the most specific
        range naming its type (RFC 9110 12.5.1), q=0 is "not acceptable", and at equal quality the more specific
        range, then the view's first renderer, wins, as before. An Accept with no type in it (`Accept: `, sent by
        some clients) asks for anything, as an absent one does, rather than for nothing (a 406)."""
        format = format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        if format:
            renderers = self.filter_renderers(renderers, format)
        accepts = [MediaRange.parse(token) for token in self.get_accept_list(request)] or [ANYTHING]
        best, best_rank = None, None
        for position, renderer in enumerate(renderers):
            offered = MediaRange.parse(renderer.media_type)
            ranges = [accept for accept in accepts if offered.match(accept)]
            if not ranges:
                continue
            accept = max(ranges, key=lambda media_type: media_type.precedence)  # the first of the most specific
            rank = (quality(accept), accept.precedence, -position)
            if rank[0] > 0 and (best_rank is None or rank > best_rank):
                best, best_rank = (renderer, offered, accept), rank
        if best is None:
            raise NotAcceptable(available_renderers=renderers)
        renderer, offered, accept = best
        if offered.precedence > accept.precedence:  # `*/*` or `text/*`: the renderer's type, with the range's params
            params = "".join(f";{key}={value}" for key, value in accept.params.items() if key != "q")
            return renderer, renderer.media_type + params
        return renderer, accept.orig

    @staticmethod
    def check_credentials_first(request) -> None:
        """What APIView.initial does after negotiating, brought forward: its 401 or 403 wins."""
        view = request.parser_context.get("view") if request.parser_context else None
        if view is not None:
            view.perform_authentication(request)
            view.check_permissions(request)


def quality(media_type: MediaRange) -> float:
    """A range's q value; one that is not a number from 0 to 1 counts as absent (1), as DRF read every q before."""
    try:
        value = float(media_type.params.get("q", "1"))
    except ValueError:
        return 1.0
    return value if 0 <= value <= 1 else 1.0


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


class ErrorsAsJson:
    """A view mixin for endpoints whose success is not JSON (Markdown, the OpenAPI schema): their errors are still the
    API's JSON, as every endpoint answers one, not written by the renderer the request asked for."""

    def handle_exception(self, exc):
        renderer = JSONRenderer()
        self.request.accepted_renderer, self.request.accepted_media_type = renderer, renderer.media_type
        return super().handle_exception(exc)
