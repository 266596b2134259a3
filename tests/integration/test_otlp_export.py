"""The real OpenTelemetry SDK exports spans over OTLP/HTTP to a real gunicorn: its LLM spans become outputs.

Both encodings go through the OpenTelemetry project's own exporters: binary protobuf through OTLPSpanExporter of
opentelemetry-exporter-otlp-proto-http, OTLP/JSON through OTLPSpanExporter of opentelemetry-exporter-otlp-json-http.
What the server answered is read from the exporter's transport (a requests session's response hook for the
protobuf exporter; a recording wrapper of the JSON exporter's urllib3 transport), or by POSTing the SDK-encoded
body directly where only the bytes matter.
"""

import gzip
import http.client
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import requests
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.http.transport._urllib3 import Urllib3HTTPTransport
from opentelemetry.exporter.otlp.common.http import Compression as JsonCompression
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as OTLPJsonSpanExporter
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status as SpanStatus
from opentelemetry.trace import StatusCode

from labeling.models import Output
from labeling.services.api_keys import create_api_key
from tests.factories import ProjectFactory
from tests.helpers.processes import ROOT
from tests.helpers.servers import Gunicorn, database_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
LIMIT = 256 * 1024  # the server's OTLP_MAX_BODY_BYTES here, so that an oversize export stays small
REST_LIMIT = 64 * 1024  # its INGEST_MAX_BODY_BYTES, below LIMIT
PATH = "/api/v1/otel/v1/traces"


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    """One gunicorn for the module, on the test database (each test makes its own project and keys)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "OTLP_MAX_BODY_BYTES": str(LIMIT),
        "INGEST_MAX_BODY_BYTES": str(REST_LIMIT),
        "REDIS_URL": "",  # no broker needed: routing is not what this tests
    }
    with Gunicorn(env=env, threads=2, log_path=tmp_path_factory.mktemp("otlp") / "gunicorn.log") as process:
        yield f"http://127.0.0.1:{process.port}"


@pytest.fixture
def project():
    return ProjectFactory(slug="support-bot")


@pytest.fixture
def key(project):
    return create_api_key(project=project, name="otel", scopes=["ingest"]).secret


class Recorded(requests.Session):
    """A requests session that keeps every response it received (the exporter's transport uses it)."""

    def __init__(self):
        super().__init__()
        self.answers: list[requests.Response] = []
        self.hooks["response"].append(lambda response, *args, **kwargs: self.answers.append(response))


def exporter(base: str, secret: str, **options) -> tuple[OTLPSpanExporter, Recorded]:
    session = Recorded()
    headers = {"Authorization": f"Bearer {secret}"}
    return OTLPSpanExporter(endpoint=base + PATH, headers=headers, session=session, timeout=10, **options), session


class RecordingTransport(Urllib3HTTPTransport):
    """The JSON exporter's own urllib3 transport, keeping every result it returned (status, headers, body)."""

    def __init__(self):
        super().__init__(verify=True, cert=None)
        self.answers: list = []
        self.sent: list[dict[str, str]] = []  # the request headers, names in lower case

    def request(self, method, url, **options):
        self.sent.append({name.lower(): value for name, value in (options.get("headers") or {}).items()})
        result = super().request(method, url, **options)
        self.answers.append(result)
        return result


def json_exporter(base: str, secret: str, **options) -> tuple[OTLPJsonSpanExporter, RecordingTransport]:
    """opentelemetry-exporter-otlp-json-http's exporter; `_transport` is its (beta) hook for a transport."""
    transport = RecordingTransport()
    headers = {"Authorization": f"Bearer {secret}"}
    otlp = OTLPJsonSpanExporter(endpoint=base + PATH, headers=headers, timeout=10, _transport=transport, **options)
    return otlp, transport


def record_spans(make) -> list:
    """The finished spans the SDK produces when `make(tracer)` runs (an in-memory exporter collects them)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot", "user.id": "u-8f3a"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    make(provider.get_tracer("tests.otlp"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def genai_call(tracer, span_id_hint: str = "", *, output: str | None = "Yes, within 30 days.", model: str = "gpt-4o"):
    """A request handler span with one GenAI chat span inside, as an instrumented app makes them."""
    with tracer.start_as_current_span("POST /chat") as handler:
        handler.set_attribute("http.request.method", "POST")
        with tracer.start_as_current_span(f"chat {model}{span_id_hint}") as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.provider.name", "openai")
            span.set_attribute("gen_ai.request.model", model)
            span.set_attribute("gen_ai.conversation.id", "conv-1041")
            span.set_attribute("gen_ai.usage.input_tokens", 42)
            span.set_attribute("expertloop.tags", ["returns"])
            messages = [{"role": "user", "parts": [{"type": "text", "content": "Can I return worn shoes?"}]}]
            span.set_attribute("gen_ai.input.messages", json.dumps(messages))
            if output is not None:
                parts = [{"type": "text", "content": output}]
                span.set_attribute("gen_ai.output.messages", json.dumps([{"role": "assistant", "parts": parts}]))
            else:
                span.set_status(SpanStatus(StatusCode.ERROR, "upstream timeout"))


def llm_span_of(spans):
    return next(span for span in spans if span.name.startswith("chat "))


def test_llm_spans_become_outputs_once_through_the_sdk_exporter(server, key, project):
    """Protobuf with gzip; the HTTP span is ignored; a second export of the same spans stores nothing new."""
    spans = record_spans(genai_call)
    otlp, session = exporter(server, key, compression=Compression.Gzip)

    assert otlp.export(spans) == SpanExportResult.SUCCESS
    assert otlp.export(spans) == SpanExportResult.SUCCESS

    first, again = session.answers
    assert first.request.headers["Content-Encoding"] == "gzip"
    assert (first.headers["X-Expertloop-Created-Outputs"], first.headers["X-Expertloop-Ignored-Spans"]) == ("1", "1")
    assert (again.headers["X-Expertloop-Created-Outputs"], again.headers["X-Expertloop-Ignored-Spans"]) == ("0", "1")
    assert ExportTraceServiceResponse.FromString(again.content) == ExportTraceServiceResponse()
    llm = llm_span_of(spans)
    stored = Output.objects.get(project=project)
    assert stored.external_id == f"{llm.context.trace_id:032x}:{llm.context.span_id:016x}"
    assert stored.occurred_at == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=llm.end_time // 1000)
    assert (stored.model, stored.session_id, stored.end_user_id, stored.tags) == (
        "gpt-4o",
        "conv-1041",
        "u-8f3a",
        ["returns"],
    )
    assert stored.input == [{"role": "user", "content": "Can I return worn shoes?"}]
    assert stored.output == "Yes, within 30 days."
    assert stored.metadata["service.name"] == "support-bot"
    assert stored.metadata["gen_ai.usage.input_tokens"] == 42
    assert stored.metadata["latency_ms"] == round((llm.end_time - llm.start_time) / 1e6, 3)
    assert "gen_ai.input.messages" not in stored.metadata


def test_openinference_spans_over_otlp_json(server, key, project):
    def openinference(tracer):
        with tracer.start_as_current_span("ChatCompletion") as span:
            span.set_attribute("openinference.span.kind", "LLM")
            span.set_attribute("llm.model_name", "gpt-4o-mini")
            span.set_attribute("llm.input_messages.0.message.role", "user")
            span.set_attribute("llm.input_messages.0.message.content", "Why was I charged twice?")
            span.set_attribute("llm.output_messages.0.message.role", "assistant")
            span.set_attribute("llm.output_messages.0.message.content", "One charge is a hold.")
            span.set_attribute("session.id", "conv-9")
            span.set_attribute("tag.tags", ["billing"])
        with tracer.start_as_current_span("retriever") as span:
            span.set_attribute("openinference.span.kind", "RETRIEVER")

    spans = record_spans(openinference)
    otlp, transport = json_exporter(server, key, compression=JsonCompression.GZIP)

    assert otlp.export(spans) == SpanExportResult.SUCCESS
    assert otlp.export(spans) == SpanExportResult.SUCCESS

    assert [answer.status_code for answer in transport.answers] == [200, 200]
    assert (transport.sent[0]["content-encoding"], transport.sent[0]["content-type"]) == ("gzip", "application/json")
    assert [answer.json() for answer in transport.answers] == [{}, {}]
    assert transport.answers[0].headers()["Content-Type"] == "application/json"
    assert [
        (answer.headers()["X-Expertloop-Created-Outputs"], answer.headers()["X-Expertloop-Ignored-Spans"])
        for answer in transport.answers
    ] == [("1", "1"), ("0", "1")]
    stored = Output.objects.get(project=project)
    assert (stored.model, stored.output, stored.session_id, stored.end_user_id, stored.tags) == (
        "gpt-4o-mini",
        "One charge is a hold.",
        "conv-9",
        "u-8f3a",
        ["billing"],
    )
    assert stored.input == [{"role": "user", "content": "Why was I charged twice?"}]


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_a_batch_mixing_good_and_bad_spans_stores_the_good_ones(server, key, project, encoding):
    def calls(tracer):
        genai_call(tracer, " 1", output="First answer.")
        genai_call(tracer, " 2", output=None)  # failed: no output
        genai_call(tracer, " 3", output="Long model name.", model="m" * 201)  # model too long
        genai_call(tracer, " 4", output="Second answer.")

    spans = record_spans(calls)
    message = encode_spans(spans)

    if encoding == "protobuf":
        answer = requests.post(
            server + PATH,
            data=message.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"},
            timeout=10,
        )
        partial = ExportTraceServiceResponse.FromString(answer.content).partial_success
        rejected, reasons = partial.rejected_spans, partial.error_message
    else:
        otlp, transport = json_exporter(server, key)
        assert otlp.export(spans) == SpanExportResult.SUCCESS  # a partial success is a success
        [answer] = transport.answers
        rejected = int(answer.json()["partialSuccess"]["rejectedSpans"])
        reasons = answer.json()["partialSuccess"]["errorMessage"]

    headers = answer.headers if encoding == "protobuf" else answer.headers()
    assert answer.status_code == 200
    assert headers["X-Expertloop-Ignored-Spans"] == "4"  # the four request handlers
    assert rejected == 2
    failed, long_model = (span for span in spans if span.name in ("chat gpt-4o 2", f"chat {'m' * 201} 3"))
    assert f"{failed.context.span_id:016x}" in reasons and "span status ERROR: upstream timeout" in reasons
    assert f"{long_model.context.span_id:016x}" in reasons and "model: Expected `str` of length <= 200" in reasons
    assert sorted(Output.objects.filter(project=project).values_list("output", flat=True)) == [
        "First answer.",
        "Second answer.",
    ]


@pytest.mark.parametrize("make", [OTLPSpanExporter, OTLPJsonSpanExporter], ids=["protobuf", "json"])
def test_the_standard_environment_variables_reach_the_endpoint(server, key, project, monkeypatch, make):
    """OTEL_EXPORTER_OTLP_ENDPOINT=…/api/v1/otel and the key in OTEL_EXPORTER_OTLP_HEADERS, nothing else."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server + "/api/v1/otel")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{key}")

    assert make().export(record_spans(genai_call)) == SpanExportResult.SUCCESS

    assert Output.objects.filter(project=project).count() == 1


