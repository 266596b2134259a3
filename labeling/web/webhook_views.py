"""The webhooks pages (engineers, leads and admins: `rules.access.webhook_project`): the project's endpoints, adding
one (its secret shown once), an endpoint's delivery log with "redeliver", rotating its secret, pausing, resuming and
deleting it.

Experts get a 404 saying whose pages these are, anyone else a 404. Leads and admins see the pages among the manage
tabs, engineers in their own frame (Datasets, API keys, Webhooks), as on the API keys page. As there, a secret is only
in the answer to the POST that made it: never in the session, a message or a redirect. Another project's endpoint (or
delivery) is a 404.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from labeling.exceptions import InvalidInput, InvalidUrl
from labeling.models import WebhookEvent
from labeling.rules.access import webhook_project
from labeling.selectors.webhooks import (
    delivery_log,
    delivery_of_endpoint,
    endpoint_of_project,
    project_endpoints,
    retry_schedule_text,
)
from labeling.services import webhooks as webhook_services
from labeling.services.webhook_delivery import redeliver

from .navigation import page_frame
from .webhook_forms import WebhookEndpointForm


def _frame(project, membership) -> dict:
    return {"project": project, "tab": "webhooks", "frame": page_frame(membership)}


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"  # a secret must not stay in any cache
    return response


@login_required
@require_http_methods(["GET", "POST"])
def webhook_list(request: HttpRequest, slug: str) -> HttpResponse:
    """GET lists the endpoints; POST adds one and answers with its secret, this once."""
    project, membership = webhook_project(request.user, slug)
    form = WebhookEndpointForm(request.POST or None)
    created, status = None, 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                created = webhook_services.create_endpoint(
                    project=project, created_by=request.user, **form.cleaned_data
                )
            except InvalidInput as exc:
                form.add_error("url" if isinstance(exc, InvalidUrl) else None, exc.message)
            else:
                form, status = WebhookEndpointForm(), 200
    context = {
        **_frame(project, membership),
        "rows": project_endpoints(project),
        "form": form,
        "created": created,
        "events": WebhookEvent.choices,
    }
    return _no_store(render(request, "labeling/webhooks/list.html", context, status=status))


def _detail(
    request: HttpRequest, project, membership, endpoint, *, secret: str = "", status: int = 200
) -> HttpResponse:
    context = {
        **_frame(project, membership),
        "endpoint": endpoint,
        "deliveries": delivery_log(endpoint),
        "secret": secret,
        "rotation_mark": webhook_services.rotation_mark(endpoint),
        "retry_schedule": retry_schedule_text(),
    }
    return _no_store(render(request, "labeling/webhooks/detail.html", context, status=status))


@login_required
def webhook_detail(request: HttpRequest, slug: str, endpoint_id: int) -> HttpResponse:
    """The endpoint and its delivery log."""
    project, membership = webhook_project(request.user, slug)
    return _detail(request, project, membership, endpoint_of_project(project, endpoint_id))


@login_required
@require_POST
def webhook_rotate(request: HttpRequest, slug: str, endpoint_id: int) -> HttpResponse:
    """A new signing secret, shown in this answer only."""
    project, membership = webhook_project(request.user, slug)
    endpoint = endpoint_of_project(project, endpoint_id)
    rotated = webhook_services.rotate_secret(endpoint=endpoint, actor=request.user, seen=request.POST.get("rotated"))
    return _detail(request, project, membership, rotated.endpoint, secret=rotated.secret)


@login_required
@require_POST
def webhook_enable(request: HttpRequest, slug: str, endpoint_id: int) -> HttpResponse:
    """POST enabled=1 resumes the endpoint, enabled=0 pauses it."""
    project, _ = webhook_project(request.user, slug)
    endpoint = endpoint_of_project(project, endpoint_id)
    value = request.POST.get("enabled")
    if value not in ("0", "1"):  # a guess either way could pause an endpoint nobody meant to
        return HttpResponseBadRequest("enabled is 0 or 1.", content_type="text/plain; charset=utf-8")
    enabled = value == "1"
    if webhook_services.set_enabled(endpoint=endpoint, enabled=enabled, actor=request.user):
        messages.success(
            request,
            "Endpoint enabled: new events are delivered to it again."
            if enabled
            else "Endpoint disabled: nothing is sent to it until it is enabled again.",
        )
    return redirect("labeling:webhook", slug=project.slug, endpoint_id=endpoint.pk)


@login_required
@require_http_methods(["GET", "POST"])
def webhook_delete(request: HttpRequest, slug: str, endpoint_id: int) -> HttpResponse:
    """GET asks to confirm; POST deletes the endpoint and its log."""
    project, membership = webhook_project(request.user, slug)
    endpoint = endpoint_of_project(project, endpoint_id)
    if request.method == "GET":
        context = {**_frame(project, membership), "endpoint": endpoint}
        return render(request, "labeling/webhooks/delete.html", context)
    webhook_services.delete_endpoint(endpoint=endpoint, actor=request.user)
    messages.success(request, "Endpoint deleted, with its delivery log.")
    return redirect("labeling:webhooks", slug=project.slug)


@login_required
@require_POST
def webhook_redeliver(request: HttpRequest, slug: str, endpoint_id: int, delivery_id: int) -> HttpResponse:
    """Send a delivery's message again (same webhook-id)."""
    project, _ = webhook_project(request.user, slug)
    endpoint = endpoint_of_project(project, endpoint_id)
    delivery = delivery_of_endpoint(endpoint, delivery_id)
    try:
        redeliver(delivery=delivery, actor=request.user)
    except InvalidInput as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{delivery.event} {delivery.message_id} is queued to be sent again.")
    return redirect("labeling:webhook", slug=project.slug, endpoint_id=endpoint.pk)
