"""Celery tasks: thin interfaces that take ids, call one service, and are safe to retry."""

from celery import shared_task

from labeling.services import routing


@shared_task(name="labeling.route_outputs", acks_late=True, time_limit=300, soft_time_limit=240)
def route_outputs(project_id: int, output_ids: list[int]) -> int:
    """Route newly ingested outputs (idempotent: already routed outputs are left alone)."""
    return routing.route_outputs(project_id=project_id, output_ids=output_ids)


@shared_task(name="labeling.route_pending_outputs", acks_late=True, time_limit=600, soft_time_limit=540)
def route_pending_outputs(older_than_seconds: int = 120) -> int:
    """Catch up on outputs whose routing task never ran (e.g. the broker was down at commit)."""
    return sum(
        routing.route_outputs(project_id=project_id, output_ids=output_ids)
        for project_id, output_ids in routing.unrouted_batches(older_than_seconds=older_than_seconds)
    )