def test_refusals_bad_key_read_only_key_not_otlp_and_oversize(server, key, project):
    spans = record_spans(genai_call)
    read_only = create_api_key(project=project, name="reader", scopes=["read"]).secret
    big = record_spans(lambda tracer: genai_call(tracer, output="x" * (LIMIT + 1)))
    outcomes = {}
    for name, secret, batch in [("bad key", "el_0000_nope", spans), ("read-only", read_only, spans), ("big", key, big)]:
        otlp, session = exporter(server, secret)
        assert otlp.export(batch) == SpanExportResult.FAILURE
        [answer] = session.answers  # one request: none of these is retried
        outcomes[name] = (answer.status_code, Status.FromString(answer.content).message)

    garbage = requests.post(
        server + PATH,
        data=b"\x00\x01 this is not protobuf \xff",
        headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {key}"},
        timeout=10,
    )
    bomb = requests.post(
        server + PATH,
        data=gzip.compress(b"\x00" * (64 * LIMIT)),
        headers={
            "Content-Type": "application/x-protobuf",
            "Authorization": f"Bearer {key}",
            "Content-Encoding": "gzip",
        },
        timeout=10,
    )

    assert outcomes["bad key"][0] == 401
    assert outcomes["read-only"] == (403, "This API key lacks the `ingest` scope.")
    assert outcomes["big"][0] == 413
    assert garbage.status_code == 400
    assert "not an OTLP ExportTraceServiceRequest" in Status.FromString(garbage.content).message
    assert bomb.status_code == 413 and "once decompressed" in Status.FromString(bomb.content).message
    assert not Output.objects.filter(project=project).exists()


