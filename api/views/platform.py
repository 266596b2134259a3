"""Usage per project and week for the platform team (operators: an operator token or session): planning and
chargeback."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from api.authentication import OperatorTokenAuthentication
from api.parameters import KnownParametersOnly
from api.permissions import IsOperator
from api.serializers.outputs import ErrorsOut
from api.serializers.platform import UsageQuery, UsageRowOut
from labeling.selectors.platform import usage_project, usage_range, usage_record, usage_rows


class UsageView(KnownParametersOnly, GenericAPIView):
    # An operator's token or session; project API keys speak for one project, never for the platform.
    authentication_classes = [OperatorTokenAuthentication, SessionAuthentication]
    permission_classes = [IsOperator]
    serializer_class = UsageRowOut

    @extend_schema(
        operation_id="get_platform_usage",
        summary="Usage per project and week (operators)",
        description=(
            "One row per project and cycle week starting from `since` through `until` (default: the last 12 "
            "weeks), newest week first, then by project slug: what the platform page's usage table and CSV show. "
            "Rows are computed hourly for the running week and at each close; `manage.py refresh_usage` fills in "
            "past weeks. Authenticate with an operator token (`Authorization: Bearer elop_…`, issued on "
            "/platform/tokens/; it acts as its operator, whose permission is checked on every request) or an "
            "operator's session."
        ),
        parameters=[UsageQuery],
        responses={
            200: UsageRowOut(many=True),
            400: OpenApiResponse(
                ErrorsOut,
                description="A bad parameter, or no project has the slug given as `project`; the message names it.",
            ),
            401: OpenApiResponse(ErrorsOut, description="No credentials, or a token that is unknown or revoked."),
            403: OpenApiResponse(ErrorsOut, description="The user is not (or no longer) an operator."),
        },
    )
    def get(self, request, *args, **kwargs):
        query = UsageQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        project = usage_project(request.user, query.validated_data.get("project"))
        since, until = usage_range(
            since=query.validated_data.get("since"),
            until=query.validated_data.get("until"),
            now=timezone.now(),
            project=project,
        )
        rows = usage_rows(since=since, until=until, project=project)
        return Response(UsageRowOut([usage_record(row) for row in rows], many=True).data)
