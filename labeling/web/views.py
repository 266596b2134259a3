from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from labeling.selectors import home as home_selectors

from .navigation import shows_new_project


@login_required
def home(request):
    rows = home_selectors.home_rows(request.user)
    if only := home_selectors.lands_on_project(request.user, rows):
        # Nothing to choose between: the project's page, as the home page's link would open it.
        return redirect("labeling:project", slug=only.slug)
    context = {
        "projects": home_selectors.home_projects(request.user, rows),
        "may_create": shows_new_project(request),
    }
    return render(request, "labeling/home.html", context)
