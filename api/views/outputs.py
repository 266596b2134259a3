"""Outputs for engineers: the filtered list and its facets (selectors.explore), and one output by external id.

The list, its facets and one output are read as the explore page reads them: a key with the `read` scope its own
project; a signed-in member (any role; an expert only while the project lets experts explore, and then blind), or an
operator as on the explore page, names it with `?project=<slug>` (rules.access.explored_project_for_caller). Sending
outputs (POST) takes a key only.
"""

from functools import cached_property

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import RetrieveAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from api.callers import ProjectOfCaller
from api.parameters import KnownParametersOnly, page_size_asked
from api.path_ids import slash_slip
from api.permissions import CanReadOrSignedIn
from api.serializers.explore import FacetsOut, OutputPageOut
from api.serializers.outputs import ErrorsOut, OutputDetailOut
from api.views.ingest import OutputsIngestView
from labeling.models import Project
from labeling.rules.access import explored_project_for_caller
from labeling.rules.explore import FEEDBACK, MAX_CHARS, PARAMETERS, SORTS, YES_NO, ExploreFilter, filter_query
from labeling.rules.text import noun
from labeling.selectors import outputs_of_project
from labeling.selectors.explore import MAX_PAGE_SIZE, PAGE_SIZE, read_filter, result_page, summary
from labeling.selectors.labels import INCLUDES, output_items

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
PROJECT_PARAMETER = OpenApiParameter(
    "project",
    OpenApiTypes.STR,
    description="The project's slug. Required with a signed-in session (a member's, or an operator's; experts: while "
    "the project lets them explore, and without `gold` or `theme`); optional with an API key (it must be the key's).",
)
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
BLIND_INCLUDE = "Experts label blind: they read an output's routing here, not its labels or gold."
_READ_ERRORS = {
    **_ERRORS,
    400: OpenApiResponse(
        ErrorsOut, description="A bad parameter, `field` naming it; signed in, no `?project=` (`field` is null)."
    ),
    401: OpenApiResponse(ErrorsOut, description="No credentials: a key, or a signed-in session."),
    403: OpenApiResponse(
        ErrorsOut,
        description="The key lacks the `read` scope; signed in, an expert of a project that does not let experts "
        "explore.",
    ),
    404: OpenApiResponse(ErrorsOut, description="No such project, or not yours to read."),
}


# The methods that read, for which a signed-in session is asked (OPTIONS describes the endpoint: it writes nothing).
SESSION_READS = ("GET", "HEAD", "OPTIONS")


class _ExploredOutputs(ProjectOfCaller):
    """The project whose outputs a GET reads and whether the caller reads them blind (an expert): a key's own, or a
    signed-in member's `?project=` (rules.access.explored_project_for_caller), asked before any filter is read."""

    listing = False  # the list: every output, page by page (refused to experts as the export is)

    @cached_property
    def explored(self) -> tuple[Project, bool]:
        return explored_project_for_caller(
            slug=self.project_slug(), user=self.request.user, api_key=self.api_key, listing=self.listing
        )

    @cached_property
    def project(self) -> Project:
        return self.explored[0]

    def check_access(self) -> None:
        if self.request.method in SESSION_READS:
            self.explored  # noqa: B018 (a stranger hears 404, whatever the filter holds)

    def spec(self, *, ignore: tuple[str, ...] = ()) -> ExploreFilter:
        """The filter, read as the explore page reads it for this caller (`selectors.explore.read_filter`)."""
        project, blind = self.explored
        return read_filter(self.request.query_params, project, blind=blind, ignore=("project", *ignore))


