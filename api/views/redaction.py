"""The project's redaction rules in force, read-only (leads edit them on the web): a `read` key its own project's; a
signed-in lead or admin, who may open the rules' page, names it with `?project=<slug>`."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api.callers import ProjectOfCaller
from api.parameters import KnownParametersOnly
from api.permissions import CanReadOrSignedIn
from api.serializers.outputs import ErrorsOut
from api.serializers.redaction import RedactionRulesOut
from labeling.rules.access import MANAGING_ROLES, REDACTION_RULES_REFUSED
from labeling.selectors.redaction import current_rule_set


class RedactionRulesView(ProjectOfCaller, KnownParametersOnly, APIView):
    permission_classes = [CanReadOrSignedIn]
    project_roles = MANAGING_ROLES
    project_refusal = REDACTION_RULES_REFUSED

    @extend_schema(
        operation_id="get_redaction_rules",
        summary="Get the redaction rules applied at ingest",
        parameters=[
            OpenApiParameter(
                "project",
                OpenApiTypes.STR,
                description="The project's slug. Required with a signed-in session (a lead's or admin's, as the "
                "rules' page); optional with an API key (it must be the key's).",
            )
        ],
        responses={
            200: RedactionRulesOut,
            400: OpenApiResponse(ErrorsOut, description="Signed in, no `?project=`; or an unknown parameter."),
            401: OpenApiResponse(ErrorsOut, description="No credentials: a key, or a signed-in session."),
            403: OpenApiResponse(
                ErrorsOut, description="The key lacks the `read` scope; signed in, a member who is not a lead or admin."
            ),
            404: OpenApiResponse(ErrorsOut, description="No such project, or not yours to read."),
        },
    )
    def get(self, request):
        rule_set = current_rule_set(self.project)
        if rule_set is None:
            data = {"version": None, "builtins": [], "phone_region": None, "custom": [], "created_at": None}
        else:
            data = rule_set
        return Response(RedactionRulesOut(data).data)
