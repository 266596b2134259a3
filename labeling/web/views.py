from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from labeling import selectors
from labeling.rules.access import may_create_projects


@login_required
def home(request):
    context = {"projects": selectors.projects_of_user(request.user), "may_create": may_create_projects(request.user)}
    return render(request, "labeling/home.html", context)
