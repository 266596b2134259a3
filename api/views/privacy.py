"""Erasure of one end user's data, for a product app's privacy requests (a key with the `privacy` scope)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import ApiKeyAuthentication
from api.parameters import KnownParametersOnly
from api.path_ids import slash_slip
from api.permissions import CanErase
from api.serializers.outputs import ErrorsOut
from labeling.exceptions import NotFound
from labeling.models import Scope
from labeling.selectors import end_user_is_known
from labeling.services.privacy import check_end_user_id, erase_end_user


class EndUserErasureView(KnownParametersOnly, APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [CanErase]

    @extend_schema(
        operation_id="erase_end_user",
        summary="Erase one end user's data from the key's project",
        description=(
            "Deletes the end user's outputs (with their feedback, and the items, labels, comments and flags on "
            "them) and usage events; withdraws every dataset version holding one of their rows (its record stays "
            "with a note, its downloads answer 410) and succeeds the newest by a copy without those rows; drops "
            "their items from frozen weekly reports. Audited. Idempotent: 204 whether or not anything was found, "
            "so the answer does not tell whether the id was ever known. One exception, for a key that also has "
            "the `read` scope (which lists the end user ids of outputs anyway): an id that ends with a slash and "
            "names nobody, while the id without that slash names an end user, is taken for a slash added to the "
            "URL: a 404 naming the URL meant, and nothing is erased. It takes no query parameter: one is a 400 "
            "naming it, and nothing is erased."
        ),
        parameters=[OpenApiParameter("end_user_id", OpenApiTypes.STR, OpenApiParameter.PATH)],
        request=None,
        responses={
            204: OpenApiResponse(description="Erased, or nothing to erase."),
            400: OpenApiResponse(ErrorsOut, description="Not an end user id (empty, too long, NUL), or any parameter."),
            401: OpenApiResponse(ErrorsOut, description="No key, an unknown key or a revoked key."),
            403: OpenApiResponse(ErrorsOut, description="The key lacks the `privacy` scope."),
            404: OpenApiResponse(
                ErrorsOut, description="A slash added after an end user's id (a key with `read` too): nothing erased."
            ),
        },
    )
    def delete(self, request, end_user_id: str):
        project = request.auth.project
        check_end_user_id(end_user_id)
        # Only ever refuses: an "ana/" written meanwhile is erased by the next call, as asked. Only to a key that may
        # read the end user ids anyway: to a privacy key alone, the answer tells nothing of who is known.
        slip = request.auth.has_scope(Scope.READ) and slash_slip(
            end_user_id, route="api:end-user", known=lambda meant: end_user_is_known(project, meant)
        )
        if slip and not end_user_is_known(project, end_user_id):
            raise NotFound(f"Nothing was erased: no end user has the id '{end_user_id}' in this project{slip}")
        erase_end_user(project=project, end_user_id=end_user_id, api_key=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)
