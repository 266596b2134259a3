"""Every label of a range of cycle weeks, streamed as JSONL or CSV, for analysis outside expertloop.

A key with the `read` scope reads its own project; a signed-in engineer, lead or admin names it with
`?project=<slug>` (the labels carry every expert's answers, as the datasets do). A signed-in expert of the project
is told so (403); anyone else that the project does not exist (404), before any parameter is checked.
"""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView

from api.callers import ProjectOfCaller
from api.negotiation import NamesItsOwnFile
from api.parameters import KnownParametersOnly
from api.permissions import CanReadOrSignedIn
from api.serializers.labels import LabelsQuery
from api.serializers.outputs import ErrorsOut
from labeling.models import week_label
from labeling.rules.access import DATASET_ROLES, LABELS_REFUSED
from labeling.services.label_exports import FORMATS, label_chunks


class LabelExportView(NamesItsOwnFile, ProjectOfCaller, KnownParametersOnly, GenericAPIView):
    permission_classes = [CanReadOrSignedIn]
    project_roles = DATASET_ROLES
    project_refusal = LABELS_REFUSED

    @extend_schema(
        operation_id="export_labels",
        summary="Every label of a range of weeks, streamed as JSONL (or CSV)",
        description=(
            "One line per label, by week, item and label: `external_id` (the output's), `queue`, `item`, `week`, "
            "`annotator` (the datasets' pseudonym), `answers`, `rubric_version`, `labeled_at` (the last edit), "
            "`seconds_spent` and `gold` (the item's gold answers, `{question: {value, method}}`, empty while "
            "undecided). In CSV, `answers` and `gold` are JSON text. Weeks are the items' cycle weeks, named by ISO "
            "week labels (`2026-W48`) or by a day they hold (`2026-11-26`); `from` and `to` are both included (by "
            "default the last 12 weeks up to the current one, at most 104). A malformed week or `from` "
            "after `to` is a 400 naming the parameter."
        ),
        parameters=[LabelsQuery],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.BINARY,
            (200, "text/csv"): OpenApiTypes.BINARY,
            400: OpenApiResponse(ErrorsOut, description="A bad parameter; `field` names it."),
            401: OpenApiResponse(ErrorsOut, description="No credentials: a key, or a signed-in session."),
            403: OpenApiResponse(
                ErrorsOut, description="The key lacks the `read` scope; signed in, an expert of the project."
            ),
            404: OpenApiResponse(ErrorsOut, description="No such project, or not yours to read."),
        },
    )
    def get(self, request, *args, **kwargs):
        project = self.project  # who may read first: a 404 before any 400
        query = LabelsQuery(data=request.query_params, context={"project": project})
        query.is_valid(raise_exception=True)
        weeks, fmt = query.validated_data["weeks"], query.validated_data["format"]
        chunks = label_chunks(project, first=weeks.first, last=weeks.last, format=fmt)
        filename = f"{project.slug}-labels-{week_label(weeks.first)}-{week_label(weeks.last)}.{fmt}"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}
        return StreamingHttpResponse(chunks, content_type=FORMATS[fmt], headers=headers)
