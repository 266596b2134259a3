from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from labeling import selectors


@login_required
def home(request):
    return render(request, "labeling/home.html", {"projects": selectors.projects_of_user(request.user)})