def test_refusals_through_the_json_exporter(server, key, project):
    """The same refusals in OTLP/JSON: each a google.rpc.Status as JSON, none retried by the exporter."""
    spans = record_spans(genai_call)
    read_only = create_api_key(project=project, name="reader", scopes=["read"]).secret
    big = record_spans(lambda tracer: genai_call(tracer, output="x" * (LIMIT + 1)))
    outcomes = {}
    for name, secret, batch in [("bad key", "el_0000_nope", spans), ("read-only", read_only, spans), ("big", key, big)]:
        otlp, transport = json_exporter(server, secret)
        assert otlp.export(batch) == SpanExportResult.FAILURE
        [answer] = transport.answers  # one request: none of these is retried
        assert answer.headers()["Content-Type"] == "application/json"
        outcomes[name] = (answer.status_code, answer.json()["message"])

    not_otlp = requests.post(
        server + PATH,
        data=json.dumps({"outputs": [{"external_id": "a", "output": "b"}]}),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        timeout=10,
    )

    assert outcomes["bad key"][0] == 401
    assert outcomes["read-only"] == (403, "This API key lacks the `ingest` scope.")
    assert outcomes["big"][0] == 413
    assert not_otlp.status_code == 400 and not_otlp.json()["code"] == 3
    assert "Not an OTLP ExportTraceServiceRequest" in not_otlp.json()["message"]
    assert not Output.objects.filter(project=project).exists()


