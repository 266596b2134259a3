"""Decode and validate ingest batches: strict JSON in, typed records out, every bad record listed.

The wire format is defined once, by the msgspec structs below; the OpenAPI schema is generated from
them too. Decoding is strict: no coercion (a number is not a string), unknown fields are refused
(a typo such as `ouptut` must not silently lose data), timestamps need a zone.

Fast path: msgspec decodes each record straight from bytes. Only when something fails do we take a
slower, lenient look to say *which* record and field is wrong.
"""

import codecs
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from django.conf import settings

from labeling.exceptions import BatchInvalid, InvalidInput, RecordError
from labeling.rules.calendar import accepted_range
from labeling.rules.explore import NUMBER_MAX, is_double
from labeling.rules.moments import utc_moment

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="Your id; unique per project.")]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Timestamp = Annotated[
    datetime,
    msgspec.Meta(
        tz=True,
        description=(
            "ISO 8601 with a zone; default: now. Accepted from "
            f"{settings.INGEST_EARLIEST_TIMESTAMP:%Y-%m-%dT%H:%M:%SZ} (INGEST_EARLIEST_TIMESTAMP) to now + "
            f"{settings.INGEST_MAX_FUTURE_SECONDS} seconds (INGEST_MAX_FUTURE_SECONDS); others refuse the batch."
        ),
    ),
]
Comment = Annotated[str, msgspec.Meta(max_length=10_000)]
# What _check_content refuses, said in the schema too (msgspec decodes these as any value and any object).
NotNull = Annotated[
    Any, msgspec.Meta(description="Text or any JSON value but null.", extra_json_schema={"not": {"type": "null"}})
]
ChatMessage = Annotated[
    dict[str, Any],
    msgspec.Meta(
        extra_json_schema={
            "required": ["role"],
            "properties": {
                "role": {"type": "string"},
                "content": {"anyOf": [{"type": "string"}, {"type": "array"}, {"type": "null"}]},
            },
        }
    ),
]


class Feedback(msgspec.Struct, forbid_unknown_fields=True):
    """The end user's own verdict on the output."""

    score: Literal[-1, 0, 1]
    comment: Comment = ""


