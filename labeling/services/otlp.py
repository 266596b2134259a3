"""Store the LLM calls of an OTLP trace export as outputs (README "OpenTelemetry").

The export request is decoded with the official OpenTelemetry message classes (protobuf, or OTLP/JSON read
into the same message), its spans turned into plain dicts, and each LLM span mapped to an output record by
`labeling.rules.otlp`. The records then take the REST ingest's road: `records.decode_batch` validates them
(a record it refuses rejects that span only, with its reason) and `ingest.ingest_outputs` stores the rest,
redacted and routed like any batch, at most INGEST_MAX_RECORDS per transaction. The external id is
`<trace id>:<span id>`, so an export sent again stores nothing new.
"""

import base64
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import msgspec
from django.conf import settings
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from labeling.exceptions import InvalidInput
from labeling.models import Project
from labeling.rules.otlp import MappedSpan, map_span
from labeling.rules.text import counted

from . import records as rec
from .ingest import ingest_outputs
from .platform import record_ingest_errors

PROTOBUF, JSON = "protobuf", "json"
MAX_REASONS_SHOWN = 5
MAX_VALUE_DEPTH = 10  # attribute values nested deeper (kvlists in arrays in …) are kept as a marker string
TOO_DEEP_MARKER = f"[nested deeper than {MAX_VALUE_DEPTH} levels]"
MAX_PARSE_ERROR_CHARS = 500
CONFLICT_REASON = "An output with this trace and span id is stored with other content; the stored one is kept."


@dataclass
class Rejection:
    label: str  # "<trace id>:<span id> (<span name>)"
    reason: str

    def __str__(self) -> str:
        return f"span {self.label}: {self.reason}"


@dataclass
class TracesResult:
    """What became of an export's spans: LLM spans stored (created, duplicates, conflicts) or rejected; others
    ignored."""

    spans: int = 0
    created: int = 0
    duplicates: int = 0
    conflicts: int = 0
    ignored: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def error_message(self) -> str:
        """Why spans were rejected, the first few with their ids; empty when none was."""
        if not self.rejected:
            return ""
        shown = "; ".join(map(str, self.rejected[:MAX_REASONS_SHOWN]))
        more = len(self.rejected) - MAX_REASONS_SHOWN
        return f"{counted(len(self.rejected), 'LLM span')} rejected: {shown}" + (
            f"; and {more} more." if more > 0 else ""
        )


@dataclass
class MappedExport:
    """An export's LLM spans as output records, with the spans that cannot become one and the count of others."""

    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (span label, record)
    rejected: list[Rejection] = field(default_factory=list)
    ignored: int = 0
    spans: int = 0


def ingest_traces(*, project: Project, body: bytes, encoding: str) -> TracesResult:
    """Decode an ExportTraceServiceRequest and store its LLM spans as outputs; raise InvalidInput when the body
    is not one. Spans that cannot be stored are rejected one by one; the others are stored."""
    try:
        mapped = map_export(decode_export(body, encoding=encoding))
    except InvalidInput:
        record_ingest_errors(project=project, count=1)  # an export refused whole: its spans cannot be counted
        raise
    result = TracesResult(spans=mapped.spans, ignored=mapped.ignored, rejected=mapped.rejected)
    size = settings.INGEST_MAX_RECORDS
    for start in range(0, len(mapped.records), size):
        chunk = mapped.records[start : start + size]
        body, problems = validated_batch(chunk)
        result.rejected += problems
        if body is None:
            continue
        stored = ingest_outputs(project=project, body=body)
        result.created += stored.created
        result.duplicates += stored.duplicates
        result.conflicts += stored.conflicts
        # A span id stored before with other content keeps the stored output: this span's content is refused.
        labels = {record["external_id"]: label for label, record in chunk}
        result.rejected += [Rejection(labels[key], CONFLICT_REASON) for key in stored.conflict_ids]
    record_ingest_errors(project=project, count=len(result.rejected))
    return result


def validated_batch(chunk: list[tuple[str, dict[str, Any]]]) -> tuple[bytes | None, list[Rejection]]:
    """The records ingest accepts as one `{"outputs": [...]}` body (None if none is), and the others' reasons,
    found by the REST ingest's own validation."""
    encoded, labels, problems = [], [], []
    for label, record in chunk:
        try:
            encoded.append(rec.encode_record(record))
        except InvalidInput as exc:
            problems.append(Rejection(label, exc.message))
            continue
        labels.append(label)
    bad = rec.output_problems(encoded)
    problems += [
        Rejection(labels[index], f"{errors[0].field or '(record)'}: {errors[0].message}")
        for index, errors in sorted(bad.items())
    ]
    good = [raw for index, raw in enumerate(encoded) if index not in bad]
    return (rec.outputs_body(good) if good else None), problems


