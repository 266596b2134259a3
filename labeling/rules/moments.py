"""How expertloop writes a moment it hands out: in the REST API, a webhook payload or a download.

One way, as DRF writes a datetime and the README's examples show: in UTC, with `Z`
("2026-11-20T10:02:11.470000Z"). The exception is a published dataset version's lines: their bytes are checksummed
and immutable, so they keep what they were built with (`services/datasets/rows.py`).
"""

from datetime import UTC, datetime
from typing import Any


def utc_moment(moment: datetime | None) -> str | None:
    """A moment as the API, a payload and a download write it: in UTC, with `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def stored_utc_moment(value: Any) -> Any:
    """A moment stored as ISO text (a frozen report's, an alert fact's), written as `utc_moment` writes one.

    Tolerant: what is not a moment with a zone is returned as stored (a moment with no zone names no instant, and
    reading it in the server's zone would invent one)."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return value
    return utc_moment(moment) if moment is not None and moment.tzinfo is not None else value


def stored_moments_in_utc(data: Any) -> Any:
    """A copy of stored JSON (a frozen report) with each moment it holds, a value named `at` or `…_at`, written as
    `utc_moment` writes one (`stored_utc_moment`); everything else as stored."""
    if isinstance(data, list):
        return [stored_moments_in_utc(value) for value in data]
    if not isinstance(data, dict):
        return data
    return {
        key: stored_utc_moment(value)
        if isinstance(value, str) and (key == "at" or key.endswith("_at"))
        else stored_moments_in_utc(value)
        for key, value in data.items()
    }
