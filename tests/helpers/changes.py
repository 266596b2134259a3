"""Outputs, events and gold verdicts made in bulk for a given cycle week (tests of "what changed")."""

from datetime import date, timedelta

from django.utils import timezone

from labeling.models import Item, Output, Queue, Resolution, UsageEvent
from labeling.rules.calendar import week_start

_serial = iter(range(10**9))


def _moments(project, week: date, count: int, *, hours: float = 7 * 24):
    """`count` moments spread evenly over the first `hours` of the week."""
    start = week_start(project, week)
    step = hours * 3600 / max(count, 1)
    return [start + timedelta(seconds=step * (i + 0.5)) for i in range(count)]


def add_outputs(
    project,
    week: date,
    count: int,
    *,
    down: int = 0,
    rated: int = 0,
    commented: int = 0,
    model: str = "gpt",
    tags: list | None = None,
    metadata: dict | None = None,
    chars: int | list[int] | None = None,
    hours: float = 7 * 24,
) -> list[Output]:
    """`count` outputs in the week: the first `down` thumbed down, up to `rated` rated (the rest thumbs up), the
    first `commented` with a comment; `chars` one length for all or one per output."""
    assert down <= rated <= count and commented <= count
    now = timezone.now()
    rows = []
    for i, moment in enumerate(_moments(project, week, count, hours=hours)):
        n = next(_serial)
        score = -1 if i < down else 1 if i < rated else None
        rows.append(
            Output(
                project=project,
                external_id=f"chg-{n}",
                occurred_at=moment,
                received_at=now,
                model=model,
                input="q",
                output="a",
                tags=list(tags or []),
                metadata=dict(metadata or {}),
                feedback_score=score,
                feedback_comment="why" if i < commented else "",
                content_hash=f"{n:064x}",
                output_chars=chars[i] if isinstance(chars, list) else chars,
            )
        )
    return Output.objects.bulk_create(rows)


def add_events(project, week: date, count: int, *, name: str = "session_start", hours: float = 7 * 24) -> None:
    now = timezone.now()
    UsageEvent.objects.bulk_create(
        UsageEvent(
            project=project,
            end_user_id=f"u{i % 17}",
            name=name,
            occurred_at=moment,
            received_at=now,
            content_hash=f"{next(_serial):064x}",
        )
        for i, moment in enumerate(_moments(project, week, count, hours=hours))
    )


def add_verdicts(
    project, outputs: list[Output], week: date, *, passes: int, key: str = "correct", queue: str = "gold"
) -> None:
    """Gold verdicts on `outputs` (items of `queue` in `week`): the first `passes` pass, the rest fail."""
    queue, _ = Queue.objects.get_or_create(project=project, slug=queue, defaults={"name": queue, "overlap": 1})
    items = Item.objects.bulk_create(
        Item(project=project, queue=queue, output=out, week=week, overlap=1) for out in outputs
    )
    Resolution.objects.bulk_create(
        Resolution(item=item, status="resolved", automatic={key: {"value": i < passes, "method": "unanimous"}})
        for i, item in enumerate(items)
    )
