"""A write's twin: the same write by the same person moments ago. A double click with scripts off, a browser sending
a slow POST again or a proxy's retry each post a form twice; the second post must write nothing and answer as the
first did (or, where that cannot be, say why: a key's or token's secret is shown once, so a second is issued and the
page names the first, to revoke).

Services look for the twin under the lock that orders such writes (the parent row's), so a twin arriving at the same
instant waits for the first and then finds it. Writing the same again after TWIN_WINDOW is meant, and is recorded.
"""

import hashlib
import json
from datetime import datetime, timedelta

from django.db.models import Model, QuerySet
from django.utils import timezone

from labeling.models import AuditEvent

# Longer than a browser or proxy waits before sending a slow POST again; short enough that the same note, comment or
# decision written again a little later is taken as meant.
TWIN_WINDOW = timedelta(minutes=1)


def is_recent(moment: datetime | None) -> bool:
    """Whether `moment` (a write's time) is within TWIN_WINDOW of now."""
    return moment is not None and moment > timezone.now() - TWIN_WINDOW


def twin_of[M: Model](rows: QuerySet[M], *, at: str = "created_at") -> M | None:
    """The newest of `rows`, already narrowed to the same person and the same values, written within TWIN_WINDOW
    (`at`: the field holding when)."""
    return rows.filter(**{f"{at}__gt": timezone.now() - TWIN_WINDOW}).order_by(f"-{at}", "-pk").first()


def audited_twin(*, project_id: int, actor, action: str, **details) -> AuditEvent | None:
    """The actor's audit event of `action` with these `details` (key → value) moments ago: the trace of a write that
    has no row of its own (a mark, a resend)."""
    same = {f"details__{key}": value for key, value in details.items()}
    return twin_of(AuditEvent.objects.filter(project_id=project_id, actor=actor, action=action, **same), at="at")


def fingerprint(asked: object) -> str:
    """The SHA-256 of what a create was asked (JSON-like values, keys in any order): kept in its audit event as
    `asked_sha256` where the rows it makes cannot tell (a project's rubric and queues), so that the same form posted
    again is known from a different one under the same slug, which is refused as taken."""
    canonical = json.dumps(asked, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
