"""Projects without the admin: create one (who may: PROJECT_CREATORS), and the lead's project settings page.

The new-project page answers 403 with a message to a user who may not create projects (the page is no
secret; the permission is). The settings page is a lead's screen: anyone but the project's leads and
admins gets a 404, as on the other lead pages.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from labeling.exceptions import InvalidSpec
from labeling.rules import calendar
from labeling.rules.access import check_can_create_project, managed_project
from labeling.services import projects

from .project_forms import NewProjectForm, ProjectSettingsForm, template_previews


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request):
    check_can_create_project(request.user)
    form = NewProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = projects.create_project(spec=form.spec(), created_by=request.user)
        except InvalidSpec as exc:  # e.g. the slug was taken by someone else since the form looked
            form.add_problems(exc)
        else:
            messages.success(
                request,
                f"Project “{project.name}” created, and you are its lead. Next: create a queue for the outputs "
                "your experts should review, invite your members, and create an API key for the app that sends "
                "the outputs.",
            )
            return redirect("labeling:queues", slug=project.slug)
    # The choices and the previews are in the same order (both follow rubric_templates.TEMPLATES).
    context = {"form": form, "template_choices": list(zip(form["rubric_template"], template_previews(), strict=True))}
    return render(request, "labeling/projects/new.html", context, status=400 if form.is_bound else 200)


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request, slug: str):
    project, _ = managed_project(request.user, slug)
    form = ProjectSettingsForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        try:
            changes = projects.update_project_settings(project=project, values=form.values(), changed_by=request.user)
        except InvalidSpec as exc:  # another lead's save since the form looked
            form.add_problems(exc)
        else:
            messages.success(
                request, "Settings saved." if changes else "Nothing changed: the settings were saved already."
            )
            return redirect("labeling:project-settings", slug=project.slug)
    week = calendar.current_week(project)
    context = {
        "project": project,
        "form": form,
        "tab": "settings",
        "week": week,
        "week_ends": calendar.week_end(project, week),
    }
    return render(request, "labeling/projects/settings.html", context, status=400 if form.is_bound else 200)
