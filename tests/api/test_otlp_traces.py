"""`POST /api/v1/otel/v1/traces` speaks OTLP/HTTP: answers and errors in the request's encoding, partial success
for LLM spans that cannot be stored, the ingest's rules (idempotency, validation, redaction) for those that can.

The exporter of the real OpenTelemetry SDK against a live server: tests/integration/test_otlp_export.py.
"""

import gzip
import json
import zlib
from urllib.parse import urlsplit

import pytest
from django.db import OperationalError, connection
from django.urls import reverse
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from expertloop.middleware import UNAVAILABLE_MESSAGE
from labeling.models import Output
from labeling.services.redaction import save_rule_set
from tests.helpers.otlp import TRACE_ID, export, span
from tests.helpers.servers import post_cut_short

URL = "/api/v1/otel/v1/traces"
PROTOBUF = "application/x-protobuf"
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}


def answer(text: str) -> dict:
    """An LLM span's attributes with the assistant's text as its output."""
    parts = [{"type": "text", "content": text}]
    return {**CHAT, "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": parts}])}


def post(client, body, *, key, content_type="application/json", **headers):
    if isinstance(body, dict):
        body = json.dumps(body)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"} if key else {}
    return client.generic("POST", URL, body, content_type=content_type, **auth, **headers)


def protobuf_of(document: dict) -> bytes:
    from labeling.services.otlp import request_from_json

    return request_from_json(json.loads(json.dumps(document))).SerializeToString()


def test_the_route_is_named_and_documented(client):
    assert reverse("api:otel-traces") == URL
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"][URL]["post"]
    assert set(operation["requestBody"]["content"]) == {PROTOBUF, "application/json"}
    assert {"200", "400", "401", "403", "413", "415"} <= set(operation["responses"])


def test_llm_spans_are_stored_once_and_other_spans_ignored(client, ingest_key, project):
    document = export(
        span("00000000000000a1", name="chat gpt-4o", attrs={**answer("It ships tomorrow."), "session.id": "s-1"}),
        span("00000000000000a2", name="GET /orders", attrs={"http.request.method": "GET"}),
    )

    first = post(client, document, key=ingest_key)
    again = post(client, document, key=ingest_key)

    assert first.status_code == again.status_code == 200
    assert first["Content-Type"] == "application/json"
    assert first.json() == again.json() == {}  # full success: no partialSuccess
    assert (first["X-Expertloop-Ignored-Spans"], first["X-Expertloop-Created-Outputs"]) == ("1", "1")
    assert (again["X-Expertloop-Ignored-Spans"], again["X-Expertloop-Created-Outputs"]) == ("1", "0")
    stored = Output.objects.get(project=project)
    assert (stored.external_id, stored.output, stored.model, stored.session_id) == (
        f"{TRACE_ID}:00000000000000a1",
        "It ships tomorrow.",
        "gpt-4o",
        "s-1",
    )
    assert stored.occurred_at.isoformat() == "2026-11-20T09:15:01.250000+00:00"


def test_a_batch_mixing_good_and_bad_spans_stores_the_good_ones_and_reports_the_rest(client, ingest_key, project):
    good = [span(f"00000000000000b{index}", attrs=answer(f"answer {index}")) for index in range(3)]
    bad = [
        span("00000000000000c1", attrs=CHAT, status=2, message="upstream timeout"),  # no output
        span("00000000000000c2", attrs=answer("late"), end=None),  # end time 0: 1970, out of range
        span("00000000000000c3", attrs={**answer("x"), "gen_ai.request.model": "m" * 201}),  # model too long
        span("00000000000000c4", attrs=answer("NUL \x00 inside")),
    ]

    response_pb = post(client, protobuf_of(export(*bad)), key=ingest_key, content_type=PROTOBUF)

    assert response_pb.status_code == 200 and response_pb["Content-Type"] == PROTOBUF
    partial = ExportTraceServiceResponse.FromString(response_pb.content).partial_success
    assert partial.rejected_spans == 4
    for span_id, reason in [
        ("c1", "No output text"),
        ("c2", "occurred_at: Out of range"),
        ("c3", "model: Expected `str` of length <= 200"),
        ("c4", "NUL character"),
    ]:
        assert f"{TRACE_ID}:00000000000000{span_id}" in partial.error_message
        assert reason in partial.error_message

    mixed = post(client, export(good[0], *bad, *good[1:]), key=ingest_key)

    assert mixed.status_code == 200
    assert mixed.json()["partialSuccess"]["rejectedSpans"] == "4"  # int64 in OTLP/JSON: a string
    assert mixed.json()["partialSuccess"]["errorMessage"].startswith("4 LLM spans rejected: span ")
    assert sorted(Output.objects.filter(project=project).values_list("output", flat=True)) == [
        "answer 0",
        "answer 1",
        "answer 2",
    ]


