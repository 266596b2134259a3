"""A project's hourly limits (keys issued, invitations sent), written once: count the recent rows in a sliding
window and refuse past the limit, saying when the oldest of them leaves the window (Retry-After)."""

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from labeling.exceptions import TooManyRequests


def check_window_limit(rows: QuerySet, *, at: str, limit: int, window: timedelta, refusal: str) -> None:
    """Raise TooManyRequests when `limit` (1 or more) of `rows` have their `at` field within the last `window`.

    `refusal` is the message, formatted with `{limit}` and `{wait}` ("12 minutes"). The caller holds a lock that
    serialises the writes counted (the project's row), so no two requests both count one below the limit.
    """
    now = timezone.now()
    since = now - window
    recent = list(rows.filter(**{f"{at}__gt": since}).order_by(f"-{at}").values_list(at, flat=True)[:limit])
    if len(recent) < limit:
        return
    # A slot opens when the oldest of the `limit` newest rows leaves the window.
    retry_after = max(1, int((recent[-1] - since).total_seconds()) + 1)
    minutes = (retry_after + 59) // 60
    wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
    raise TooManyRequests(refusal.format(limit=limit, wait=wait), retry_after=retry_after)
