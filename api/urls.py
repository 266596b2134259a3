from django.urls import path, register_converter
from drf_spectacular.views import SpectacularSwaggerSplitView

from api.views import (
    annotation,
    changes,
    datasets,
    ingest,
    keys,
    labels,
    metrics,
    otlp,
    outputs,
    platform,
    privacy,
    redaction,
    schema,
)

app_name = "api"


class AnyText:
    """A caller's id as it was sent: any non-empty text, a newline included. Django's `path` converter stops at a
    newline, so an output or end user whose id ingest had taken with one had no URL (an HTML 404), and such an end
    user could not be erased."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AnyText, "text")

DATASETS = "api/v1/projects/<slug:project_slug>/datasets"
DATASET = f"{DATASETS}/<slug:dataset_slug>"
VERSION = f"{DATASET}/versions/<str:version>"

urlpatterns = [
    path("api/v1/key", keys.CurrentKeyView.as_view(), name="key"),
    path("api/v1/outputs", outputs.OutputsView.as_view(), name="outputs"),  # GET lists (read), POST ingests
    # Before the detail route, which would take `facets` for an external id (see get_output's description).
    path("api/v1/outputs/facets", outputs.OutputFacetsView.as_view(), name="output-facets"),
    path("api/v1/outputs/<text:external_id>", outputs.OutputDetailView.as_view(), name="output-detail"),
    path("api/v1/labels", labels.LabelExportView.as_view(), name="labels"),
    path("api/v1/rubric", annotation.RubricView.as_view(), name="rubric"),
    path("api/v1/queues", annotation.QueuesView.as_view(), name="queues"),
    path("api/v1/events", ingest.EventsIngestView.as_view(), name="events"),
    path("api/v1/feedback", ingest.FeedbackIngestView.as_view(), name="feedback"),
    # OTLP/HTTP's own path below the endpoint, so that OTEL_EXPORTER_OTLP_ENDPOINT=…/api/v1/otel works.
    path("api/v1/otel/v1/traces", otlp.TracesView.as_view(), name="otel-traces"),
    path("api/v1/end-users/<text:end_user_id>", privacy.EndUserErasureView.as_view(), name="end-user"),
    path("api/v1/redaction-rules", redaction.RedactionRulesView.as_view(), name="redaction-rules"),
    path(DATASETS, datasets.DatasetListView.as_view(), name="datasets"),  # GET lists, POST creates
    path(DATASET, datasets.DatasetDetailView.as_view(), name="dataset"),
    path(f"{DATASET}/versions", datasets.VersionListView.as_view(), name="dataset-versions"),
    path(VERSION, datasets.VersionDetailView.as_view(), name="dataset-version"),
    path(f"{VERSION}/rows", datasets.RowListView.as_view(), name="dataset-rows"),
    path(f"{VERSION}/download", datasets.VersionDownloadView.as_view(), name="dataset-download"),
    path(f"{VERSION}/withdraw", datasets.VersionWithdrawView.as_view(), name="dataset-version-withdraw"),
    path(f"{DATASET}/diff", datasets.DatasetDiffView.as_view(), name="dataset-diff"),
    path(f"{DATASET}/build", datasets.DatasetBuildView.as_view(), name="dataset-build"),
    path("api/v1/metrics/quality", metrics.QualityView.as_view(), name="metrics-quality"),
    path("api/v1/metrics/agreement", metrics.AgreementView.as_view(), name="metrics-agreement"),
    path("api/v1/metrics/throughput", metrics.ThroughputView.as_view(), name="metrics-throughput"),
    path("api/v1/metrics/retention", metrics.RetentionView.as_view(), name="metrics-retention"),
    path("api/v1/metrics/changes", changes.ChangesView.as_view(), name="metrics-changes"),
    path("api/v1/cycles/<str:week>/report", metrics.CycleReportView.as_view(), name="cycle-report"),
    path("api/v1/platform/usage", platform.UsageView.as_view(), name="platform-usage"),
    path("api/schema/", schema.SchemaView.as_view(), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html"),
        name="docs",
    ),
]
