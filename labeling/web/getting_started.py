"""Ready-to-paste lines: how a product app sends its first output (the getting-started checklist), and how an engineer
pulls the explore page's filter over REST."""

import json

from django.http import HttpRequest
from django.urls import reverse

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


def outputs_request(request: HttpRequest, query: str) -> str:
    """A curl line fetching the outputs an explore filter (`query`, canonical and URL-encoded, so it holds no quote)
    finds over REST, `GET /api/v1/outputs` taking the same parameters; the key left as a shell variable."""
    url = request.build_absolute_uri(reverse("api:outputs")) + (f"?{query}" if query else "")
    return f"curl -sS '{url}' \\\n  -H \"Authorization: Bearer {KEY_VARIABLE}\""
