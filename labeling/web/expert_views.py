"""Stub: the expert screens are being written (see labeling/web/urls.py for the routes)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render

from labeling import selectors


@login_required
def project_overview(request, slug: str):
    project = get_object_or_404(selectors.projects_of_user(request.user), slug=slug)
    return render(request, "labeling/project.html", {"project": project, "outputs": selectors.recent_outputs(project)})


def _missing(*args, **kwargs):
    raise Http404


next_item = label_item = skip_item = flag_item = comment_item = _missing