def test_a_span_sent_again_with_other_content_is_rejected_and_the_stored_output_kept(client, ingest_key, project):
    post(client, export(span("00000000000000d1", attrs=answer("first"))), key=ingest_key)

    response = post(client, export(span("00000000000000d1", attrs=answer("changed"))), key=ingest_key)

    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert "stored with other content" in response.json()["partialSuccess"]["errorMessage"]
    assert Output.objects.get(project=project).output == "first"


def test_redaction_applies_as_for_rest_ingest(client, ingest_key, project):
    save_rule_set(project=project, builtins=["email"], custom=[], phone_region="US")

    post(client, export(span("00000000000000e1", attrs=answer("Write to jane.doe@example.com"))), key=ingest_key)

    assert Output.objects.get(project=project).output == "Write to [EMAIL]"


def test_gzip_and_deflate_bodies_are_decompressed(client, ingest_key, project):
    body = protobuf_of(export(span("00000000000000f1", attrs=answer("zipped"))))
    gzipped = post(client, gzip.compress(body), key=ingest_key, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip")
    body = protobuf_of(export(span("00000000000000f2", attrs=answer("deflated"))))
    deflated = post(client, zlib.compress(body), key=ingest_key, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="deflate")

    assert gzipped.status_code == deflated.status_code == 200
    assert Output.objects.filter(project=project).count() == 2


def test_an_empty_export_is_a_success(client, ingest_key):
    # The test client sends no Content-Type with an empty body unless told to.
    response = post(client, b"", key=ingest_key, content_type=PROTOBUF, CONTENT_TYPE=PROTOBUF)

    assert response.status_code == 200 and response.content == b""
    assert ExportTraceServiceResponse.FromString(response.content) == ExportTraceServiceResponse()


def status_of(response) -> tuple[int, int, str]:
    """(HTTP status, google.rpc code, message) of an error, decoded in the encoding it was sent in."""
    if response["Content-Type"] == PROTOBUF:
        status = Status.FromString(response.content)
        return response.status_code, status.code, status.message
    body = response.json()
    assert set(body) <= {"code", "message"}
    return response.status_code, body.get("code", 0), body["message"]


@pytest.mark.parametrize("content_type", [PROTOBUF, "application/json"])
def test_errors_are_statuses_in_the_request_encoding(client, ingest_key, read_key, content_type):
    garbage = b"\xff\xfe garbage, not an export"

    bad_key = post(client, garbage, key=None, content_type=content_type, HTTP_AUTHORIZATION="Bearer el_nope")
    no_key = post(client, garbage, key=None, content_type=content_type)
    read_only = post(client, garbage, key=read_key, content_type=content_type)
    not_otlp = post(client, garbage, key=ingest_key, content_type=content_type)

    assert bad_key["Content-Type"] == content_type
    assert status_of(bad_key)[:2] == (401, 16)
    assert bad_key["WWW-Authenticate"] == no_key["WWW-Authenticate"] == 'Bearer realm="expertloop"'
    assert status_of(no_key)[:2] == (401, 16)
    assert status_of(read_only) == (403, 7, "This API key lacks the `ingest` scope.")
    status, code, message = status_of(not_otlp)
    assert (status, code) == (400, 3)
    assert "not" in message and ("OTLP" in message or "JSON" in message)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"outputs": [{"external_id": "x", "output": "y"}]}, 'send {"resourceSpans": [...]}'),
        ({"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}, "startTimeUnixNano"),
        ([1, 2], "Not an OTLP ExportTraceServiceRequest"),
    ],
)
def test_json_that_is_not_an_export_is_a_400_naming_the_problem(client, ingest_key, document, expected):
    status, code, message = status_of(post(client, document, key=ingest_key))

    assert (status, code) == (400, 3) and expected in message


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"resourceSpans": ["AAA"]}, "resourceSpans[0] is a string"),
        ({"resourceSpans": [{"resource": "shop"}]}, "resourceSpans[0].resource is a string"),
        (export(span(attrs=answer("kept")), "not a span"), "resourceSpans[0].scopeSpans[0].spans[1] is a string"),
        (export({**span(attrs=answer("x")), "events": [7]}), "spans[0].events[0] is a number"),
    ],
)
def test_a_value_where_an_otlp_message_belongs_is_a_400_and_nothing_is_stored(client, ingest_key, document, named):
    """Found by schemathesis: protobuf's JSON parser, told to ignore unknown fields as OTLP/JSON asks, read a string
    where a message belongs as that message with its characters for field names: `{"resourceSpans": ["AAA"]}` was
    an empty export and a span sent as a string an empty span, answered as a success while nothing was stored."""
    status, code, message = status_of(post(client, document, key=ingest_key))

    assert (status, code) == (400, 3) and named in message, message
    assert not Output.objects.exists()


