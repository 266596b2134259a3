"""The API keys page: the project's keys, issuing one (its secret shown once), revoking one after a confirm.

Engineers, leads and admins of the project (`rules.access.KEY_ROLES`); experts get the 404 page saying why, outsiders
"No such project.". Engineers neither give a key the privacy scope (the form says why) nor revoke keys they did not
issue (the 404 page saying why).
Operators who are not members read the list (`read_project`) and revoke any key; issuing one stays with the members.
The secret is only in the response to the POST that issued it: never in the session, a message or a
redirect, so reloading the list or going back to it does not show it again.
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from labeling.exceptions import DomainError, Forbidden, TooManyRequests
from labeling.models import Scope
from labeling.rules.access import (
    KEY_ROLES,
    KEYS_REFUSED,
    check_may_revoke_key,
    issuable_scopes,
    manages,
    may_revoke_key,
    member_changes,
    read_project,
)
from labeling.rules.text import isolated
from labeling.selectors.api_keys import key_of_project, project_keys
from labeling.services.api_keys import IssuedKey, create_api_key, revoke_api_key

from .getting_started import EXAMPLE_TEXTS
from .key_forms import ApiKeyForm
from .navigation import page_frame


def _frame(project, membership) -> dict:
    """Leads and admins see the page among the manage tabs, an operator who is not a member among the pages they read
    (`operator_view`); engineers in a frame of their own."""
    can_manage, operator_view = manages(membership), membership is None
    return {
        "project": project,
        "tab": "keys",
        "can_manage": can_manage,
        "operator_view": operator_view,
        "frame": page_frame(membership),
    }


@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest, slug: str) -> HttpResponse:
    """GET lists the keys; POST issues one and answers with its secret, this once."""
    project, membership = read_project(request.user, slug, KEY_ROLES, refusal=KEYS_REFUSED)
    if request.method == "POST":
        member_changes(membership)  # an operator who is not a member reads the keys and revokes them, issues none
    form = ApiKeyForm(request.POST or None, offered_scopes=issuable_scopes(membership.role)) if membership else None
    issued, status, retry_after = None, 200, None
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                issued = create_api_key(
                    project=project,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    created_by=request.user,
                )
            except TooManyRequests as exc:
                form.add_error(None, exc.message)
                status, retry_after = exc.status_code, exc.retry_after
            except Forbidden as exc:
                form.add_error("scopes", exc.message)
                status = exc.status_code
            except DomainError as exc:
                form.add_error("name", exc.message)
            else:
                form, status = ApiKeyForm(offered_scopes=issuable_scopes(membership.role)), 200
    keys = project_keys(project)
    context = {
        **_frame(project, membership),
        "keys": keys,
        "revocable": {row.api_key.pk for row in keys.rows if may_revoke_key(request.user, membership, row.api_key)},
        "form": form,
        "issued": issued,
        "examples": _examples(request, issued) if issued else [],
    }
    response = render(request, "labeling/keys/list.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the secret must not stay in any cache
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def api_key_revoke(request: HttpRequest, slug: str, key_id: int) -> HttpResponse:
    """GET asks to confirm; POST revokes the key at once (a second revoke changes nothing)."""
    project, membership = read_project(request.user, slug, KEY_ROLES, refusal=KEYS_REFUSED)
    api_key = key_of_project(project, key_id)
    # The 404 page with the reason, on the confirm page and the POST alike; an operator revokes any key.
    check_may_revoke_key(request.user, membership, api_key)
    if request.method == "GET":
        context = {**_frame(project, membership), "api_key": api_key}
        return render(request, "labeling/keys/revoke.html", context)
    if not api_key.is_active:
        messages.info(request, f"The key “{isolated(api_key.name)}” was revoked already.")
    else:
        revoke_api_key(api_key=api_key, revoked_by=request.user)
        messages.success(
            request,
            f"Key “{isolated(api_key.name)}” (el_{api_key.prefix}_…) revoked: "
            "every request with it is refused from now on.",
        )
    return redirect("labeling:api-keys", slug=project.slug)


# One output, with the getting-started line's texts that fit any product.
SAMPLE_OUTPUT = json.dumps({"outputs": [{"external_id": "conv-1:turn-1", **EXAMPLE_TEXTS}]})


def _examples(request: HttpRequest, issued: IssuedKey) -> list[dict]:
    """Ready-to-paste curl lines for what the new key may do."""
    base = request.build_absolute_uri("/api/v1")
    auth = f'-H "Authorization: Bearer {issued.secret}"'
    examples = []
    if issued.api_key.has_scope(Scope.INGEST):
        lines = [f"curl -sS {base}/outputs", auth, '-H "Content-Type: application/json"', f"-d '{SAMPLE_OUTPUT}'"]
        examples.append({"title": "Send an output", "command": " \\\n  ".join(lines)})
    if issued.api_key.has_scope(Scope.READ):
        lines = [f'curl -sS "{base}/outputs?page_size=10"', auth]
        examples.append({"title": "Read the newest outputs", "command": " \\\n  ".join(lines)})
    if issued.api_key.has_scope(Scope.DATASETS):
        datasets = f"{base}/projects/{issued.api_key.project.slug}/datasets"
        lines = [f"curl -sS -X POST {datasets}/DATASET_SLUG/build", auth]
        examples.append({"title": "Build a dataset's next version", "command": " \\\n  ".join(lines)})
    if issued.api_key.has_scope(Scope.PRIVACY):
        lines = [f"curl -sS -X DELETE {base}/end-users/END_USER_ID", auth]
        examples.append({"title": "Erase one end user's data", "command": " \\\n  ".join(lines)})
    return examples
