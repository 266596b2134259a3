from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from labeling import selectors


@login_required
def home(request):
    return render(request, "labeling/home.html", {"projects": selectors.projects_of_user(request.user)})


@login_required
def project_overview(request, slug: str):
    # A project the user is not a member of is a 404, not a 403: its existence is not disclosed.
    project = get_object_or_404(selectors.projects_of_user(request.user), slug=slug)
    return render(
        request, "labeling/project.html", {"project": project, "outputs": selectors.recent_outputs(project)}
    )