# Decoding -----------------------------------------------------------------------------------------------------


def decode_export(body: bytes, *, encoding: str) -> ExportTraceServiceRequest:
    """The ExportTraceServiceRequest in the body (binary protobuf or OTLP/JSON); InvalidInput saying why not."""
    if encoding == PROTOBUF:
        return _decode_protobuf(body)
    return _decode_json(body)


def _decode_protobuf(body: bytes) -> ExportTraceServiceRequest:
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, RecursionError) as exc:
        raise InvalidInput(f"The body is not an OTLP ExportTraceServiceRequest in protobuf: {exc}") from None
    # Bytes that happen to parse, holding only fields the message does not have, are not an export.
    if body and not request.resource_spans and len(UnknownFieldSet(request)):
        raise InvalidInput("The body is not an OTLP ExportTraceServiceRequest: it has no resource_spans field.")
    return request


def _decode_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise InvalidInput("The JSON nests too deep to be an OTLP export.") from None
    return request_from_json(document)


def request_from_json(document: Any) -> ExportTraceServiceRequest:
    """An OTLP/JSON document (hex trace and span ids, lowerCamelCase keys) as the protobuf message."""
    if not isinstance(document, dict) or (document and "resourceSpans" not in document):
        raise InvalidInput('Not an OTLP ExportTraceServiceRequest: send {"resourceSpans": [...]} as OTLP/JSON.')
    _prepare(document)
    _refuse_values_for_messages(document, ExportTraceServiceRequest.DESCRIPTOR)
    request = ExportTraceServiceRequest()
    try:
        # OTLP/JSON receivers must ignore fields they do not know (the OTLP specification).
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        # The parser prefixes its reason with one "Failed to parse … field:" per level: keep the reason.
        text = str(exc).rstrip(".") + "."  # and ends it with one full stop per level
        text = text if len(text) <= MAX_PARSE_ERROR_CHARS else "…" + text[-MAX_PARSE_ERROR_CHARS + 1 :]
        raise InvalidInput(f"Not an OTLP ExportTraceServiceRequest: {text}") from None
    return request


def _prepare(document: dict[str, Any]) -> None:
    """Make an OTLP/JSON document what protobuf's JSON parser takes, in place: hex ids to base64, values nested
    too deep cut."""
    for r, resource_spans in _indexed_dicts(document.get("resourceSpans")):
        _cut_deep_values(_dict(resource_spans.get("resource")).get("attributes"))
        for s, scope_spans in _indexed_dicts(resource_spans.get("scopeSpans")):
            _cut_deep_values(_dict(scope_spans.get("scope")).get("attributes"))
            for index, span in _indexed_dicts(scope_spans.get("spans")):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{index}]"
                _ids_to_base64(span, where)
                links = _indexed_dicts(span.get("links"))
                for position, link in links:
                    _ids_to_base64(link, f"{where}.links[{position}]")
                for owner in (span, *_dicts(span.get("events")), *(link for _, link in links)):
                    _cut_deep_values(owner.get("attributes"))


def _refuse_values_for_messages(document: dict[str, Any], descriptor: Descriptor, path: str = "") -> None:
    """InvalidInput where a message of `descriptor` (at any depth) holds a value that is no JSON object.

    Protobuf's JSON parser, told to ignore unknown fields (as OTLP/JSON receivers must), takes a string where a
    message belongs as that message, with its characters for field names, all unknown and ignored: a span sent as
    `"x"` became an empty span and the export a success that stored nothing. Runs after _prepare, which cuts
    attribute values nested too deep, so the walk stays shallow."""
    fields = _fields_by_key(descriptor)
    for key, value in document.items():
        field = fields.get(key)
        if field is None or field.message_type is None or value is None:
            continue  # unknown fields are ignored; scalars, and a list's own shape, are the parser's to check
        repeated = field.is_repeated
        if repeated and not isinstance(value, list):
            continue
        for index, item in enumerate(value if repeated else [value]):
            where = f"{path}{key}[{index}]" if repeated else f"{path}{key}"
            if not isinstance(item, dict):
                kind = _JSON_KINDS.get(type(item), type(item).__name__)
                raise InvalidInput(
                    f"Not an OTLP ExportTraceServiceRequest: {where} is {kind} where a {field.message_type.name} "
                    "object belongs."
                )
            _refuse_values_for_messages(item, field.message_type, f"{where}.")


