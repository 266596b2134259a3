"""Celery tasks: thin interfaces that take ids, call one service, and are safe to retry."""

from datetime import date

from celery import shared_task

from labeling.services import routing
from labeling.services.version_files import RENDER_SOFT_TIME_LIMIT, RENDER_TIME_LIMIT


@shared_task(name="labeling.route_outputs", acks_late=True, time_limit=300, soft_time_limit=240)
def route_outputs(project_id: int, output_ids: list[int], reevaluate: bool = False) -> int:
    """Place new outputs (or, with `reevaluate`, outputs with new feedback) into queues; idempotent."""
    return routing.route_outputs(project_id=project_id, output_ids=output_ids, reevaluate=reevaluate)


@shared_task(name="labeling.route_pending_outputs", acks_late=True, time_limit=600, soft_time_limit=540)
def route_pending_outputs(older_than_seconds: int = 120) -> int:
    """Catch up on outputs whose routing task never ran (e.g. the broker was down at commit); a failing
    project or batch is recorded and the others go on."""
    return routing.route_unrouted(older_than_seconds=older_than_seconds)


@shared_task(name="labeling.backfill_queue", acks_late=True, time_limit=1800, soft_time_limit=1700)
def backfill_queue(queue_id: int, since_iso: str | None = None) -> int:
    """Route a project's existing outputs through one queue (a lead's "backfill" button)."""
    from datetime import datetime

    from labeling.models import Queue

    queue = Queue.objects.select_related("project").filter(pk=queue_id).first()
    if queue is None:
        return 0
    since = datetime.fromisoformat(since_iso) if since_iso else None
    return routing.backfill_queue(queue=queue, since=since)


@shared_task(name="labeling.resolve_item", acks_late=True, time_limit=120, soft_time_limit=100)
def resolve_item(item_id: int) -> str | None:
    """Compute the gold answer of an item whose last label just came in (idempotent)."""
    from labeling.services.resolution import resolve_item as resolve

    resolution = resolve(item_id=item_id)
    return resolution.status if resolution else None


@shared_task(name="labeling.build_dataset", acks_late=True, time_limit=3600, soft_time_limit=3500)
def build_dataset(dataset_id: int, full: bool = False) -> int | None:
    """Build the dataset's next version (idempotent: a twin or redelivered task finishes the same one)."""
    from labeling.services.datasets import build_version

    version = build_version(dataset_id=dataset_id, full=full)
    return version.number if version else None


@shared_task(
    name="labeling.render_version_files",
    acks_late=True,
    time_limit=int(RENDER_TIME_LIMIT.total_seconds()),  # the sweep of dead renders' files relies on it
    soft_time_limit=int(RENDER_SOFT_TIME_LIMIT.total_seconds()),  # the dataset page names it (a failed render)
)
def render_version_files(version_id: int) -> list[str]:
    """Render a ready version's Parquet and Hugging Face files once (idempotent: current files are kept)."""
    from labeling.services.version_files import render_version_files as render

    return render(version_id=version_id)


@shared_task(name="labeling.sweep_version_files", time_limit=600, soft_time_limit=540)
def sweep_version_files() -> int:
    """Delete the files of superseded versions nobody downloaded lately, the directories of versions that no longer
    exist, and the temporary files of renders that died; return how many files and directories went."""
    from labeling.services.version_files import sweep_dead_renders, sweep_orphan_directories, sweep_superseded_files

    return len(sweep_superseded_files()) + len(sweep_orphan_directories()) + len(sweep_dead_renders())


@shared_task(name="labeling.close_week", acks_late=True, time_limit=3600, soft_time_limit=3500)
def close_week(project_id: int, week_iso: str, closed_by_id: int | None = None) -> str | None:
    """Close a project's cycle week (idempotent: a closed week is left as it is)."""
    from django.contrib.auth import get_user_model

    from labeling.services import cycles

    closed_by = get_user_model().objects.filter(pk=closed_by_id).first() if closed_by_id else None
    cycle = cycles.close_week(project_id=project_id, week=date.fromisoformat(week_iso), closed_by=closed_by)
    return cycle.status if cycle else None


@shared_task(name="labeling.send_digests", acks_late=True, time_limit=900, soft_time_limit=840)
def send_digests(cycle_id: int) -> int:
    """E-mail the experts their digest of a closed week (idempotent: claimed once per cycle)."""
    from labeling.services import cycles

    return cycles.send_digests(cycle_id=cycle_id)


@shared_task(name="labeling.send_restated_report_notice", acks_late=True, time_limit=300, soft_time_limit=240)
def send_restated_report_notice(cycle_id: int, with_week: str, figures: list[list[str]]) -> int:
    """E-mail the leads the figures of a closed week's report that a later close restated (claimed once)."""
    from labeling.services import cycles

    return cycles.send_restated_report_notice(cycle_id=cycle_id, with_week=with_week, figures=figures)


