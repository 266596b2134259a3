"""Ingest endpoints for product apps: the key names the project; the body goes to one service."""

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import ApiKeyAuthentication
from api.parameters import KnownParametersOnly
from api.parsers import RawJSONParser
from api.permissions import CanIngest
from api.serializers.outputs import ErrorsOut, FeedbackResultOut, IngestResultOut
from labeling.services import ingest

_ERRORS = {
    400: OpenApiResponse(
        ErrorsOut,
        description=(
            "Invalid batch: every bad record, by index and field; nothing stored. This includes an `occurred_at` "
            "outside the accepted range (INGEST_EARLIEST_TIMESTAMP to now + INGEST_MAX_FUTURE_SECONDS)."
        ),
    ),
    401: OpenApiResponse(ErrorsOut, description="No key, an unknown key or a revoked key."),
    403: OpenApiResponse(ErrorsOut, description="The key lacks the `ingest` scope."),
    413: OpenApiResponse(ErrorsOut, description=f"The body is over {settings.INGEST_MAX_BODY_BYTES:,} bytes."),
    415: OpenApiResponse(
        ErrorsOut,
        description="The Content-Type is not application/json, names a charset other than UTF-8, or the body has a "
        "Content-Encoding.",
    ),
}


class _IngestView(KnownParametersOnly, APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [CanIngest]
    parser_classes = [RawJSONParser]

    @staticmethod
    def body(request) -> bytes:
        # DRF skips the parser for an empty body and hands over an empty dict instead.
        return request.data if isinstance(request.data, bytes) else b""


# As the README says (ingest, "Strict"): a duplicated key is not refused here, for the speed of ingest alone.
_KEY_GIVEN_TWICE = (
    "A key given twice in one JSON object keeps its last value, as most JSON parsers do; the other endpoints refuse "
    "it, but finding it here would take a second, Python-level parse of every batch. Idempotency compares records "
    "as decoded: the record sent again without the duplicate is a duplicate, not a conflict."
)


def _request(component: str) -> dict:
    return {"application/json": {"$ref": f"#/components/schemas/{component}"}}


def _example(summary: str, value: dict) -> list[OpenApiExample]:
    # The docs page's "Try it out" starts from it; without one, Swagger UI makes a body of nulls that is refused.
    return [OpenApiExample(summary, value=value, request_only=True)]


# The README's examples ("Sending data").
_OUTPUTS_EXAMPLE = {
    "outputs": [
        {
            "external_id": "conv-1041:turn-3",
            "occurred_at": "2026-11-23T09:15:00+01:00",
            "end_user_id": "u-8f3a",
            "session_id": "conv-1041",
            "model": "gpt-4o-2024-08-06",
            "input": [{"role": "user", "content": "Can I return shoes I wore once?"}],
            "output": "Yes, within 30 days if they are clean and in the original box.",
            "context": [{"source": "returns-policy.md", "text": "…"}],
            "metadata": {"feature": "support-chat", "locale": "en-GB"},
            "tags": ["returns"],
            "feedback": {"score": 1, "comment": "quick answer"},
        },
        {"external_id": "conv-1042:turn-1", "input": "Where is my order?", "output": "It ships tomorrow."},
    ]
}
_EVENTS_EXAMPLE = {
    "events": [
        {
            "end_user_id": "u-8f3a",
            "name": "session_start",
            "external_id": "ev-77120",
            "occurred_at": "2026-11-23T09:14:00Z",
            "properties": {"platform": "ios"},
        },
        {"end_user_id": "u-8f3a", "name": "message_sent", "external_id": "ev-77121"},
    ]
}
_FEEDBACK_EXAMPLE = {
    "feedback": [
        {"external_id": "conv-1042:turn-1", "score": -1, "comment": "It did not ship."},
        {"external_id": "conv-9999:turn-1", "score": 1},
    ]
}


class OutputsIngestView(_IngestView):
    @extend_schema(
        operation_id="ingest_outputs",
        summary="Send AI outputs (batch, idempotent by external_id)",
        description=(
            f"At most {settings.INGEST_MAX_RECORDS:,} records and {settings.INGEST_MAX_BODY_BYTES:,} bytes per "
            "request. All-or-nothing: one invalid record refuses the batch. Unknown fields are refused. "
            f"Strings may not contain NUL; JSON values nest at most {settings.INGEST_MAX_JSON_DEPTH} levels. "
            f"{_KEY_GIVEN_TWICE}"
        ),
        request=_request("OutputsBatch"),
        examples=_example("Two outputs", _OUTPUTS_EXAMPLE),
        responses={200: IngestResultOut, **_ERRORS},
    )
    def post(self, request):
        result = ingest.ingest_outputs(project=request.auth.project, body=self.body(request))
        return Response(result.as_dict())


class EventsIngestView(_IngestView):
    @extend_schema(
        operation_id="ingest_events",
        summary="Send usage events (batch; idempotent when external_id is given)",
        description=f"The same rules as outputs. {_KEY_GIVEN_TWICE}",
        request=_request("EventsBatch"),
        examples=_example("Two usage events", _EVENTS_EXAMPLE),
        responses={200: IngestResultOut, **_ERRORS},
    )
    def post(self, request):
        result = ingest.ingest_events(project=request.auth.project, body=self.body(request))
        return Response(result.as_dict())


class FeedbackIngestView(_IngestView):
    @extend_schema(
        operation_id="ingest_feedback",
        summary="Send end-user feedback for outputs sent earlier",
        description=(
            "The last feedback sent for an output wins. Unknown external ids are listed in `not_found`. "
            f"{_KEY_GIVEN_TWICE}"
        ),
        request=_request("FeedbackBatch"),
        examples=_example("Late feedback", _FEEDBACK_EXAMPLE),
        responses={200: FeedbackResultOut, **_ERRORS},
    )
    def post(self, request):
        result = ingest.record_feedback(project=request.auth.project, body=self.body(request))
        return Response(result.as_dict())
