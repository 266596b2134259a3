"""The lead's redaction screen: the rules in force, their versions, and a server-side preview on sample text."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from labeling.exceptions import InvalidInput
from labeling.rules.access import lead_project
from labeling.selectors.redaction import current_rule_set, rule_set_history
from labeling.services import redaction as redaction_services

from .redaction_forms import RedactionRulesForm


@login_required
@require_http_methods(["GET", "POST"])
def redaction_rules(request, slug: str):
    """GET shows the rules; POST with `preview` re-renders with the preview (no JS); POST saves a new version."""
    project, _ = lead_project(request.user, slug, method=request.method)
    current = current_rule_set(project)
    form = RedactionRulesForm(request.POST or None, initial=RedactionRulesForm.initial_for(current))
    context = {"project": project, "current": current, "form": form, "tab": "redaction", "show_errors": True}
    if request.method == "POST":
        if "preview" in request.POST:
            context["preview"] = {"form": form, "result": form.preview()}
            return render(request, "labeling/lead/redaction.html", context, status=200 if form.is_valid() else 400)
        if form.is_valid():
            try:
                saved = redaction_services.save_rule_set(project=project, **form.rules(), actor=request.user)
            except InvalidInput as exc:
                form.add_error("custom", exc.message)
            else:
                if current is not None and saved.pk == current.pk:
                    messages.info(request, f"Nothing changed: version {saved.version} stays in force.")
                else:
                    messages.success(
                        request,
                        f"Redaction rules v{saved.version} saved. Outputs sent from now on are redacted with them; "
                        "outputs stored earlier keep the text they were stored with.",
                    )
                return redirect("labeling:redaction", slug=project.slug)
        context["history"] = rule_set_history(project)
        return render(request, "labeling/lead/redaction.html", context, status=400)
    context["history"] = rule_set_history(project)
    return render(request, "labeling/lead/redaction.html", context)


@login_required
@require_POST
def redaction_preview(request, slug: str):
    """An HTML fragment: the sample with each match highlighted and its placeholder, and counts per kind."""
    project, _ = lead_project(request.user, slug, method=request.method)
    form = RedactionRulesForm(request.POST)
    preview = {"form": form, "result": form.preview()}
    status = 200 if preview["result"] is not None else 400
    return render(
        request, "labeling/lead/_redaction_preview.html", {"project": project, "preview": preview}, status=status
    )
