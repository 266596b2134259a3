"""Webhook endpoints of a project and the deliveries made to them (README "Webhooks")."""

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .outputs import Output
from .projects import Project


class WebhookKind(models.TextChoices):
    STANDARD = "standard", "Standard Webhooks (signed JSON)"
    SLACK = "slack", "Slack incoming webhook"


class WebhookEvent(models.TextChoices):
    # Each label says all the event is sent for: a receiver picks events by these words (the README's table says more).
    OUTPUT_FLAGGED = "output.flagged", "An expert or a lead flags an item for the meeting"
    ITEM_NEEDS_ADJUDICATION = "item.needs_adjudication", "An item needs a lead's decision"
    DATASET_VERSION_READY = "dataset.version_ready", "A dataset version is ready"
    DATASET_VERSION_WITHDRAWN = "dataset.version_withdrawn", "A dataset version is withdrawn"
    CYCLE_CLOSED = "cycle.closed", "A week is closed"
    CYCLE_DIGEST = "cycle.digest", "The weekly digest"
    CYCLE_COMPARED_AGAIN = (
        "cycle.compared_again",
        "A closed week's headline is restated when an earlier week closes after it: its comparison with the week "
        "before, or its retention by verdict",
    )
    ALERT_OPENED = "alert.opened", "An alert is opened"
    ALERT_RESOLVED = "alert.resolved", "An alert is resolved"


# What a Slack message can say: the week's close, its digest and alerts (the other events are for machines).
SLACK_EVENTS = (
    WebhookEvent.CYCLE_CLOSED,
    WebhookEvent.CYCLE_DIGEST,
    WebhookEvent.ALERT_OPENED,
    WebhookEvent.ALERT_RESOLVED,
)


# How the reason of an endpoint disabled after repeated failures starts (the page shows those as a warning).
AUTO_DISABLED = "Disabled automatically:"


class WebhookEndpoint(models.Model):
    """A URL the project's events are posted to.

    `secret_sealed` holds the `whsec_…` signing secret of a standard endpoint, encrypted with a key derived
    from SECRET_KEY (services/webhooks.py): it must be readable to sign, but a copy of the database alone does
    not give it away. A Slack endpoint has no secret (Slack does not verify one): its URL is the secret.

    An endpoint whose every attempt failed for WEBHOOK_DISABLE_AFTER_SECONDS is disabled (`disabled_reason`
    says why) and the project's leads (and whoever added it) are told.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhook_endpoints")
    kind = models.CharField(max_length=16, choices=WebhookKind, default=WebhookKind.STANDARD)
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True, default="")
    events = models.JSONField(default=list)
    secret_sealed = models.TextField(blank=True, default="")
    include_transcripts = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "pk"]
        indexes = [models.Index(fields=["project", "enabled"], name="webhook_endpoint_project")]

    def __str__(self) -> str:
        return f"{self.kind} webhook {self.pk} of project {self.project_id}"

    @property
    def shown_url(self) -> str:
        """The URL as pages, mails and the audit log show it: a Slack URL's last part is its secret."""
        if self.kind == WebhookKind.SLACK:
            return self.url.rsplit("/", 1)[0] + "/…"
        return self.url

    @property
    def disabled_after_failures(self) -> bool:
        return not self.enabled and self.disabled_reason.startswith(AUTO_DISABLED)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one endpoint, tried until it succeeds or its retries run out.

    `message_id` (`msg_…`) is the `webhook-id` of every attempt, a redelivery included, so a receiver can
    drop a message it has seen. `body` is the exact JSON sent (one not sent yet has its texts made again when
    its output is redacted again: `redaction.redact_stored_outputs`). `attempts` counts the attempts begun (one a
    worker died in counts too); `attempt_log` keeps each finished one: when, how long, answer, error.
    A worker claims the delivery with a conditional update of `claimed_until` (a lease a little longer than
    the request may take), so two copies of its task never send it at once.

    `output` is the output an event is about (a flag, an item to adjudicate): the delivery names it, and may
    carry its texts, so erasing its end user or the retention purge deletes the delivery with it. Finished
    deliveries are deleted after WEBHOOK_DELIVERY_KEEP_DAYS.
    """

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64, choices=WebhookEvent)
    message_id = models.CharField(max_length=64)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=DeliveryStatus, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    attempt_log = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    swept_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    redelivery_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    output = models.ForeignKey(Output, null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_log"),
            # The sweep's scan: pending deliveries by due time, a small partial index however long the log.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_pending"),
            # The keep-days sweep: finished deliveries by age.
            models.Index(
                fields=["finished_at"], condition=Q(finished_at__isnull=False), name="webhook_delivery_finished"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.message_id} → endpoint {self.endpoint_id} ({self.status})"

    @property
    def attempts_made(self) -> list[dict]:
        """`attempt_log` with each attempt's `at` read back as a moment (None if unreadable), so a page shows it in
        its zone as it shows every other time."""
        return [{**entry, "at": _moment(entry.get("at"))} for entry in self.attempt_log]


def _moment(text) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
