"""The key's project's redaction rules in force, read-only (leads edit them on the web)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import ApiKeyAuthentication
from api.parameters import KnownParametersOnly
from api.permissions import CanRead
from api.serializers.outputs import ErrorsOut
from api.serializers.redaction import RedactionRulesOut
from labeling.selectors.redaction import current_rule_set


class RedactionRulesView(KnownParametersOnly, APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [CanRead]

    @extend_schema(
        operation_id="get_redaction_rules",
        summary="Get the redaction rules applied at ingest",
        responses={
            200: RedactionRulesOut,
            401: OpenApiResponse(ErrorsOut, description="No key, an unknown key or a revoked key."),
            403: OpenApiResponse(ErrorsOut, description="The key lacks the `read` scope."),
        },
    )
    def get(self, request):
        rule_set = current_rule_set(request.auth.project)
        if rule_set is None:
            data = {"version": None, "builtins": [], "phone_region": None, "custom": [], "created_at": None}
        else:
            data = rule_set
        return Response(RedactionRulesOut(data).data)
