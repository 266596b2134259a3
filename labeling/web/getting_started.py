"""The ready-to-paste lines of the getting-started checklist: how a product app sends its first output."""

import json

from django.http import HttpRequest

from labeling.models import Project

KEY_VARIABLE = "$EXPERTLOOP_API_KEY"
# The example output's texts: words that fit any product (a summarizer, a SQL assistant), not one kind of app's.
EXAMPLE_TEXTS = {"input": "What your app sent to the model", "output": "What the model answered"}


def ingest_snippets(request: HttpRequest, project: Project) -> dict[str, str]:
    """A curl line sending one output (its external id names the project) and the OpenTelemetry exporter's
    environment, both with this server's address and the key left as a shell variable (README: Outputs, OTLP)."""
    base = request.build_absolute_uri("/api/v1")
    output = {"external_id": f"{project.slug}:first-1", **EXAMPLE_TEXTS}
    curl = [
        f"curl -sS {base}/outputs",
        f'-H "Authorization: Bearer {KEY_VARIABLE}" -H "Content-Type: application/json"',
        f"-d '{json.dumps({'outputs': [output]})}'",
    ]
    otel = [
        f"export OTEL_EXPORTER_OTLP_ENDPOINT={base}/otel",
        f'export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20{KEY_VARIABLE}"',
        "export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
    ]
    return {"curl": " \\\n  ".join(curl), "otel": "\n".join(otel)}
