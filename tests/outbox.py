"""Helpers for tests of code that asks for Celery tasks through the outbox (labeling/services/outbox.py)."""

from typing import Any

from celery import current_app

from labeling.models import OutboxMessage
from labeling.services.outbox import HEADER


def enqueued(task: str | None = None) -> list[OutboxMessage]:
    """The unpublished outbox messages (of one task), oldest first."""
    messages = OutboxMessage.objects.pending().order_by("pk")
    return list(messages.filter(task=task) if task else messages)


def run_as_worker(message: OutboxMessage) -> Any:
    """Run the message's task here, as a worker does on delivery (its signals mark the message started
    and finished); the broker in between is what the integration tests cover."""
    import labeling.tasks  # noqa: F401  (registers the tasks by name)

    task = current_app.tasks[message.task]
    return task.apply(args=message.args, kwargs=message.kwargs, headers={HEADER: message.pk}).get()


def run_each_as_worker(task: str) -> None:
    """Run every message of the task asked for so far, published or not, as a worker does on delivery (with eager
    Celery they ran when published already: tasks are idempotent, so a second run finds nothing left to do)."""
    for message in OutboxMessage.objects.filter(task=task).order_by("pk"):
        run_as_worker(message)