def post_chunked(server: str, body: bytes, content_type: str, key: str) -> http.client.HTTPResponse:
    """POST the body in 8 KB chunks (`Transfer-Encoding: chunked`, no Content-Length); the response read."""
    connection = http.client.HTTPConnection("127.0.0.1", int(server.rsplit(":", 1)[1]), timeout=10)
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {key}"}
    chunks = (body[start : start + 8192] for start in range(0, len(body), 8192))
    try:
        connection.request("POST", PATH, body=chunks, headers=headers, encode_chunked=True)
        response = connection.getresponse()
        response.content = response.read()
        return response
    finally:
        connection.close()


def test_a_chunked_export_has_the_otlp_limit(server, key, project):
    """A `Transfer-Encoding: chunked` export over the REST limit but within OTLP_MAX_BODY_BYTES is stored."""
    body = encode_spans(record_spans(lambda tracer: genai_call(tracer, output="y" * REST_LIMIT))).SerializeToString()
    assert REST_LIMIT < len(body) < LIMIT

    assert post_chunked(server, body, "application/x-protobuf", key).status == 200
    assert Output.objects.get(project=project).output == "y" * REST_LIMIT


@pytest.mark.parametrize("content_type", ["application/x-protobuf", "application/json"])
def test_a_chunked_export_over_the_limit_is_a_413_status_in_its_encoding(server, key, project, content_type):
    """Refused by the WSGI layer before any view, yet still a google.rpc.Status, not the REST error body."""
    body = encode_spans(record_spans(lambda tracer: genai_call(tracer, output="z" * LIMIT))).SerializeToString()

    response = post_chunked(server, body, content_type, key)

    assert response.status == 413
    assert response.getheader("Content-Type") == content_type
    if content_type == "application/x-protobuf":
        status = Status.FromString(response.content)
        code, message = status.code, status.message
    else:
        code, message = json.loads(response.content)["code"], json.loads(response.content)["message"]
    assert (code, message) == (8, f"The body is over the limit of {LIMIT} bytes.")
    assert not Output.objects.filter(project=project).exists()


def test_the_readmes_script_sends_one_llm_call_that_the_project_then_finds(server, key, project, tmp_path):
    """The README's "Try it on the demo": its shell lines' variables and its script, run as a separate process."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("**Try it on the demo.**") :]
    shell = re.search(r"```sh\n(.*?)```", section, re.S)[1]
    script = re.search(r"```python\n(.*?)```", section, re.S)[1]
    assert "export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:8000/api/v1/otel" in shell
    assert 'export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20el_' in shell
    (tmp_path / "one_llm_call.py").write_text(script)
    environment = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"{server}/api/v1/otel",
        "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{key}",
    }
    run = subprocess.run(
        [sys.executable, "one_llm_call.py"], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr

    reader = create_api_key(project=project, name="reader", scopes=["read"]).secret
    found = requests.get(
        f"{server}/api/v1/outputs", params={"session": "conv-otel-1"}, headers={"Authorization": f"Bearer {reader}"}
    ).json()["results"]
    assert [(o["model"], o["end_user_id"], o["output"]) for o in found] == [
        ("gpt-4o", "u-otel", "Yes, within 30 days if they are clean and in their box.")
    ]
    assert found[0]["input"] == [{"role": "user", "content": "Can I return shoes I wore once?"}]
    assert re.fullmatch(r"[0-9a-f]{32}:[0-9a-f]{16}", found[0]["external_id"])
    assert (
        found[0]["metadata"]["service.name"] == "support-bot"
        and found[0]["metadata"]["otel.span_name"] == "chat gpt-4o"
    )
