"""A project's webhook endpoints and their delivery logs, as the webhooks pages show them."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Max, Q

from labeling.exceptions import NotFound
from labeling.models import DeliveryStatus, Project, WebhookDelivery, WebhookEndpoint
from labeling.rules.access import MANAGING_ROLES, WEBHOOK_ROLES
from labeling.rules.text import listed

from .members import member_emails

LOG_LENGTH = 50  # deliveries shown on an endpoint's page, newest first


@dataclass(frozen=True, slots=True)
class EndpointRow:
    endpoint: WebhookEndpoint
    succeeded: int
    failed: int
    pending: int
    last_delivery_at: object


def project_endpoints(project: Project) -> list[EndpointRow]:
    """The project's endpoints, oldest first, each with its deliveries counted by status (one query)."""
    endpoints = (
        WebhookEndpoint.objects.filter(project=project)
        .select_related("created_by")
        .annotate(
            succeeded=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.SUCCEEDED)),
            failed=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)),
            pending=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
            last_delivery_at=Max("deliveries__created_at"),
        )
        .order_by("pk")
    )
    return [
        EndpointRow(endpoint, endpoint.succeeded, endpoint.failed, endpoint.pending, endpoint.last_delivery_at)
        for endpoint in endpoints
    ]


def endpoint_of_project(project: Project, endpoint_id: int) -> WebhookEndpoint:
    """The project's endpoint, or NotFound (another project's endpoint is not found either)."""
    endpoint = WebhookEndpoint.objects.filter(project=project, pk=endpoint_id).select_related("project").first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def delivery_log(endpoint: WebhookEndpoint, *, limit: int = LOG_LENGTH) -> list[WebhookDelivery]:
    """The endpoint's newest deliveries."""
    return list(endpoint.deliveries.order_by("-created_at", "-pk")[:limit])


def delivery_of_endpoint(endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.filter(endpoint=endpoint, pk=delivery_id).select_related("endpoint").first()
    if delivery is None:
        raise NotFound("No such delivery.")
    return delivery


def retry_schedule_text() -> str:
    """WEBHOOK_RETRY_SCHEDULE as people read it: "5 s, 30 s, 2 min, … and 8 h"."""
    waits = [_wait(seconds) for seconds in settings.WEBHOOK_RETRY_SCHEDULE]
    return listed(waits)


def _wait(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def told_when_disabled(endpoint: WebhookEndpoint) -> list[str]:
    """The e-mail addresses told when the endpoint is disabled after failures, sorted, each once: the project's leads
    and admins, and whoever added it while they still manage the project's webhooks (the engineer who wired it)."""
    told = Q(role__in=MANAGING_ROLES)
    if endpoint.created_by_id is not None:
        told |= Q(user_id=endpoint.created_by_id, role__in=WEBHOOK_ROLES)
    return member_emails(endpoint.project_id, told)
