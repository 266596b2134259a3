"""OTLP/HTTP traces: `POST /api/v1/otel/v1/traces`, so that OTEL_EXPORTER_OTLP_ENDPOINT=…/api/v1/otel works.

The view speaks OTLP rather than this API's own JSON: the answer is an ExportTraceServiceResponse, and every
error a google.rpc.Status, each in the request's encoding (binary protobuf or OTLP/JSON) whatever `Accept`
says, as the OTLP specification asks. The key and its `ingest` scope are checked as for REST ingest.
"""

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.views import APIView

from api.authentication import ApiKeyAuthentication
from api.exceptions import retry_after, saying_what_to_send
from api.otlp_encoding import JSON_TYPE, PROTOBUF_TYPE, encode, media_type_of, status_body
from api.parameters import KnownParametersOnly
from api.parsers import OtlpJSONParser, OtlpProtobufParser
from api.permissions import CanIngest
from api.serializers.otlp import OtlpStatusOut, TracesResponseOut
from labeling.exceptions import DomainError
from labeling.services import otlp

_ENCODINGS = {PROTOBUF_TYPE: otlp.PROTOBUF, JSON_TYPE: otlp.JSON}


# An OTLP/JSON ExportTraceServiceRequest as request_from_json reads it: `resourceSpans`, or the empty export `{}`;
# fields it does not know are ignored beside `resourceSpans`, but a document of them alone is no export (a 400). A
# null `resourceSpans` is the empty list, as protobuf's JSON mapping reads a null field (its default).
_JSON_EXPORT = {
    "type": "object",
    "properties": {"resourceSpans": {"type": ["array", "null"], "items": {"type": "object"}}},
    "anyOf": [{"required": ["resourceSpans"]}, {"maxProperties": 0}],
}


class _Bytes(BaseRenderer):
    """Names a media type the endpoint answers with (for content negotiation and the schema); the view
    encodes the body itself."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class ProtobufRenderer(_Bytes):
    media_type, format = PROTOBUF_TYPE, "protobuf"


class JSONBytesRenderer(_Bytes):
    media_type, format = JSON_TYPE, "json"


class AnswerInRequestEncoding(BaseContentNegotiation):
    """OTLP answers in the encoding of the request, so an `Accept` the renderers do not list is no 406."""

    def select_parser(self, request, parsers):
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def request_media_type(request) -> str:
    return media_type_of(request.META.get("CONTENT_TYPE"))


def status_response(exc, context) -> HttpResponse | None:
    """Errors as google.rpc.Status in the request's encoding (JSON when it has neither OTLP encoding)."""
    if isinstance(exc, DomainError):
        code, message, headers = exc.status_code, exc.message, retry_after(exc)
    elif isinstance(exc, exceptions.APIException):
        if isinstance(exc, exceptions.NotAuthenticated):
            exc = saying_what_to_send(exc, context)
        code, message, headers = exc.status_code, _detail_text(exc.detail), retry_after(exc)
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
    else:
        return None  # a database outage: DatabaseUnavailableMiddleware answers 503 with Retry-After
    body, content_type = status_body(code, message, request_media_type(context["request"]))
    response = HttpResponse(body, status=code, content_type=content_type)
    for name, value in headers.items():
        response[name] = value
    return response


def _detail_text(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_detail_text(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return "; ".join(map(_detail_text, detail))
    return str(detail)


class TracesView(KnownParametersOnly, APIView):
    """Receive an OTLP trace export; store each LLM span as an output (README "OpenTelemetry")."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [CanIngest]
    parser_classes = [OtlpProtobufParser, OtlpJSONParser]
    renderer_classes = [ProtobufRenderer, JSONBytesRenderer]
    content_negotiation_class = AnswerInRequestEncoding
    metadata_class = None  # OPTIONS is a 405 Status: DRF's metadata is a dict, which the byte renderers cannot encode

    def get_exception_handler(self):
        return status_response

    @extend_schema(
        operation_id="otlp_export_traces",
        summary="OpenTelemetry: send traces (OTLP/HTTP); each LLM span becomes an output",
        description=(
            "Point an OTLP exporter at `…/api/v1/otel` (OTEL_EXPORTER_OTLP_ENDPOINT) with the key in "
            "`OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer el_…`. Binary protobuf (`application/x-protobuf`) or "
            "OTLP/JSON (`application/json`), optionally `Content-Encoding: gzip` or `deflate`; at most "
            f"{settings.OTLP_MAX_BODY_BYTES:,} bytes, before and after decompression (OTLP_MAX_BODY_BYTES). Spans "
            "that are LLM calls (GenAI semantic conventions, OpenLLMetry, OpenInference) become outputs with the "
            "external id `<trace id>:<span id>`: an export sent again stores nothing new. Other spans are ignored "
            "and counted in `X-Expertloop-Ignored-Spans`. An LLM span that cannot be stored (no output, a time "
            "out of range, an id too long, …) is rejected: `partialSuccess.rejectedSpans` counts them and "
            "`errorMessage` gives the first reasons; the other spans are stored. The answer and every error "
            "(a google.rpc.Status) are in the request's encoding."
        ),
        request={PROTOBUF_TYPE: OpenApiTypes.BINARY, JSON_TYPE: _JSON_EXPORT},
        # drf-spectacular offers `?format=` for a view with two renderers; AnswerInRequestEncoding never reads it.
        parameters=[OpenApiParameter("format", exclude=True)],
        responses={
            200: OpenApiResponse(TracesResponseOut, description="ExportTraceServiceResponse."),
            400: OpenApiResponse(OtlpStatusOut, description="The body is not an OTLP ExportTraceServiceRequest."),
            401: OpenApiResponse(OtlpStatusOut, description="No key, an unknown key or a revoked key."),
            403: OpenApiResponse(OtlpStatusOut, description="The key lacks the `ingest` scope."),
            413: OpenApiResponse(OtlpStatusOut, description="Over OTLP_MAX_BODY_BYTES, sent or decompressed."),
            415: OpenApiResponse(
                OtlpStatusOut, description="Another Content-Type or Content-Encoding, or a charset other than UTF-8."
            ),
        },
    )
    def post(self, request):
        media_type = request_media_type(request)
        if media_type not in _ENCODINGS:
            raise exceptions.UnsupportedMediaType(
                media_type, detail=f"Send {PROTOBUF_TYPE} or {JSON_TYPE}, not {media_type[:80] or 'no Content-Type'}."
            )
        body = request.data if isinstance(request.data, bytes) else b""  # DRF skips parsing an empty body
        result = otlp.ingest_traces(project=request.auth.project, body=body, encoding=_ENCODINGS[media_type])
        answer = ExportTraceServiceResponse()
        if result.rejected:
            answer.partial_success.rejected_spans = len(result.rejected)
            answer.partial_success.error_message = result.error_message
        body, content_type = encode(answer, media_type)
        response = HttpResponse(body, content_type=content_type)
        response["X-Expertloop-Ignored-Spans"] = str(result.ignored)
        response["X-Expertloop-Created-Outputs"] = str(result.created)
        return response
