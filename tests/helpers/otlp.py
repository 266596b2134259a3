"""OTLP/JSON export requests written by hand, as the specification spells them (hex ids, lowerCamelCase keys,
enums as integers, 64-bit integers as strings)."""

from datetime import UTC, datetime
from typing import Any

TRACE_ID = "5b8efff798038103d269b633813fc60c"
END = datetime(2026, 11, 20, 9, 15, 1, 250000, tzinfo=UTC)  # the spans' end: occurred_at
START = datetime(2026, 11, 20, 9, 15, tzinfo=UTC)  # 1,250 ms earlier


def nanos(moment: datetime) -> int:
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(item) for item in value]}}
    return {"kvlistValue": {"values": attributes(value)}}


def attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": any_value(value)} for key, value in values.items()]


def span(
    span_id: str = "eee19b7ec3c1b174",
    *,
    name: str = "chat",
    attrs: dict[str, Any] | None = None,
    events: list[tuple[str, dict[str, Any]]] = (),
    status: int = 0,
    message: str = "",
    trace_id: str = TRACE_ID,
    start: datetime = START,
    end: datetime | None = END,
) -> dict[str, Any]:
    """One span (kind CLIENT) with its attributes and (name, attributes) events."""
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(nanos(start)),
        "endTimeUnixNano": str(nanos(end)) if end else "0",
        "attributes": attributes(attrs or {}),
        "events": [
            {"name": event, "timeUnixNano": str(nanos(START)), "attributes": attributes(values)}
            for event, values in events
        ],
        "status": {"code": status, **({"message": message} if message else {})},
    }


def export(*spans: dict[str, Any], resource: dict[str, Any] | None = None) -> dict[str, Any]:
    """An ExportTraceServiceRequest holding the spans, from one resource (service.name support-bot by default)."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attributes(resource or {"service.name": "support-bot"})},
                "scopeSpans": [{"scope": {"name": "tests.handwritten", "version": "1"}, "spans": list(spans)}],
            }
        ]
    }
