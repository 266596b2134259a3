"""Outputs for engineers: the filtered list and its facets (selectors.explore), and one output by external id."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import RetrieveAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import ApiKeyAuthentication
from api.parameters import KnownParametersOnly
from api.path_ids import slash_slip
from api.permissions import CanRead
from api.serializers.explore import FacetsOut, OutputPageOut
from api.serializers.outputs import ErrorsOut, OutputDetailOut
from api.views.ingest import OutputsIngestView
from labeling.rules.explore import FEEDBACK, MAX_CHARS, PARAMETERS, SORTS, YES_NO, filter_query, parse_filter
from labeling.rules.text import noun
from labeling.selectors import outputs_of_project
from labeling.selectors.explore import MAX_PAGE_SIZE, PAGE_SIZE, result_page, summary
from labeling.selectors.labels import INCLUDES, output_items
from labeling.selectors.rubrics import lazy_verdict_key

LIST_ENDPOINT = "api:outputs"  # the salt of the list's cursors: the explore page's do not work here
_REPEATED = {"model", "tag", "meta", "has_meta", "event", "feedback", "gold", "queue"}
_CHOICES = {
    "tags": ["any", "all"],
    "feedback": list(FEEDBACK),
    **dict.fromkeys(("comment", "labeled", "disagree", "flagged", "has_event"), list(YES_NO)),
    "sort": list(SORTS),
}
# As labeling.rules.explore reads them: a day of the years 2000 to 2100, a length of 0 to MAX_CHARS characters.
_DAY = {"type": "string", "format": "date", "pattern": r"^(20\d\d|2100)-\d\d-\d\d$"}
_LENGTH = {"type": "integer", "minimum": 0, "maximum": MAX_CHARS}
_TYPES = {"from": _DAY, "to": _DAY, "min_chars": _LENGTH, "max_chars": _LENGTH}
FILTER_PARAMETERS = [
    OpenApiParameter(
        name, _TYPES.get(name, OpenApiTypes.STR), description=help_text, enum=_CHOICES.get(name), many=name in _REPEATED
    )
    for name, help_text in PARAMETERS.items()
]
_FILTER = (
    "Every given filter must hold; a repeated parameter offers alternatives unless its help says otherwise. "
    "An unknown parameter or a bad value is a 400 naming the parameter (a typo never widens the result); so is "
    "a `queue` or `gold` question the project does not have, `disagree` in a project without a pass/fail question, "
    "and a search made only of words too common to index. "
    "A value is read without the spaces at its ends (and around a `meta` pair's colon); in double quotes it is "
    'exactly what they hold: `tag=" vip"` finds the tag " vip", as a facet\'s `filter` writes it.'
)
_ERRORS = {
    400: OpenApiResponse(ErrorsOut, description="A bad parameter; `field` names it."),
    401: OpenApiResponse(ErrorsOut, description="No key, an unknown key or a revoked key."),
    403: OpenApiResponse(ErrorsOut, description="The key lacks the `read` scope."),
}


class OutputsView(OutputsIngestView):
    """`/api/v1/outputs`: GET lists the key's outputs (`read` scope), POST sends outputs (`ingest` scope)."""

    def get_permissions(self):
        if self.request.method in ("GET", "HEAD"):
            return [CanRead()]
        return super().get_permissions()

    @extend_schema(
        operation_id="list_outputs",
        summary="Find outputs: search, filter, sort (newest first by default), cursor-paged",
        description=f"The filters of the explore page, on the key's project. {_FILTER}",
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter(
                "cursor",
                OpenApiTypes.STR,
                description="From `next`: pass the link back as given. A cursor this endpoint did not hand out for "
                "this project and filter (made up, altered, from another endpoint, or with other filters) is a 400.",
            ),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},  # as _page_size reads it
                description=f"Outputs per page, 1 to {MAX_PAGE_SIZE} (default {PAGE_SIZE}).",
            ),
        ],
        responses={200: OutputPageOut, **_ERRORS},
    )
    def get(self, request):
        spec = parse_filter(
            request.query_params, ignore=("cursor", "page_size"), verdict_key=lazy_verdict_key(request.auth.project)
        )
        size = _page_size(request.query_params.get("page_size"))
        page = result_page(
            request.auth.project,
            spec,
            cursor=request.query_params.get("cursor"),
            cursor_endpoint=LIST_ENDPOINT,
            limit=size,
            with_pieces=False,
        )
        following = None
        if page.next_cursor:
            query = filter_query(spec, page_size=request.query_params.get("page_size", ""), cursor=page.next_cursor)
            following = request.build_absolute_uri(f"{request.path}?{query}")
        out = {"results": [row.output for row in page.rows], "next": following}
        return Response(OutputPageOut({**out, "total": page.total.value, "total_estimated": page.total.estimated}).data)