class OutputRecord(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One AI output. `input` is a string or a list of chat messages ({role, content, …})."""

    external_id: Id
    output: NotNull
    input: str | list[ChatMessage] | None = None
    occurred_at: Timestamp | None = None
    model: ShortText | None = None
    end_user_id: ShortText | None = None
    session_id: ShortText | None = None
    context: Any = None
    metadata: dict[str, Any] | None = None
    tags: Annotated[list[Tag], msgspec.Meta(max_length=50)] | None = None
    feedback: Feedback | None = None


class EventRecord(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One usage event of an end user (session start, message sent, …)."""

    end_user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    external_id: Id | None = None
    occurred_at: Timestamp | None = None
    properties: dict[str, Any] | None = None


class FeedbackRecord(msgspec.Struct, forbid_unknown_fields=True):
    """Feedback on an output sent earlier, found by its `external_id`."""

    external_id: Id
    score: Literal[-1, 0, 1]
    comment: Comment = ""


class OutputsBatch(msgspec.Struct, forbid_unknown_fields=True):
    outputs: list[OutputRecord]


class EventsBatch(msgspec.Struct, forbid_unknown_fields=True):
    events: list[EventRecord]


class FeedbackBatch(msgspec.Struct, forbid_unknown_fields=True):
    feedback: list[FeedbackRecord]


# What the decoder really reads: the envelope with each record kept as raw bytes, so that one bad
# record does not hide the others.
class _RawOutputs(msgspec.Struct, forbid_unknown_fields=True):
    outputs: list[msgspec.Raw]


class _RawEvents(msgspec.Struct, forbid_unknown_fields=True):
    events: list[msgspec.Raw]


class _RawFeedback(msgspec.Struct, forbid_unknown_fields=True):
    feedback: list[msgspec.Raw]


@dataclass(frozen=True)
class _Kind:
    batch: type  # typed: the fast path
    envelope: type  # records kept raw: the path that explains errors
    record: type
    key: str
    free_form: tuple[str, ...]  # fields holding arbitrary JSON, whose depth must be checked


OUTPUTS = _Kind(OutputsBatch, _RawOutputs, OutputRecord, "outputs", ("input", "output", "context", "metadata"))
EVENTS = _Kind(EventsBatch, _RawEvents, EventRecord, "events", ("properties",))
FEEDBACK = _Kind(FeedbackBatch, _RawFeedback, FeedbackRecord, "feedback", ())

_PATH = re.compile(r"`\$((?:\.[A-Za-z_][\w]*|\[\d+\])*)`")
_UNKNOWN = re.compile(r"unknown field `([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]*)`")
_encoder = msgspec.json.Encoder(order="sorted")


def decode_batch(body: bytes, kind: _Kind) -> list:
    """Return the batch's records, or raise BatchInvalid listing every bad one."""
    try:
        records = getattr(msgspec.json.decode(body, type=kind.batch, strict=True), kind.key)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return _decode_each(body, kind)  # slower, and says which records are wrong
    _check_count(len(records), kind)
    # A NUL can only be there if its escape is in the bytes: most batches skip that walk entirely.
    may_hold_nul = b"\\u0000" in body
    window, height = accepted_range(), _free_form_height()
    errors = []
    for index, record in enumerate(records):
        problem = _check_content(record, kind, may_hold_nul, window, height)
        if problem:
            errors.append(RecordError(problem[1], index, problem[0]))
    if errors:
        raise BatchInvalid(errors)
    return records


def encode_record(record: dict[str, Any]) -> bytes:
    """An output record built in Python (from another format) as JSON; InvalidInput when JSON cannot hold it."""
    try:
        return msgspec.json.encode(record)
    except (UnicodeEncodeError, OverflowError, TypeError) as exc:  # a lone surrogate, an int past 64 bits, …
        raise InvalidInput(f"Cannot be encoded as JSON: {exc}.") from None


def outputs_body(raws: list[bytes]) -> bytes:
    """Output records, each already JSON, spliced into one `{"outputs": [...]}` body (nothing parsed)."""
    return b'{"outputs":[' + b",".join(raws) + b"]}"


def output_problems(raws: list[bytes]) -> dict[int, list[RecordError]]:
    """Why each output record (already JSON) cannot be stored, by its index; empty when all can. The ingest's own
    validation, run on all at once; a record that is not one JSON object spoils that body, so then one by one."""
    try:
        if len(decode_batch(outputs_body(raws), OUTPUTS)) == len(raws):
            return {}
    except BatchInvalid as invalid:
        if all(error.index is not None for error in invalid.errors):
            return _by_index(invalid.errors)
    problems = {}
    for index, raw in enumerate(raws):
        try:
            if len(decode_batch(outputs_body([raw]), OUTPUTS)) != 1:
                problems[index] = [RecordError("Must be exactly one JSON object.", index)]
        except BatchInvalid as invalid:
            problems[index] = [RecordError(error.message, index, error.field) for error in invalid.errors]
    return problems


def _by_index(errors: list[RecordError]) -> dict[int, list[RecordError]]:
    found: dict[int, list[RecordError]] = {}
    for error in errors:
        found.setdefault(error.index, []).append(error)
    return found


def _decode_each(body: bytes, kind: _Kind) -> list:
    envelope = _decode_envelope(body, kind)
    raws = getattr(envelope, kind.key)
    _check_count(len(raws), kind)
    decoder = msgspec.json.Decoder(kind.record, strict=True)
    window, height = accepted_range(), _free_form_height()
    records, errors = [], []
    for index, raw in enumerate(map(bytes, raws)):
        try:
            record = decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            errors.append(_explain(exc, index, raw))
            continue
        problem = _check_content(record, kind, b"\\u0000" in raw, window, height)
        if problem:
            errors.append(RecordError(problem[1], index, problem[0]))
        else:
            records.append(record)
    if errors:
        raise BatchInvalid(errors)
    return records


def _check_count(count: int, kind: _Kind) -> None:
    if count > settings.INGEST_MAX_RECORDS:
        raise BatchInvalid(
            [RecordError(f"At most {settings.INGEST_MAX_RECORDS} records per request; got {count}.", None, kind.key)]
        )


def _decode_envelope(body: bytes, kind: _Kind):
    if not body.strip():
        raise BatchInvalid([RecordError(f'The body is empty; send {{"{kind.key}": [...]}}.')])
    try:
        return msgspec.json.decode(body, type=kind.envelope, strict=True)
    except msgspec.ValidationError as exc:
        field = _field_from(str(exc)) or kind.key
        raise BatchInvalid([RecordError(f'{_message_of(exc)}; send {{"{kind.key}": [...]}}.', None, field)]) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BatchInvalid(_locate_syntax_errors(body, kind, exc)) from None
    except RecursionError:
        # msgspec stops at Python's recursion limit; the lenient parsers below would only hit it again.
        raise BatchInvalid([RecordError(too_deep_message())]) from None


def _explain(exc: Exception, index: int, raw: bytes) -> RecordError:
    if isinstance(exc, msgspec.ValidationError):
        text = str(exc)
        field, message = _field_from(text), _message_of(exc)
        if message == TIMESTAMP_NEEDED and field == "occurred_at":
            document = _lenient_loads(raw)
            message = _timestamp_refusal(document.get("occurred_at") if isinstance(document, dict) else None)
        return RecordError(message, index, field)
    found = _find_bad_values(_lenient_loads(raw))
    if found:
        return RecordError(found[1], index, found[0])
    return RecordError(f"Not valid JSON: {exc}.", index, None)


# msgspec's words for a timestamp that is a date alone, or a time without a zone, name neither.
_TIMESTAMP_REFUSALS = ("Invalid RFC3339 encoded datetime", "Expected `datetime` with a timezone component")
_ENUM_REFUSAL = "Invalid enum value "
TIMESTAMP_NEEDED = (
    "Expected a date and time with a time zone (RFC 3339), e.g. 2026-11-20T14:03:00Z or 2026-11-20T15:03:00+01:00."
)


# A timestamp of the right shape, zone included, that msgspec refused: its day, month, time or offset is out of range.
# ASCII digits only, as RFC 3339 has them (`\d` would take other scripts' digits, which msgspec refuses as no shape).
_WELL_SHAPED_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _timestamp_refusal(value: object) -> str:
    """What is wrong with a refused `occurred_at`: a missing time or zone, or (November 31st) no such moment."""
    if isinstance(value, str) and _WELL_SHAPED_TIMESTAMP.fullmatch(value):
        return (
            f"{value!r} is no date and time: a day, month, hour, minute, second or the zone's offset is out of its "
            "range (RFC 3339)."
        )
    return TIMESTAMP_NEEDED


def _message_of(exc: Exception) -> str:
    message = str(exc).split(" - at `", 1)[0]
    if message.startswith(_ENUM_REFUSAL) and (_field_from(str(exc)) or "").endswith("score"):
        # msgspec says "Invalid enum value 2", not which values a score takes.
        return f"Invalid value {message.removeprefix(_ENUM_REFUSAL)}: use -1 (thumbs down), 0 or 1 (thumbs up)."
    return TIMESTAMP_NEEDED if message in _TIMESTAMP_REFUSALS else message


def _field_from(text: str) -> str | None:
    """`$.feedback.score` → `feedback.score`; an unknown or missing field names itself."""
    for pattern in (_UNKNOWN, _MISSING):
        match = pattern.search(text)
        if match:
            prefix = _PATH.search(text)
            parent = prefix.group(1).lstrip(".") if prefix else ""
            return f"{parent}.{match.group(1)}" if parent else match.group(1)
    match = _PATH.search(text)
    return match.group(1).lstrip(".") or None if match else None


def _free_form_height() -> int:
    # A field's value sits at depth 2 (the record is 1); the slow walk below names the exact path.
    return settings.INGEST_MAX_JSON_DEPTH - 2


def _check_content(
    record, kind: _Kind, may_hold_nul: bool, window: tuple[datetime, datetime], height: int
) -> tuple[str, str] | None:
    """What strict typing cannot say: timestamps out of range, NUL characters, nesting depth, chat message
    shape, null output. `height`: how deep a free-form field's value may nest below itself."""
    moment = getattr(record, "occurred_at", None)
    # Compared as aware datetimes, never converted: year 1 at +01:00 has no UTC form (an OverflowError).
    if moment is not None and not window[0] <= moment <= window[1]:
        earliest, latest = (f"{bound.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}" for bound in window)
        # Echoed at its own offset, but a UTC one as it was sent and as the bounds are written: `Z`, not `+00:00`.
        got = utc_moment(moment) if moment.utcoffset() == timedelta(0) else moment.isoformat()
        return "occurred_at", f"Out of range: accepted from {earliest} to {latest}; got {got}."
    if isinstance(record, OutputRecord):
        if record.output is None:
            return "output", "Expected a string or JSON value, got null."
        if isinstance(record.input, list):
            for position, message in enumerate(record.input):
                if not isinstance(message.get("role"), str):
                    return f"input[{position}].role", "Each chat message needs a string `role`."
                # A missing `content` reads as null: the OpenAI SDK's `model_dump(exclude_none=True)` leaves it out of
                # an assistant turn that only called tools, and such records have always been stored as sent.
                if not isinstance(message.get("content"), str | list | None):
                    return f"input[{position}].content", "A chat message's `content` is a string or a list of parts."
        for key, value in (record.metadata or {}).items():
            if type(value) is int and not is_double(value):
                return f"metadata.{key}", (
                    f"This number is too large to be read as one (at most ±{NUMBER_MAX:.4g}); send it as a string."
                )
    too_deep = False
    for name in kind.free_form:
        value = getattr(record, name)
        if (type(value) is dict or type(value) is list) and _taller_than(value, height):
            too_deep = True
            break
    if may_hold_nul or too_deep:
        return _find_bad_values(msgspec.to_builtins(record))
    return None


def _taller_than(value: dict | list, height: int) -> bool:
    """Is the JSON object or array nested more than `height` levels below itself? (Decoded JSON holds exactly
    dict and list; scalars are skipped without a call, which is most of a batch.)"""
    children = value.values() if type(value) is dict else value
    if not children:
        return False
    if height <= 0:
        return True
    for child in children:
        if (type(child) is dict or type(child) is list) and _taller_than(child, height - 1):
            return True
    return False


def _lenient_loads(raw: bytes) -> Any:
    """Parse what strict JSON refuses (NaN, bad UTF-8, lone surrogates) so we can point at it."""
    try:
        return json.loads(raw.decode("utf-8", errors="surrogateescape"), parse_constant=_NonFinite)
    except (ValueError, RecursionError):
        return None


class _NonFinite(str):
    """Marks NaN / Infinity found by the lenient parser."""


def too_deep_message() -> str:
    return f"The JSON nests deeper than {settings.INGEST_MAX_JSON_DEPTH} levels."


def find_unstorable(value: Any) -> tuple[str | None, str] | None:
    """(field path, message) for the first value that cannot be stored as JSON in PostgreSQL, or None.

    Refuses NUL characters and lone surrogates in keys and strings, and nesting deeper than
    INGEST_MAX_JSON_DEPTH; the walk itself stops at that depth, so it never hits the recursion limit.
    """
    return _find_bad_values(value)


def _find_bad_values(value: Any, path: str = "", depth: int = 1) -> tuple[str, str] | None:
    """Return (field path, message) for the first value PostgreSQL or JSON would refuse."""
    if depth > settings.INGEST_MAX_JSON_DEPTH:
        return path or None, f"Nested deeper than {settings.INGEST_MAX_JSON_DEPTH} levels."
    if isinstance(value, _NonFinite):
        # Neutral: whether null or a string would do depends on the field (`output` takes no null).
        return path or None, f"{value} is not valid JSON."
    if isinstance(value, str):
        return _check_string(value, path)
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            problem = _check_string(key, child) or _find_bad_values(item, child, depth + 1)
            if problem:
                return problem
    elif isinstance(value, list):
        for position, item in enumerate(value):
            problem = _find_bad_values(item, f"{path}[{position}]", depth + 1)
            if problem:
                return problem
    return None


def _check_string(text: str, path: str) -> tuple[str, str] | None:
    if "\x00" in text:
        return path or None, "Contains a NUL character (\\u0000), which cannot be stored."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return path or None, "Contains invalid UTF-8 or an unpaired surrogate escape."
    return None


def _locate_syntax_errors(body: bytes, kind: _Kind, exc: Exception) -> list[RecordError]:
    """The body is not strict JSON: find the records at fault, else describe the body's error."""
    if body.startswith(codecs.BOM_UTF8):  # as PowerShell's and .NET's UTF-8 writers start a file
        return [RecordError("The body starts with a UTF-8 byte order mark (bytes EF BB BF): send the JSON without it.")]
    document = _lenient_loads(body)
    records = document.get(kind.key) if isinstance(document, dict) else None
    if isinstance(records, list):
        errors = []
        for index, record in enumerate(records):
            found = _find_bad_values(record)
            if found:
                errors.append(RecordError(found[1], index, found[0]))
        if errors:
            return errors
    if isinstance(exc, UnicodeDecodeError):
        return [RecordError(f"The body is not valid UTF-8 (byte {exc.start}).")]
    return [RecordError(f"The body is not valid JSON: {exc}.")]


def canonical_json(value: Any) -> str | None:
    """JSON text with sorted keys, for jsonb columns and content hashes. None stays None (SQL NULL)."""
    return None if value is None else _encoder.encode(value).decode()


def content_hash(*parts: Any) -> str:
    """SHA-256 of the canonical JSON of a record's parts: equal content, equal hash."""
    return hashlib.sha256(_encoder.encode(parts)).hexdigest()


def utc(moment: datetime | None, default: datetime) -> datetime:
    return default if moment is None else moment.astimezone(UTC)


def request_schemas() -> dict[str, dict]:
    """JSON Schemas of the request bodies, as OpenAPI components."""
    _, components = msgspec.json.schema_components(
        [OutputsBatch, EventsBatch, FeedbackBatch], ref_template="#/components/schemas/{name}"
    )
    for kind in (OUTPUTS, EVENTS, FEEDBACK):  # _check_count's limit, a setting read when the schema is built
        components[kind.batch.__name__]["properties"][kind.key]["maxItems"] = settings.INGEST_MAX_RECORDS
    return components