@shared_task(name="labeling.close_due_weeks", acks_late=True, time_limit=300, soft_time_limit=240)
def close_due_weeks() -> int:
    """Beat's sweep: queue the close of every project week that is over and still open."""
    from labeling.services import cycles

    return cycles.request_due_closes()


@shared_task(name="labeling.refresh_metrics", acks_late=True, time_limit=1800, soft_time_limit=1700)
def refresh_metrics(project_id: int, week_iso: str) -> None:
    """Recompute a week's metric rows (the meeting page's "refresh figures")."""
    from labeling.models import Project
    from labeling.services import cycles

    project = Project.objects.filter(pk=project_id).first()
    if project is not None:
        cycles.refresh_metrics(project=project, week=date.fromisoformat(week_iso))


@shared_task(name="labeling.refresh_running_weeks", acks_late=True, time_limit=300, soft_time_limit=240)
def refresh_running_weeks() -> int:
    """Beat's sweep: queue a recompute of each project's running week, so live figures stay recent
    (a week whose refresh failed waits for its backoff)."""
    from labeling.services import cycles

    return cycles.request_running_refreshes()


@shared_task(name="labeling.evaluate_alerts", acks_late=True, time_limit=900, soft_time_limit=840)
def evaluate_alerts() -> int:
    """Beat's hourly round: evaluate every project's alerts (a failing project is logged, the others go on)."""
    from labeling.services import alerts

    return alerts.evaluate_all_projects()


@shared_task(name="labeling.evaluate_project_alerts", acks_late=True, time_limit=120, soft_time_limit=100)
def evaluate_project_alerts(project_id: int) -> int | None:
    """Evaluate one project's alerts (after its close, or its failure); return how many opened."""
    from labeling.models import Project
    from labeling.services import alerts

    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    return len(alerts.evaluate_alerts(project=project).opened)


@shared_task(name="labeling.worker_heartbeat", time_limit=30, soft_time_limit=20)
def worker_heartbeat() -> None:
    """Beat's heartbeat: the worker that runs it writes the time, which /readyz reads from the database."""
    import socket

    from labeling.services.health import record_heartbeat

    record_heartbeat(hostname=worker_heartbeat.request.hostname or socket.gethostname())


@shared_task(name="labeling.publish_outbox", acks_late=True, time_limit=120, soft_time_limit=100)
def publish_outbox() -> int:
    """Beat's sweep: send the queued work the broker missed, and forget what was sent days ago."""
    from labeling.services import outbox

    sent = outbox.publish_pending()
    sent += outbox.resend_lost()
    outbox.prune()
    return sent


@shared_task(name="labeling.purge_expired_outputs", acks_late=True, time_limit=3600, soft_time_limit=3500)
def purge_expired_outputs() -> int:
    """Beat's nightly sweep: delete raw outputs past each project's retention period and empty its usage events'
    properties (audited per project)."""
    import logging

    from labeling.models import Project
    from labeling.services.privacy import purge_expired_outputs as purge

    deleted = 0
    for project in Project.objects.filter(raw_retention_days__isnull=False):
        try:
            deleted += purge(project=project)
        except Exception:  # one project's failure (audited with what it deleted) never stops the others
            logging.getLogger(__name__).exception("retention purge of %s failed; the sweep goes on", project.slug)
    return deleted


# A retry this soon is asked for by the task itself (a countdown held by the worker); later ones by beat's sweep,
# so that no message waits for hours in a worker's memory.
WEBHOOK_COUNTDOWN_MAX_SECONDS = 60


@shared_task(name="labeling.deliver_webhook", bind=True, acks_late=True, time_limit=90, soft_time_limit=75)
def deliver_webhook(self, delivery_id: int) -> None:
    """Try one webhook delivery once (idempotent: a claimed or finished delivery is left alone)."""
    from labeling.services.webhook_delivery import attempt_delivery

    again_in = attempt_delivery(delivery_id=delivery_id)
    # Eager Celery (the demo) would run the countdown at once, in a loop: there the retries wait for the sweep.
    if again_in is not None and again_in <= WEBHOOK_COUNTDOWN_MAX_SECONDS and not self.app.conf.task_always_eager:
        self.apply_async(args=[delivery_id], countdown=again_in)


@shared_task(name="labeling.deliver_due_webhooks", acks_late=True, time_limit=120, soft_time_limit=100)
def deliver_due_webhooks() -> int:
    """Beat's sweep: ask for the webhook deliveries that are due (retries hours away, messages lost), and
    forget the ones finished WEBHOOK_DELIVERY_KEEP_DAYS ago."""
    from labeling.services.webhook_delivery import prune_deliveries, request_due_deliveries

    requested = request_due_deliveries()
    prune_deliveries()
    return requested


from labeling import task_signals  # noqa: E402,F401  (connects the outbox's worker signals)
