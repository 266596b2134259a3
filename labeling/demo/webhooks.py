"""The demo's webhooks: the team's Slack channel, subscribed to the week's close and digest (the lead's), and the
training pipeline's signed endpoint, told of dataset versions (the engineer's, who wires integrations too).

The endpoint is added through the real service before the reviewed weeks are closed, so each close makes
its real `cycle.closed` and `cycle.digest` deliveries (with the e-mail's digest text). The demo sends nothing
out: the deliveries are recorded as Slack answered them (`ok` until the app was removed from the channel,
then `404 no_service`), and the endpoint is shown disabled after those failures, as it would be.
"""

from datetime import datetime, timedelta
from itertools import accumulate

from django.conf import settings
from django.utils import timezone

from labeling.models import AUTO_DISABLED, DeliveryStatus, Project, WebhookDelivery, WebhookEndpoint, WebhookKind
from labeling.services.webhooks import create_endpoint

from . import closes

# Not a real incoming webhook: the path a Slack URL has, with nothing behind it.
SLACK_URL = "https://hooks.slack.com/services/T00DEMO00/B00DEMO00/not-a-real-webhook-demo"
EVENTS = ["cycle.closed", "cycle.digest"]
# Seconds after the close each of the last week's attempts was made: the first at once, then each retry of the
# server's own schedule (about a day); FAILED_ATTEMPTS is the whole of it.
RETRY_OFFSETS = (0, *accumulate(settings.WEBHOOK_RETRY_SCHEDULE))
FAILED_ATTEMPTS = len(RETRY_OFFSETS)


def add_slack_endpoint(*, project: Project, lead) -> WebhookEndpoint:
    return create_endpoint(
        project=project,
        created_by=lead,
        url=SLACK_URL,
        kind=WebhookKind.SLACK,
        events=EVENTS,
        description="#support-quality, the team's channel",
    ).endpoint


# The engineer's: a Standard Webhooks receiver of the training pipeline, under `.invalid` (RFC 2606), a name no
# resolver answers: a delivery the demo tries fails there and sends nothing out (under example.com it would ask DNS,
# and post to whatever answered).
PIPELINE_URL = "https://ml-pipeline.invalid/hooks/expertloop"
PIPELINE_EVENTS = ["dataset.version_ready", "dataset.version_withdrawn"]


def add_pipeline_endpoint(*, project: Project, engineer) -> WebhookEndpoint:
    """The engineer's endpoint, added once the demo's history is in (so it has sent nothing: the demo sends
    nothing out), as an engineer adds one on the webhooks page: the pipeline retrains on each version made ready and
    drops a withdrawn one."""
    return create_endpoint(
        project=project,
        created_by=engineer,
        url=PIPELINE_URL,
        kind=WebhookKind.STANDARD,
        events=PIPELINE_EVENTS,
        description="Training pipeline: retrain on each new eval version",
    ).endpoint


def record_slack_answers(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> None:
    """Record each delivery as sent at its week's close (beat closes a week minutes after it ends): the last
    week's failed, the ones before succeeded; then disable the endpoint as repeated failures do.

    Nothing is recorded after `now` (the moment of seeding): seeded less than a day after the last close, the
    failed retries are squeezed into the time since, in the same order."""
    now = now or timezone.now()
    deliveries = list(endpoint.deliveries.order_by("pk"))
    if not deliveries:
        return
    cycles = list(endpoint.project.cycles.filter(status="closed").order_by("week"))
    last_week = max(cycle.week for cycle in cycles)
    for delivery, cycle in zip(deliveries, _cycle_of_each(deliveries, cycles), strict=True):
        closed_at = closes.closed_at(endpoint.project, cycle.week, now)
        delivery.created_at = closed_at
        if cycle.week < last_week:
            delivery.status, delivery.response_code, delivery.attempts = DeliveryStatus.SUCCEEDED, 200, 1
            tried_at = [closed_at]
            delivery.attempt_log = [{"at": closed_at.isoformat(), "ms": 212, "code": 200, "error": ""}]
        else:
            delivery.status, delivery.response_code, delivery.attempts = DeliveryStatus.FAILED, 404, FAILED_ATTEMPTS
            delivery.last_error = "HTTP 404: no_service"
            tried_at = _retried_at(closed_at, now)
            delivery.attempt_log = [
                {
                    "at": at.isoformat(),
                    "ms": 180,
                    "code": 404,
                    "error": "HTTP 404: no_service",
                }
                for at in tried_at
            ]
        # A delivery is finished by its last attempt, as the sender records it (the failed one's, a day on).
        delivery.finished_at, delivery.next_attempt_at = tried_at[-1], None
    WebhookDelivery.objects.bulk_update(
        deliveries,
        [
            "created_at",
            "status",
            "response_code",
            "attempts",
            "attempt_log",
            "last_error",
            "finished_at",
            "next_attempt_at",
        ],
    )
    failing_since = closes.closed_at(endpoint.project, last_week, now)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False,
        # By the failure that made the failures too many: the last delivery's last attempt.
        disabled_at=max(delivery.finished_at for delivery in deliveries),
        consecutive_failures=2 * FAILED_ATTEMPTS,
        failing_since=failing_since,
        disabled_reason=(
            f"{AUTO_DISABLED} all {2 * FAILED_ATTEMPTS} attempts since {failing_since:%Y-%m-%d %H:%M} UTC failed. "
            "The last: HTTP 404: no_service (the Slack app was removed from the channel: make a new incoming "
            "webhook and add it here)."
        ),
    )


# Seeded sooner after the close than the retry schedule lasts, the schedule is squeezed into this share of the time
# since: the endpoint was disabled a while before the demo was seeded, not at that very moment ("0 minutes ago").
SQUEEZED_INTO = 0.8


def _retried_at(closed_at: datetime, now: datetime) -> list[datetime]:
    """When each attempt of a delivery that failed throughout was made: the retry schedule from the close, scaled
    down to end within SQUEEZED_INTO of the time to `now` when less than its length has passed since."""
    scale = min(1.0, SQUEEZED_INTO * (now - closed_at).total_seconds() / RETRY_OFFSETS[-1])
    return [closed_at + timedelta(seconds=offset * scale) for offset in RETRY_OFFSETS]


def _cycle_of_each(deliveries: list[WebhookDelivery], cycles: list) -> list:
    """The closed cycle each delivery announced (its payload names the week)."""
    by_label = {cycle.label: cycle for cycle in cycles}
    found = []
    for delivery in deliveries:
        label = next(label for label in by_label if label in delivery.body)
        found.append(by_label[label])
    return found
