"""A project's alerts: acknowledging one (leads, admins and operators; a 404 for anyone else)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from labeling.rules.access import alerting_project
from labeling.rules.text import isolated
from labeling.selectors.alerts import alert_of_project
from labeling.services.alerts import acknowledge_alert


@login_required
@require_POST
def alert_acknowledge(request: HttpRequest, slug: str, alert_id: int) -> HttpResponse:
    project = alerting_project(request.user, slug)
    alert = alert_of_project(project, alert_id)
    if alert is None:
        raise Http404("No such alert.")
    if acknowledge_alert(alert=alert, user=request.user):
        messages.success(request, f"Alert acknowledged: {isolated(alert.title)}.")
    else:
        messages.info(request, "This alert was already acknowledged or resolved.")
    back = request.POST.get("next", "")
    # Only a path of this site (e.g. the platform page, sorted as it was); a URL object, never a string redirect()
    # would take for a view name to reverse.
    if back.startswith("/") and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(back)
    return redirect(reverse("labeling:project", args=[project.slug]) + "#alerts")