class OutputsView(_ExploredOutputs, OutputsIngestView):
    """`/api/v1/outputs`: GET lists a project's outputs (a `read` key, or signed in with `?project=`: engineers, leads
    and admins), POST sends outputs (an `ingest` key only: a signed-in session is not asked, so no session ever writes
    here)."""

    listing = True

    def get_authenticators(self):
        # drf-spectacular asks before it has a request, then with one per method: the schema says who does what.
        if self.request is None or self.request.method in SESSION_READS:
            return [*super().get_authenticators(), SessionAuthentication()]
        return super().get_authenticators()

    def get_permissions(self):
        if self.request.method in SESSION_READS:
            return [CanReadOrSignedIn()]
        return super().get_permissions()

    @extend_schema(
        operation_id="list_outputs",
        summary="Find outputs: search, filter, sort (newest first by default), cursor-paged",
        description=f"The filters of the explore page, on the key's project (signed in: `?project=`). {_FILTER}",
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
            PROJECT_PARAMETER,
        ],
        responses={
            200: OutputPageOut,
            **_READ_ERRORS,
            403: OpenApiResponse(
                ErrorsOut,
                description="The key lacks the `read` scope; signed in, an expert, or an operator who is not a member "
                "(the list is the export's: they read the outputs on the explore page).",
            ),
        },
    )
    def get(self, request):
        spec = self.spec(ignore=("cursor", "page_size"))
        size = _page_size(request.query_params.get("page_size"))
        page = result_page(
            self.explored[0],
            spec,
            cursor=request.query_params.get("cursor"),
            cursor_endpoint=LIST_ENDPOINT,
            limit=size,
            with_pieces=False,
        )
        following = None
        if page.next_cursor:
            project = request.query_params.get("project", "")
            query = filter_query(
                spec, project=project, page_size=request.query_params.get("page_size", ""), cursor=page.next_cursor
            )
            following = request.build_absolute_uri(f"{request.path}?{query}")
        out = {"results": [row.output for row in page.rows], "next": following}
        return Response(OutputPageOut({**out, "total": page.total.value, "total_estimated": page.total.estimated}).data)


def _page_size(value: str | None) -> int:
    # Refused above the largest page, not lowered as the cursor-paged lists do (api.pagination): as documented.
    size = page_size_asked(value, default=PAGE_SIZE)
    if size is None or size > MAX_PAGE_SIZE:
        raise ValidationError({"page_size": f"Use a whole number from 1 to {MAX_PAGE_SIZE}."})
    return size


class OutputFacetsView(_ExploredOutputs, KnownParametersOnly, APIView):
    """Counts and histograms of a project's outputs that a filter finds (routed before the detail path)."""

    permission_classes = [CanReadOrSignedIn]

    @extend_schema(
        operation_id="get_output_facets",
        summary="Facets and histograms of the outputs a filter finds",
        description=(
            "Counts per model, tag, feedback score, gold verdict and the top values of the most used metadata "
            "keys; the output length histogram and one per numeric metadata key (five values or more). Counted "
            "over every match up to 10,000; with more, over the first 10,000 in the `sort` order (`sample`; the "
            "newest by default), as they are: not scaled to `total`. `total_estimated` says whether `total` is "
            "PostgreSQL's estimate (`estimated`, its former name, is still sent: deprecated). "
            "An expert (signed in) gets no gold facet, as on the explore page. "
            f"The same filters as the list (`cursor` and `page_size` are not filters; `sort` picks the sample). "
            f"{_FILTER}"
        ),
        parameters=[*FILTER_PARAMETERS, PROJECT_PARAMETER],
        responses={200: FacetsOut, **_READ_ERRORS},
    )
    def get(self, request):
        project, blind = self.explored
        return Response(FacetsOut(summary(project, self.spec(), with_gold=not blind)).data)


class OutputDetailView(_ExploredOutputs, KnownParametersOnly, RetrieveAPIView):
    """One stored output of a project, by your external id, with its routing (and labels and gold)."""

    permission_classes = [CanReadOrSignedIn]
    serializer_class = OutputDetailOut
    lookup_field = "external_id"

    def get_queryset(self):
        return outputs_of_project(self.explored[0])

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
                description=f"Comma-separated: {', '.join(INCLUDES)}. Not for an expert (signed in): {BLIND_INCLUDE}",
                explode=False,
            ),
            PROJECT_PARAMETER,
        ],
        responses={
            200: OutputDetailOut,
            **_READ_ERRORS,
            404: OpenApiResponse(ErrorsOut, description="No such output or project, or not yours to read."),
        },
    )
    def get(self, request, *args, **kwargs):
        output = self.get_object()  # another project's output, or none: a 404 before any 400
        include = _includes(request.query_params.getlist("include"))
        if include and self.explored[1]:
            # An expert sees only their own labels of an output on the explore page, never its gold: the API's
            # labels are pseudonymous, so an expert reads the routing alone.
            raise ValidationError({"include": BLIND_INCLUDE})
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
