"""Place outputs into review queues: each queue's rule, deterministic sample and weekly quota.

A rule is data ({"tags_any": [...], "metadata": {...}, ...}), interpreted by `rule_matches`, never
turned into ORM keyword arguments. Sampling hashes the queue and the output, so the same output always
gets the same decision. Placement into one queue holds that queue's row lock: concurrent or retried
routing tasks are serialised per queue, which keeps a weekly quota exact (50 means 50, never 51), and
the unique (queue, output) constraint makes a repeat a no-op.
"""

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Literal

import msgspec
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from labeling.calendar import cycle_week, week_start
from labeling.exceptions import InvalidSpec
from labeling.models import Item, Output, Project, Queue, RoutingState, Slot

logger = logging.getLogger(__name__)

_ROUTING_FIELDS = [
    "pk", "project_id", "external_id", "occurred_at", "model", "tags", "metadata", "feedback_score", "feedback_comment",
]  # fmt: skip


class Rule(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A queue's filter. Every given condition must hold; an empty rule matches every output."""

    tags_any: list[str] | None = None
    tags_all: list[str] | None = None
    metadata: dict[str, str | int | float | bool | list[str | int | float | bool]] | None = None
    models: list[str] | None = None
    feedback_scores: list[Literal[-1, 0, 1]] | None = None
    has_comment: bool | None = None


def validate_rule(raw: object) -> dict:
    """Return the rule in canonical form, or raise InvalidSpec saying what is wrong."""
    try:
        return msgspec.to_builtins(msgspec.convert({} if raw is None else raw, Rule, strict=True))
    except msgspec.ValidationError as exc:
        raise InvalidSpec(f"Invalid queue rule: {exc}") from None


def rule_matches(rule: dict, output: Output) -> bool:
    """Does the output meet every condition of the (validated) rule?"""
    tags = set(output.tags or [])
    if "tags_any" in rule and not tags.intersection(rule["tags_any"]):
        return False
    if "tags_all" in rule and not tags.issuperset(rule["tags_all"]):
        return False
    if "models" in rule and output.model not in rule["models"]:
        return False
    if "feedback_scores" in rule and output.feedback_score not in rule["feedback_scores"]:
        return False
    if "has_comment" in rule and bool(output.feedback_comment) != rule["has_comment"]:
        return False
    metadata = output.metadata or {}
    for key, wanted in (rule.get("metadata") or {}).items():
        if key not in metadata:
            return False
        allowed = wanted if isinstance(wanted, list) else [wanted]
        # bool is an int in Python: compare types too, so {"vip": true} does not match 1.
        if not any(type(metadata[key]) is type(value) and metadata[key] == value for value in allowed):
            return False
    return True


def is_sampled(queue: Queue, output: Output) -> bool:
    """The same (queue, output) pair always gets the same answer."""
    if queue.sample_rate >= 1:
        return True
    digest = hashlib.sha256(f"{queue.pk}:{output.pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < queue.sample_rate


def route_outputs(*, project_id: int, output_ids: list[int], reevaluate: bool = False) -> int:
    """Place the outputs into every active queue whose rule they meet; return how many items were made.

    Outputs routed before are skipped unless `reevaluate` (late feedback can change which rules an
    output meets). Idempotent either way: routing again makes only what is missing.
    """
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return 0
    outputs = Output.objects.filter(project=project, pk__in=output_ids)
    if not reevaluate:
        outputs = outputs.unrouted()
    outputs = list(outputs.only(*_ROUTING_FIELDS))
    created = 0
    for queue in Queue.objects.active().filter(project=project):
        matching = [output for output in outputs if is_sampled(queue, output) and rule_matches(queue.rule, output)]
        if matching:
            created += place_in_queue(project=project, queue_id=queue.pk, outputs=matching)
    Output.objects.unrouted().filter(pk__in=[output.pk for output in outputs]).update(routed_at=timezone.now())
    return created


@transaction.atomic
def place_in_queue(*, project: Project, queue_id: int, outputs: Iterable[Output]) -> int:
    """Make items (and their label slots) for outputs not in the queue yet, within each week's quota."""
    # The queue's row lock serialises placements into it: the quota count below cannot go stale.
    queue = Queue.objects.select_for_update().get(pk=queue_id)
    outputs = sorted(outputs, key=lambda output: (output.occurred_at, output.pk))
    present = set(
        Item.objects.filter(queue=queue, output__in=[output.pk for output in outputs]).values_list(
            "output_id", flat=True
        )
    )
    by_week: dict[date, list[Output]] = defaultdict(list)
    for output in outputs:
        if output.pk not in present:
            by_week[cycle_week(project, output.occurred_at)].append(output)
    if queue.weekly_quota is not None and by_week:
        used = dict(
            Item.objects.filter(queue=queue, week__in=list(by_week))
            .values("week")
            .annotate(count=Count("pk"))
            .values_list("week", "count")
        )
        by_week = {week: chosen[: max(0, queue.weekly_quota - used.get(week, 0))] for week, chosen in by_week.items()}
    items = Item.objects.bulk_create(
        [
            Item(project=project, queue=queue, output=output, week=week, overlap=queue.overlap, priority=queue.priority)
            for week, chosen in by_week.items()
            for output in chosen
        ]
    )
    Slot.objects.bulk_create(
        [
            Slot(item=item, queue=queue, priority=item.priority, number=number)
            for item in items
            for number in range(1, item.overlap + 1)
        ]
    )
    return len(items)


def backfill_queue(*, queue: Queue, since: datetime | None = None, chunk: int = 2000) -> int:
    """Route the project's existing outputs (since a time) through one queue; return items made."""
    outputs = Output.objects.filter(project_id=queue.project_id).only(*_ROUTING_FIELDS).order_by("pk")
    if since is not None:
        outputs = outputs.filter(occurred_at__gte=since)
    project = queue.project
    created, batch = 0, []
    for output in outputs.iterator(chunk_size=chunk):
        if is_sampled(queue, output) and rule_matches(queue.rule, output):
            batch.append(output)
        if len(batch) >= chunk:
            created += place_in_queue(project=project, queue_id=queue.pk, outputs=batch)
            batch = []
    if batch:
        created += place_in_queue(project=project, queue_id=queue.pk, outputs=batch)
    return created


def preview_rule(
    *, project: Project, rule: dict, sample_rate: float, queue_id: int = 0, week: date | None = None
) -> dict[str, int]:
    """How many of a week's outputs (default: this week) the rule matches, and how many it would sample."""
    week = week or cycle_week(project, timezone.now())
    start = week_start(project, week)
    outputs = Output.objects.filter(project=project, occurred_at__gte=start, occurred_at__lt=start + timedelta(days=7))
    probe = Queue(pk=queue_id, sample_rate=sample_rate)  # a queue not saved yet samples as id 0
    matched = sampled = total = 0
    for output in outputs.only(*_ROUTING_FIELDS).iterator(chunk_size=2000):
        total += 1
        if rule_matches(rule, output):
            matched += 1
            sampled += is_sampled(probe, output)
    return {"outputs": total, "matched": matched, "sampled": sampled}


def unrouted_batches(
    *, older_than_seconds: int, batch_size: int = 1000, batches_per_project: int = 10
) -> list[tuple[int, list[int]]]:
    """Outputs whose routing task was lost (broker down at commit), in batches per project, oldest first.

    Every project with such outputs gets its own share (at most `batches_per_project` batches per sweep),
    so a project with a huge or failing backlog never crowds the others out of a sweep.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    pending = Output.objects.unrouted().filter(received_at__lt=cutoff)
    batches = []
    for project_id in pending.order_by("project_id").values_list("project_id", flat=True).distinct():
        pks = list(
            pending.filter(project_id=project_id)
            .order_by("pk")
            .values_list("pk", flat=True)[: batch_size * batches_per_project]
        )
        batches += [(project_id, pks[start : start + batch_size]) for start in range(0, len(pks), batch_size)]
    return batches


def route_unrouted(*, older_than_seconds: int, now: datetime | None = None) -> int:
    """The routing sweep: route every batch of `unrouted_batches` on its own; return items made.

    A batch that fails is logged and recorded on its project's RoutingState, and the sweep goes on with the
    other batches and projects. Every other project's RoutingState records the sweep's success.
    """
    now = now or timezone.now()
    created, failed = 0, {}
    for project_id, output_ids in unrouted_batches(older_than_seconds=older_than_seconds):
        try:
            created += route_outputs(project_id=project_id, output_ids=output_ids)
        except Exception as exc:
            logger.exception("routing %d outputs of project %s failed; the sweep goes on", len(output_ids), project_id)
            failed.setdefault(project_id, f"{type(exc).__name__}: {exc}".strip()[:2000])
    _record_sweep(failed, now)
    return created


def _record_sweep(failed: dict[int, str], now: datetime) -> None:
    missing = Project.objects.filter(routing_state__isnull=True).values_list("pk", flat=True)
    RoutingState.objects.bulk_create([RoutingState(project_id=pk) for pk in missing], ignore_conflicts=True)
    RoutingState.objects.exclude(project_id__in=failed).update(
        succeeded_at=now, failed_at=None, last_error="", failures=0
    )
    for project_id, error in failed.items():
        RoutingState.objects.filter(project_id=project_id).update(
            failed_at=now, last_error=error, failures=F("failures") + 1
        )
