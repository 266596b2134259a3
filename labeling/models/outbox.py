"""The transactional outbox: Celery tasks to send, written in the transaction of the change that wants them."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


def work_key(*parts: object) -> str:
    """The dedupe key of a piece of work, e.g. work_key("build_dataset", 12) == "build_dataset:12"."""
    return ":".join(str(part) for part in parts)


class OutboxMessageQuerySet(models.QuerySet):
    def pending(self):
        """Not published yet: the dispatcher still has to send these."""
        return self.filter(published_at__isnull=True)

    def unfinished(self, *, sent_before):
        """Published before `sent_before` and not finished by any worker since, oldest first."""
        return self.filter(published_at__lt=sent_before, finished_at__isnull=True).order_by("pk")

    def outstanding(self):
        """Asked for and not finished: unpublished, or published and not yet taken (or done) by a worker."""
        return self.filter(finished_at__isnull=True)


class OutboxMessage(models.Model):
    """One task to send to the broker. Written with the change that asks for it (rolled back with it),
    published after commit or by the sweep, and then marked by the worker when it starts and finishes.

    `dedupe_key` names the work (e.g. `build_dataset:12`): while one message with that key is unpublished,
    asking again adds nothing. Pages read the key to say "queued, waiting for the worker"."""

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Tries to publish it: each failed publish (`last_error` says why), the publish, and each resend by `resend_lost`.
    # Not how often it ran or was lost: `resends` counts the runs lost, which is what giving up reads.
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")  # the last failed publish's error, or why it was given up
    # Times `resend_lost` sent it again after a worker had started it (killed at its time limit, or its worker lost):
    # one Redis lost before any worker took it does not count. A database default: a process of the release before
    # inserts without it. An IntegerField: a PositiveIntegerField's CHECK would scan the table under 0068's lock.
    resends = models.IntegerField(default=0, db_default=0)
    # Started and lost again after OUTBOX_MAX_RESENDS resends: never sent again; cleared if a straggler finishes it.
    given_up_at = models.DateTimeField(null=True, blank=True)

    objects = OutboxMessageQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(published_at__isnull=True) & ~Q(dedupe_key=""),
                name="outbox_one_pending_per_key",
            )
        ]
        indexes = [
            # The dispatcher's scan: unpublished rows in order, a small partial index however large the table.
            models.Index(fields=["id"], condition=Q(published_at__isnull=True), name="outbox_pending"),
            # Pages ask "is this work outstanding?" by key or key prefix (pattern ops: LIKE 'prefix%' too);
            # pruning deletes by publication time.
            models.Index(
                fields=["dedupe_key"],
                opclasses=["varchar_pattern_ops"],
                condition=Q(finished_at__isnull=True),
                name="outbox_outstanding_by_key",
            ),
            models.Index(fields=["published_at"], name="outbox_published_at"),
            # The sweep's look for messages the broker lost: sent and not finished is a short list, however large
            # the table of sent ones.
            models.Index(
                fields=["id"],
                condition=Q(published_at__isnull=False, finished_at__isnull=True),
                name="outbox_sent_unfinished",
            ),
            # /readyz asks for the messages given up lately: a few rows, however large the table (0070, concurrently).
            models.Index(fields=["given_up_at"], condition=Q(given_up_at__isnull=False), name="outbox_given_up"),
        ]

    def __str__(self) -> str:
        return f"{self.task} #{self.pk}"
