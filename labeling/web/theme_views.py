"""Turn a failure theme of the meeting page into a saved explore view (leads and admins; anyone else gets a 404).

The view's filter is the theme's own (`theme=2026-W48.1`), so it opens every output of the theme as the week's
close grouped them; its name carries the theme's top terms and week. Saving the same theme twice opens the view
saved the first time.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from labeling.exceptions import InvalidInput, InvalidWeek
from labeling.rules import calendar
from labeling.rules.access import lead_project
from labeling.rules.text import isolated
from labeling.services import themes as theme_services


@login_required
@require_POST
def theme_save_view(request: HttpRequest, slug: str, week_label: str, rank: int) -> HttpResponse:
    project, _ = lead_project(request.user, slug, method=request.method)
    try:
        week = calendar.week_from_label(project, week_label)
    except InvalidWeek as exc:
        raise Http404(exc.message) from None
    explore = reverse("labeling:explore", args=[project.slug])
    try:
        saved, created = theme_services.save_theme_view(project=project, week=week, rank=rank, actor=request.user)
    except InvalidInput as refused:
        messages.error(request, refused.message)
        return redirect(reverse("labeling:meeting-week", args=[project.slug, week_label]) + "#failure-themes")
    if created:
        messages.success(
            request, f"Saved the view “{isolated(saved.name)}”: it is listed here and on the project page."
        )
    else:
        messages.info(request, f"The theme was saved already, as the view “{isolated(saved.name)}”.")
    return redirect(f"{explore}?{saved.query}")