@pytest.mark.parametrize("field", ["traceId", "spanId"])
def test_an_id_neither_hex_nor_base64_is_named_as_sent(client, ingest_key, field):
    """`"traceId": "zz"` was read as base64 and refused as "got 'cf'", a value the sender never wrote."""
    status, code, message = status_of(post(client, export({**span(attrs=answer("x")), field: "zz"}), key=ingest_key))

    assert (status, code) == (400, 3)
    assert message == (
        f"Not an OTLP ExportTraceServiceRequest: resourceSpans[0].scopeSpans[0].spans[0].{field} must be hex "
        "(or base64); got 'zz'."
    )
    assert not Output.objects.exists()


@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded url-safe"])
def test_an_id_in_base64_from_an_older_sender_still_parses(client, ingest_key, project, padded):
    """Padded or not, and in either alphabet: protobuf's JSON parser pads what a sender left unpadded."""
    import base64

    trace_id = base64.b64encode(bytes.fromhex(TRACE_ID)).decode()
    if not padded:
        trace_id = trace_id.rstrip("=").replace("+", "-").replace("/", "_")
    response = post(client, export({**span(attrs=answer("kept")), "traceId": trace_id}), key=ingest_key)

    assert response.status_code == 200, response.content
    assert Output.objects.get(project=project).external_id.startswith(TRACE_ID)


def test_other_content_types_and_encodings_are_a_415(client, ingest_key):
    plain = post(client, b"hello", key=ingest_key, content_type="text/plain")
    form = post(client, b"", key=ingest_key, content_type="application/x-www-form-urlencoded")
    brotli = post(client, b"x", key=ingest_key, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="br")

    assert status_of(plain)[:2] == status_of(form)[:2] == (415, 3)
    assert status_of(brotli) == (415, 3, "Content-Encoding 'br' is not supported; send gzip, deflate or none.")
    assert brotli["Content-Type"] == PROTOBUF


