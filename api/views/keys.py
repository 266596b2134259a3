"""Who am I: the API key a request carries and the project it belongs to (clients use it to find their project)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import ApiKeyAuthentication
from api.parameters import KnownParametersOnly
from api.permissions import HasApiKey
from api.serializers.keys import KeyOut
from api.serializers.outputs import ErrorsOut


class CurrentKeyView(KnownParametersOnly, APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    # A signed-in browser has no key to describe (api.exceptions.saying_what_to_send): the 401 says what to do instead.
    session_refused = (
        "`/api/v1/key` describes the project API key a request carries (`Authorization: Bearer <key>`), and a "
        "signed-in session is not one: your projects' keys are on their API keys pages (/p/<project>/keys/). Signed "
        "in, name the project with `?project=<slug>` on the endpoints that read."
    )

    @extend_schema(
        operation_id="get_current_key",
        summary="The API key of this request: its project, name, prefix and scopes",
        description=(
            "Any valid key, whatever its scopes. Clients call it to learn the project slug the dataset URLs need."
        ),
        responses={
            200: KeyOut,
            401: OpenApiResponse(
                ErrorsOut, description="No key (a signed-in session is not one), an unknown key or a revoked key."
            ),
        },
    )
    def get(self, request):
        return Response(KeyOut(request.auth).data)