@cache
def _fields_by_key(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    """A message's fields by the keys the JSON parser takes for them: lowerCamelCase and the proto name."""
    return {key: field for field in descriptor.fields for key in (field.json_name, field.name)}


_JSON_KINDS = {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "a list"}


def _ids_to_base64(owner: dict[str, Any], where: str) -> None:
    """OTLP/JSON writes trace and span ids in hex where protobuf's JSON mapping expects base64: convert in place.

    Base64 from an older sender is left for the parser. Anything else is refused here, as sent: the parser reads
    base64 leniently (`zz` is the byte 0xcf), so a typo was refused later naming bytes the sender never wrote."""
    for key, size in _ID_BYTES.items():
        value = owner.get(key)
        if not isinstance(value, str) or not value:
            continue
        try:
            owner[key] = base64.b64encode(bytes.fromhex(value)).decode()
        except ValueError:
            if not _is_base64_id(value, size):
                raise InvalidInput(
                    f"Not an OTLP ExportTraceServiceRequest: {where}.{key} must be hex (or base64); got {value[:64]!r}."
                ) from None


_ID_BYTES = {"traceId": 16, "spanId": 8, "parentSpanId": 8}  # OTLP's id sizes


def _is_base64_id(text: str, size: int) -> bool:
    """Base64 of an id of `size` bytes, in the standard or URL-safe alphabet, its padding optional: the parser pads
    what a sender left unpadded, so an unpadded id is read as before."""
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except ValueError:
        return False
    return len(raw) == size


def _cut_deep_values(key_values: Any) -> None:
    for item in _dicts(key_values):
        _cut(item.get("value"), 1)


def _cut(value: Any, depth: int) -> None:
    """An AnyValue's arrays and kvlists nested deeper than MAX_VALUE_DEPTH replaced by the marker, in place, as
    `_value` does for protobuf: protobuf's JSON parser refuses the whole export past ~30 kvlist levels."""
    if not isinstance(value, dict):
        return
    for kind in ("arrayValue", "array_value", "kvlistValue", "kvlist_value"):
        if kind not in value:
            continue
        if depth > MAX_VALUE_DEPTH:
            value.clear()
            value["stringValue"] = TOO_DEEP_MARKER
            return
        for item in _dicts(_dict(value[kind]).get("values")):
            _cut(item if kind.startswith("array") else item.get("value"), depth + 1)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def _indexed_dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """The objects of a list with their positions in it (the path an error names)."""
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]


# Plain spans --------------------------------------------------------------------------------------------------


def map_export(request: ExportTraceServiceRequest) -> MappedExport:
    """Every span of the export through the mapping: records of LLM spans, rejections, the count of others."""
    mapped = MappedExport()
    for span in plain_spans(request):
        mapped.spans += 1
        outcome: MappedSpan | None = map_span(span)
        if outcome is None:
            mapped.ignored += 1
        elif outcome.record is None:
            mapped.rejected.append(Rejection(outcome.label, outcome.problem or "Cannot be stored."))
        else:
            mapped.records.append((outcome.label, outcome.record))
    return mapped


def plain_spans(request: ExportTraceServiceRequest) -> Iterator[dict[str, Any]]:
    """Each span as the plain dict `labeling.rules.otlp` reads, with its resource's attributes."""
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield {
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "name": span.name,
                    "start_ns": span.start_time_unix_nano,
                    "end_ns": span.end_time_unix_nano,
                    "status_code": span.status.code,
                    "status_message": span.status.message,
                    "attributes": _attributes(span.attributes),
                    "events": [
                        {"name": e.name, "time_ns": e.time_unix_nano, "attributes": _attributes(e.attributes)}
                        for e in span.events
                    ],
                    "resource": resource,
                }


def _attributes(key_values) -> dict[str, Any]:
    return {item.key: _value(item.value, 1) for item in key_values}


def _value(value: AnyValue, depth: int) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("array_value", "kvlist_value") and depth > MAX_VALUE_DEPTH:
        return TOO_DEEP_MARKER
    if kind == "array_value":
        return [_value(item, depth + 1) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: _value(item.value, depth + 1) for item in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "double_value" and not math.isfinite(value.double_value):
        return str(value.double_value)
    return getattr(value, kind)