def test_oversize_bodies_and_gzip_bombs_are_a_413(client, ingest_key, settings, project):
    settings.OTLP_MAX_BODY_BYTES = 64 * 1024
    big = protobuf_of(export(span("00000000000000a9", attrs=answer("x" * 70_000))))
    bomb = gzip.compress(b"\x00" * (50 * 1024 * 1024))  # 50 MB of zeros in about 50 KB
    assert len(bomb) < settings.OTLP_MAX_BODY_BYTES

    too_big = post(client, big, key=ingest_key, content_type=PROTOBUF)
    zipped = post(client, gzip.compress(big), key=ingest_key, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip")
    bombed = post(client, bomb, key=ingest_key, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip")

    assert status_of(too_big)[:2] == (413, 8)
    assert status_of(zipped) == (413, 8, "The body is over the limit of 65536 bytes once decompressed (gzip).")
    assert status_of(bombed)[:2] == (413, 8)
    assert not Output.objects.filter(project=project).exists()


def test_truncated_gzip_is_a_400(client, ingest_key):
    body = gzip.compress(protobuf_of(export(span(attrs=answer("cut")))))[:-12]

    status, _, message = status_of(
        post(client, body, key=ingest_key, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip")
    )

    assert (status, message) == (400, "The gzip data ends before its end of stream.")


def test_a_gzip_body_of_several_members_is_read_whole(client, ingest_key, project):
    """A gzip body may be members one after another (RFC 1952 2.2; `cat a.gz b.gz`, a proxy that compresses as it
    streams). Only the first was read: two spans whose members split at a message boundary stored one and
    answered 200, losing the other without a word."""
    first = protobuf_of(export(span("00000000000000b1", attrs=answer("one"))))
    second = protobuf_of(export(span("00000000000000b2", attrs=answer("two"))))  # protobuf: concatenated = merged
    members = gzip.compress(first) + gzip.compress(second)

    response = post(client, members, key=ingest_key, content_type=PROTOBUF, HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 200 and response["X-Expertloop-Created-Outputs"] == "2"
    assert sorted(Output.objects.filter(project=project).values_list("output", flat=True)) == ["one", "two"]


@pytest.mark.parametrize(
    ("coding", "compress", "message"),
    [
        (
            "gzip",
            gzip.compress,
            "The body is not valid gzip data: Error -3 while decompressing data: incorrect header check.",
        ),
        ("deflate", zlib.compress, "The deflate data is followed by 7 bytes that are not part of it."),
    ],
)
def test_bytes_after_the_compressed_data_are_a_400(client, ingest_key, project, coding, compress, message):
    """They were ignored: whatever the sender meant them to be was dropped, with a 200."""
    body = compress(protobuf_of(export(span(attrs=answer("ok"))))) + b"garbage"

    response = post(client, body, key=ingest_key, content_type=PROTOBUF, HTTP_CONTENT_ENCODING=coding)

    assert status_of(response) == (400, 3, message)
    assert not Output.objects.filter(project=project).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("content_type", [PROTOBUF, "application/json"])
def test_an_export_cut_short_of_its_content_length_is_a_400_and_stores_nothing(live_server, ingest_key, content_type):
    """A connection cut mid-upload hands the app fewer bytes than Content-Length said, and neither gunicorn nor
    Django complain. Binary protobuf cut at a message boundary still decodes: the first resource's spans were
    stored and the answer was 200."""
    first = export(span("00000000000000c1", attrs=answer("one")))
    both = {
        "resourceSpans": first["resourceSpans"] + export(span("00000000000000c2", attrs=answer("two")))["resourceSpans"]
    }
    whole, sent = (
        (protobuf_of(both), protobuf_of(first))
        if content_type == PROTOBUF
        else (json.dumps(both).encode(), json.dumps(first).encode()[:-1])
    )
    address = (urlsplit(live_server.url).hostname, urlsplit(live_server.url).port)

    answer_bytes = post_cut_short(address, URL, sent, declared=len(whole), Authorization=f"Bearer {ingest_key.secret}",
                                  **{"Content-Type": content_type})  # fmt: skip

    assert answer_bytes.startswith(b"HTTP/1.1 400 "), answer_bytes[:300]
    assert f"The body ended after {len(sent)} of the {len(whole)} bytes".encode() in answer_bytes
    assert not Output.objects.exists()


def test_an_accept_header_does_not_change_the_answer(client, ingest_key):
    body = protobuf_of(export(span("00000000000000a7", attrs=answer("ok"))))

    response = post(client, body, key=ingest_key, content_type=PROTOBUF, HTTP_ACCEPT="application/x-protobuf")
    text = post(client, body, key=ingest_key, content_type=PROTOBUF, HTTP_ACCEPT="text/html")

    assert response.status_code == text.status_code == 200
    assert text["Content-Type"] == PROTOBUF


@pytest.mark.parametrize("method", ["GET", "OPTIONS", "PUT"])
def test_other_methods_are_a_405_status(client, ingest_key, method):
    response = client.generic(method, URL, HTTP_AUTHORIZATION=f"Bearer {ingest_key.secret}")

    assert response["Content-Type"] == "application/json"
    assert status_of(response) == (405, 12, f'Method "{method}" not allowed.')


@pytest.mark.parametrize("content_type", [PROTOBUF, "application/json"])
def test_a_database_outage_is_a_503_status_with_retry_after(client, ingest_key, content_type):
    """The 503 comes from DatabaseUnavailableMiddleware, outside the view, yet speaks OTLP like every error."""

    def refuse(execute, sql, params, many, context):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    body = protobuf_of(export(span(attrs=answer("ok")))) if content_type == PROTOBUF else export(span())
    with connection.execute_wrapper(refuse):
        response = post(client, body, key=ingest_key, content_type=content_type)

    assert response["Content-Type"] == content_type
    assert status_of(response) == (503, 14, UNAVAILABLE_MESSAGE)
    assert response["Retry-After"] == "30"


def test_a_nul_in_the_query_string_is_a_400_status(client, ingest_key):
    """Refused by RefuseUnstorableInputMiddleware before the view, still in the request's encoding."""
    response = client.generic(
        "POST",
        URL + "?tenant=a%00b",
        b"\x0a\x00",
        content_type=PROTOBUF,
        HTTP_AUTHORIZATION=f"Bearer {ingest_key.secret}",
    )

    assert response["Content-Type"] == PROTOBUF
    assert status_of(response)[:2] == (400, 3) and "tenant" in status_of(response)[2]


def nested_kvlist(levels: int, leaf: dict) -> dict:
    """An OTLP/JSON AnyValue: a kvlist holding a kvlist … `levels` deep around the leaf value."""
    for _ in range(levels):
        leaf = {"kvlistValue": {"values": [{"key": "down", "value": leaf}]}}
    return leaf


def test_one_attribute_nested_too_deep_is_cut_and_the_span_stored(client, ingest_key, project):
    """Protobuf's JSON parser gives up past ~30 kvlist levels; one such attribute must not refuse the export."""
    deep = span("00000000000000d1", attrs=answer("stored"))
    deep["attributes"].append({"key": "app.deep", "value": nested_kvlist(60, {"stringValue": "bottom"})})

    response = post(client, export(deep), key=ingest_key)

    assert (response.status_code, response["X-Expertloop-Created-Outputs"]) == (200, "1")
    stored = Output.objects.get(project=project)
    assert stored.output == "stored"
    cut = stored.metadata["app.deep"]  # metadata keeps values deeper than 8 levels as JSON text
    assert "[nested deeper than 10 levels]" in cut and "bottom" not in cut


def test_a_wrong_value_deep_in_an_export_is_a_400_that_says_what_is_wrong(client, ingest_key):
    """The parser's message is a long chain of "Failed to parse … field:"; the reason at its end is kept."""
    bad = span(attrs=answer("x"))
    bad["attributes"].append({"key": "app.deep", "value": nested_kvlist(9, {"intValue": "many"})})

    status, code, message = status_of(post(client, export(bad), key=ingest_key))

    assert (status, code) == (400, 3)
    assert message.startswith("Not an OTLP ExportTraceServiceRequest: …") and len(message) < 600
    assert message.endswith("Failed to parse intValue field: invalid literal for int() with base 10: 'many'.")


HOSTILE = {
    "nul": "a\x00b",
    "lone surrogate": "\ud800",
    "long string": "x" * 10_000,
    "deep": json.loads("[" * 200 + "]" * 200),
    "2**63": 2**63,
    "1e309": float("inf"),
}


@pytest.mark.parametrize("family", HOSTILE)
@pytest.mark.parametrize("where", ["attribute", "span name", "resource", "event", "id"])
def test_hostile_values_in_a_span_are_never_a_server_error(client, ingest_key, family, where):
    """Each hostile value in each place of an OTLP/JSON export: a 200 (the span stored or rejected) or a 400,
    never a 5xx."""
    value = HOSTILE[family]
    base = span("00000000000000aa", attrs=answer("ok"))
    if where == "attribute":
        base["attributes"].append({"key": "app.hostile", "value": {"stringValue": value}})
        base["attributes"].append({"key": str(value)[:50], "value": {"intValue": 1}})
    elif where == "span name":
        base["name"] = value
    elif where == "event":
        base["events"] = [
            {"name": "gen_ai.choice", "attributes": [{"key": "content", "value": {"stringValue": value}}]}
        ]
    elif where == "id":
        base["spanId"] = value
    document = export(base, resource={"service.name": value, "user.id": value})
    body = json.dumps(document, allow_nan=True).encode("utf-8", "surrogatepass")

    response = post(client, body, key=ingest_key)

    assert response.status_code in (200, 400), response.content
