"""Projects without the admin: create one (who may: PROJECT_CREATORS), and the lead's project settings page.

The new-project page answers 403 with a message to a user who may not create projects (the page is no
secret; the permission is). The settings page is a lead's screen: anyone but the project's leads and
admins gets a 404, as on the other lead pages.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from labeling.exceptions import EditConflict, InvalidSpec
from labeling.rules import calendar
from labeling.rules.access import check_can_create_project, copyable_projects, lead_project
from labeling.rules.text import isolated
from labeling.services import projects

from .project_forms import NewProjectForm, ProjectSettingsForm, template_previews


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request):
    check_can_create_project(request.user)
    copyable = list(copyable_projects(request.user).order_by("name"))
    form = NewProjectForm(request.POST or None, copyable=copyable, created_by=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            if source := form.source_slug():
                project = projects.copy_project(
                    source_slug=source, spec=form.spec(), created_by=request.user, slug_generated=form.slug_generated
                )
            else:
                project = projects.create_project(
                    spec=form.spec(), created_by=request.user, slug_generated=form.slug_generated
                )
        except InvalidSpec as exc:  # e.g. the slug was taken by someone else since the form looked
            form.add_problems(exc)
        else:
            messages.success(
                request,
                f"Project “{isolated(project.name)}” created, and you are its lead. "
                "Its getting-started list below ticks itself as the project comes to life.",
            )
            # The overview: where the home page and its one-project redirect send a lead, with the checklist.
            return redirect("labeling:project", slug=project.slug)
    # The choices and the previews are in the same order (both follow rubric_templates.TEMPLATES); the copy
    # choice, when offered, comes last and has no preview.
    choices = list(form["rubric_template"])
    previews = template_previews()
    context = {
        "form": form,
        "template_choices": list(zip(choices[: len(previews)], previews, strict=True)),
        "copy_choice": choices[len(previews)] if len(choices) > len(previews) else None,
    }
    return render(request, "labeling/projects/new.html", context, status=400 if form.is_bound else 200)


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request, slug: str):
    project, _ = lead_project(request.user, slug, method=request.method)
    form = ProjectSettingsForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        try:
            changes = projects.update_project_settings(
                project=project, values=form.values(), changed_by=request.user, shown=form.cleaned_data["shown"]
            )
        except InvalidSpec as exc:  # another lead's save since the form looked
            if isinstance(exc, EditConflict):  # the page learns the values saved meanwhile
                form.take_current(exc)
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
