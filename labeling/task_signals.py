"""Celery signals for the outbox: a worker that starts sends what waited for it, and marks the
outbox messages it runs as started and finished, so pages can tell waiting work from running work."""

import logging

from celery.signals import task_postrun, task_prerun, worker_ready

from labeling.services import outbox

logger = logging.getLogger(__name__)


def _message_id(task) -> int | None:
    request = task.request
    value = getattr(request, outbox.HEADER, None) or (request.headers or {}).get(outbox.HEADER)
    return value if isinstance(value, int) else None


@task_prerun.connect
def _started(sender=None, **kwargs) -> None:
    if sender is not None and (message_id := _message_id(sender)):
        outbox.mark_started(message_id=message_id)


@task_postrun.connect
def _finished(sender=None, **kwargs) -> None:
    if sender is not None and (message_id := _message_id(sender)):
        outbox.mark_finished(message_id=message_id)


@worker_ready.connect
def _send_waiting_work(sender=None, **kwargs) -> None:
    """A worker that starts (e.g. after an outage) asks for the sweep at once rather than at beat's next tick."""
    try:
        sender.app.send_task("labeling.publish_outbox")
    except Exception:  # the broker went away again: beat's sweep will do it
        logger.exception("Outbox: could not ask for a sweep at worker start")
