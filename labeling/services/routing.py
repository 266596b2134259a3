"""Routing of new outputs into review queues.

For now this marks outputs as routed; placing them into queues by each queue's rule, sample rate and
weekly quota comes with the routing issue. What is here already holds the contract the tasks rely on:
idempotent, safe under retries and concurrent runs (a conditional update decides), ids in, count out.
"""

from datetime import timedelta
from typing import Literal

import msgspec
from django.utils import timezone

from labeling.exceptions import InvalidSpec

from labeling.models import Output


def route_outputs(*, project_id: int, output_ids: list[int]) -> int:
    """Route the given outputs of a project that are not routed yet; return how many this call routed."""
    return (
        Output.objects.unrouted()
        .filter(project_id=project_id, pk__in=output_ids)
        .update(routed_at=timezone.now())
    )


def unrouted_batches(*, older_than_seconds: int, batch_size: int = 1000) -> list[tuple[int, list[int]]]:
    """Outputs whose routing task was lost (broker down at commit), grouped by project, oldest first."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    rows = (
        Output.objects.unrouted()
        .filter(received_at__lt=cutoff)
        .order_by("project_id", "pk")
        .values_list("project_id", "pk")[: batch_size * 10]
    )
    batches: dict[int, list[int]] = {}
    for project_id, pk in rows:
        batches.setdefault(project_id, []).append(pk)
    return [
        (project_id, pks[start : start + batch_size])
        for project_id, pks in batches.items()
        for start in range(0, len(pks), batch_size)
    ]


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
        return msgspec.to_builtins(msgspec.convert(raw or {}, Rule, strict=True))
    except msgspec.ValidationError as exc:
        raise InvalidSpec(f"Invalid queue rule: {exc}") from None