def _page_size(value: str | None) -> int:
    if value is None or value == "":
        return PAGE_SIZE
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_PAGE_SIZE:
        raise ValidationError({"page_size": f"Use a whole number from 1 to {MAX_PAGE_SIZE}."})
    return int(value)


class OutputFacetsView(KnownParametersOnly, APIView):
    """Counts and histograms of the key's outputs that a filter finds (routed before the detail path)."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [CanRead]

    @extend_schema(
        operation_id="get_output_facets",
        summary="Facets and histograms of the outputs a filter finds",
        description=(
            "Counts per model, tag, feedback score, gold verdict and the top values of the most used metadata "
            "keys; the output length histogram and one per numeric metadata key (five values or more). Counted "
            "over every match up to 10,000; with more, over the first 10,000 in the `sort` order (`sample`; the "
            "newest by default), as they are: not scaled to `total`. `total_estimated` says whether `total` is "
            "PostgreSQL's estimate (`estimated`, its former name, is still sent: deprecated). "
            f"The same filters as the list (`cursor` and `page_size` are not filters; `sort` picks the sample). "
            f"{_FILTER}"
        ),
        parameters=FILTER_PARAMETERS,
        responses={200: FacetsOut, **_ERRORS},
    )
    def get(self, request):
        spec = parse_filter(request.query_params, verdict_key=lazy_verdict_key(request.auth.project))
        return Response(FacetsOut(summary(request.auth.project, spec)).data)


class OutputDetailView(KnownParametersOnly, RetrieveAPIView):
    """One stored output of the key's project, by your external id, with its routing (and labels and gold)."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [CanRead]
    serializer_class = OutputDetailOut
    lookup_field = "external_id"

    def get_queryset(self):
        return outputs_of_project(self.request.auth.project)

    def get_object(self):
        """The output; a 404 naming the id asked for (DRF's says "No Output matches the given query.")."""
        external_id = self.kwargs["external_id"]
        output = self.get_queryset().filter(external_id=external_id).first()
        if output is None:
            outputs = self.get_queryset()
            slip = slash_slip(
                external_id, route="api:output-detail", known=lambda meant: outputs.filter(external_id=meant).exists()
            )
            raise NotFound(f"No output with external id '{external_id}' in this project{slip or '.'}")
        self.check_object_permissions(self.request, output)
        return output

    @extend_schema(
        operation_id="get_output",
        summary="Get a stored output, its routing, and on request its labels and gold",
        description=(
            "`items` is the output's routing: each queue it is in, with the item's week and status. "
            "`include=labels` adds each item's labels (pseudonymous annotator, answers, rubric version, time), "
            "skips and flags; `include=gold` its gold answers (`value` and `method` per question) and open ties; "
            "`include=labels,gold` both. An unknown value is a 400 naming it.\n\n"
            "An external id is any text, a slash at its end included: `/api/v1/outputs/abc/` asks for the output "
            "`abc/`. When there is none and `abc` exists, the 404 says so and names `abc`'s URL (not a redirect: an "
            "output `abc/` may be sent later).\n\n"
            "The path `/api/v1/outputs/facets` is the facets endpoint, and `/api/v1/outputs/facets/` no route (a "
            "404 naming the endpoint, as a slash after any endpoint is): an output whose external id is literally "
            "`facets` or `facets/` is found with `GET /api/v1/outputs?q=facets` (a search that is one word also "
            "finds the output with that external id)."
        ),
        parameters=[
            OpenApiParameter(
                "include",
                {"type": "array", "items": {"type": "string", "enum": list(INCLUDES)}},  # as _includes reads it
                description=f"Comma-separated: {', '.join(INCLUDES)}.",
                explode=False,
            )
        ],
        responses={200: OutputDetailOut, **_ERRORS, 404: OpenApiResponse(ErrorsOut, description="No such output.")},
    )
    def get(self, request, *args, **kwargs):
        output = self.get_object()  # another project's output, or none: a 404 before any 400
        include = _includes(request.query_params.getlist("include"))
        output.items_shown = output_items(output, include=include)
        return Response(OutputDetailOut(output).data)


def _includes(values: list[str]) -> frozenset[str]:
    """`include=labels,gold` (or repeated) → {"labels", "gold"}; a 400 naming any other value."""
    asked = {part.strip() for value in values for part in value.split(",") if part.strip()}
    unknown = sorted(asked - set(INCLUDES))
    if unknown:
        names = ", ".join(f"`{name}`" for name in unknown)
        raise ValidationError(
            {"include": f"Unknown {noun(len(unknown), 'value')} {names}: use {', '.join(INCLUDES)} (comma-separated)."}
        )
    return frozenset(asked)
