from drf_spectacular.utils import extend_schema
from rest_framework.generics import RetrieveAPIView

from api.authentication import ApiKeyAuthentication
from api.permissions import CanRead
from api.serializers.outputs import OutputOut
from labeling.selectors import outputs_of_project


class OutputDetailView(RetrieveAPIView):
    """One stored output of the key's project, by your external id."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [CanRead]
    serializer_class = OutputOut
    lookup_field = "external_id"

    def get_queryset(self):
        return outputs_of_project(self.request.auth.project)

    @extend_schema(operation_id="get_output", summary="Get a stored output")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
