"""Act on what the explore page found: add outputs to a queue (leads), export the filter's result (engineers, leads,
admins: `rules.access.exporting_project`).

The explore page (explore_views) posts its ticked rows, or "all results" with its filter, to `add`; its export
links carry the page's filter in the query string. A bad filter, or a queue the project does not have, is a
400 with the message (DomainErrorMiddleware). Adding: anyone but a project's leads and admins gets a 404. Exporting: an
expert, or an operator who is not a member, gets the 404 page saying why, anyone else "No such project.".
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from labeling.rules.access import ADD_TO_QUEUE_REFUSED, exporting_project, managed_project
from labeling.rules.explore import filter_query
from labeling.rules.text import isolated
from labeling.selectors import explore as explore_selectors
from labeling.selectors.explore_actions import first_match_ids, ids_of_external_ids
from labeling.selectors.metrics_api import queue_of_project
from labeling.services import hand_picked, output_exports


def chosen_queue_key(project_id: int) -> str:
    """The session key of the queue a lead last chose in the project's add-to-queue menu."""
    return f"explore_add_queue:{project_id}"


@login_required
@require_POST
def add_to_queue(request: HttpRequest, slug: str) -> HttpResponse:
    """Add the ticked outputs (`output`, repeated external ids), or with `all=1` the filter's newest ADD_LIMIT
    results, to the queue `queue`; back to the explore page with what was done."""
    project, _ = managed_project(request.user, slug, refusal=ADD_TO_QUEUE_REFUSED)
    spec = explore_selectors.read_filter(QueryDict(request.POST.get("filter", "")), project)
    query = filter_query(spec)
    queue = queue_of_project(project, request.POST.get("queue", ""))
    # The explore page's menu comes back on this queue, added to or not: the next click must not go to its first one.
    request.session[chosen_queue_key(project.pk)] = queue.slug
    more = False
    if request.POST.get("all") == "1":
        output_ids, more = first_match_ids(project, spec, limit=hand_picked.ADD_LIMIT)
        nothing = "Nothing was added: no output matches the filter."
    else:
        # Django refuses a form of more than 1,000 fields (DATA_UPLOAD_MAX_NUMBER_FIELDS) with a 400 first.
        output_ids = ids_of_external_ids(project, request.POST.getlist("output"))
        nothing = "Nothing was added: choose outputs first, or add all results."
    back = reverse("labeling:explore", args=[project.slug]) + (f"?{query}" if query else "")
    if not output_ids:
        messages.error(request, nothing)
        return redirect(back)
    result = hand_picked.add_to_queue(
        project=project, queue=queue, output_ids=output_ids, actor=request.user, source=query
    )
    messages.success(request, _added_message(result, isolated(queue.name), more))
    return redirect(back)


def _added_message(result: hand_picked.AddResult, queue_name: str, more: bool) -> str:
    noun = "output" if result.added == 1 else "outputs"
    message = f"{result.added:,} {noun} added to {queue_name}"
    if result.already_in:
        message += f"; {result.already_in:,} {'was' if result.already_in == 1 else 'were'} in it already"
    if more:
        message += (
            f". Only the first {hand_picked.ADD_LIMIT:,} results in the list's order were taken: "
            "narrow the filter for the rest"
        )
    return message + "."


@login_required
@require_GET
def export(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    """The outputs the filter in the query string matches, newest first, streamed as JSONL or CSV."""
    project, _ = exporting_project(request.user, slug)
    spec = explore_selectors.read_filter(request.GET, project)  # exporters never read blind
    export_format = output_exports.FORMATS[fmt]
    chunks = export_format.chunks(project, spec)  # a bad filter raises here, before the response starts
    output_exports.record_export(project=project, spec=spec, fmt=fmt, actor=request.user)
    response = StreamingHttpResponse(chunks, content_type=export_format.content_type)
    day = timezone.localdate(timezone=project.tzinfo)
    filename = f"{project.slug}-outputs-{day.isoformat()}.{export_format.extension}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
