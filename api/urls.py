from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.views import datasets, ingest, outputs

app_name = "api"

DATASETS = "api/v1/projects/<slug:project_slug>/datasets"
DATASET = f"{DATASETS}/<slug:dataset_slug>"
VERSION = f"{DATASET}/versions/<str:version>"

urlpatterns = [
    path("api/v1/outputs", ingest.OutputsIngestView.as_view(), name="outputs"),
    path("api/v1/outputs/<path:external_id>", outputs.OutputDetailView.as_view(), name="output-detail"),
    path("api/v1/events", ingest.EventsIngestView.as_view(), name="events"),
    path("api/v1/feedback", ingest.FeedbackIngestView.as_view(), name="feedback"),
    path(DATASETS, datasets.DatasetListView.as_view(), name="datasets"),
    path(f"{DATASET}/versions", datasets.VersionListView.as_view(), name="dataset-versions"),
    path(VERSION, datasets.VersionDetailView.as_view(), name="dataset-version"),
    path(f"{VERSION}/rows", datasets.RowListView.as_view(), name="dataset-rows"),
    path(f"{VERSION}/download", datasets.VersionDownloadView.as_view(), name="dataset-download"),
    path(f"{DATASET}/diff", datasets.DatasetDiffView.as_view(), name="dataset-diff"),
    path(f"{DATASET}/build", datasets.DatasetBuildView.as_view(), name="dataset-build"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]
