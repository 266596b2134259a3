"""The audit log page: who did what in the project, newest first, filtered and paged (leads and admins, and operators
who are not members: `read_project`).

Each event is told as a sentence from `audit_sentences`; the template escapes it like any user text.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from labeling.exceptions import InvalidInput
from labeling.rules.access import LEADS_ONLY, MANAGING_ROLES, read_project
from labeling.rules.commands import COMMAND, by_command
from labeling.selectors.audit import actions_in_log, actors_in_log, audit_page

from . import audit_sentences
from .audit_forms import AUTOMATIC_LABEL, AuditFilterForm


@login_required
@require_GET
def audit_log(request: HttpRequest, slug: str) -> HttpResponse:
    project, membership = read_project(request.user, slug, MANAGING_ROLES, refusal=LEADS_ONLY)
    form = AuditFilterForm(request.GET, actions=actions_in_log(project), actors=actors_in_log(project))
    page = None
    if form.is_valid():
        try:
            page = audit_page(project, where=form.audit_filter(), **form.cursor())
        except InvalidInput as exc:
            form.add_error(None, exc.message)
    context = {
        "project": project,
        "tab": "audit",
        "operator_view": membership is None,
        "form": form,
        "page": page,
        "rows": [_row(event) for event in page.events] if page else [],
        "filtered": page is not None and form.is_filtered(),
        "paged": page is not None and any(form.cursor().values()),
    }
    return render(request, "labeling/audit/log.html", context, status=200 if page else 400)


def _row(event) -> dict:
    sentence = audit_sentences.sentence(event.action, event.details)
    details = event.details if isinstance(event.details, dict) else {}
    return {
        "event": event,
        "area": audit_sentences.area_of(event.action),
        "sentence": sentence,
        "pairs": [] if sentence else audit_sentences.detail_pairs(event.details),
        # An erasure sent with an API key has no person behind it: name the key instead.
        "api_key": details.get("api_key") if event.actor_id is None else None,
        "who": _who(event, details),
    }


def _who(event, details: dict) -> str:
    """Who did it, as the row's "Who" says it: a person, an API key, a command an operator ran, or nobody."""
    if event.actor_id is not None:
        return event.actor.username
    if details.get("api_key"):
        return f"API key el_{details['api_key']}_…"
    if details.get(COMMAND):
        return by_command(details[COMMAND])
    return AUTOMATIC_LABEL
