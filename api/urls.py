from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.views import ingest, outputs

app_name = "api"

urlpatterns = [
    path("api/v1/outputs", ingest.OutputsIngestView.as_view(), name="outputs"),
    path("api/v1/outputs/<path:external_id>", outputs.OutputDetailView.as_view(), name="output-detail"),
    path("api/v1/events", ingest.EventsIngestView.as_view(), name="events"),
    path("api/v1/feedback", ingest.FeedbackIngestView.as_view(), name="feedback"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]
