"""The lead's screens: queues (list, editor, rule preview, backfill), rubric versions, experts' progress.

Only leads and admins of the project get past `managed_project` (the queue list, whose refusal names the queues) or
`lead_project` (the queue editor, the rule preview and backfill, the rubric, the experts' progress: a page's refusal,
or that what they sent is a lead's); anyone else sees a 404 (a member of another role with the reason). The
new-queue form opened from the explore page (`?explore=<the filter's query>`) is pre-filled with the filter as a rule
(`rules.queue_from_filter`), saying what became what and what was not carried.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from labeling.exceptions import EditConflict, InvalidInput, InvalidSpec
from labeling.models import QuestionKind
from labeling.notices import answers_lost_text, verdict_moved_text
from labeling.rules import calendar
from labeling.rules.access import lead_project, managed_project, queue_labelers
from labeling.rules.explore import filter_query
from labeling.rules.gold import asked_differently
from labeling.rules.queue_from_filter import rule_from_filter
from labeling.rules.text import counted, isolated
from labeling.selectors import management
from labeling.selectors.explore import read_filter
from labeling.selectors.outbox import backfill_placed, queued_backfills
from labeling.selectors.queues import backfill_figure
from labeling.selectors.rubrics import answered_keys, replaced_version
from labeling.services import queues as queue_services
from labeling.services import rubrics
from labeling.services.routing import preview_rule

from .formatting import per_label_time
from .lead_forms import PreviewForm, QueueForm, RubricForm, describe_rule

# What an expert or engineer of the project reads on a queue screen (still the 404 of the lead's screens).
QUEUES_REFUSAL = "Only the project's leads and admins manage its queues."


@login_required
@require_GET
def queue_list(request, slug: str):
    project, _ = managed_project(request.user, slug, refusal=QUEUES_REFUSAL)
    week = calendar.current_week(project)
    queues = list(management.queues_with_week_counts(project, week))
    backfills = queued_backfills([queue.pk for queue in queues])
    labelers = queue_labelers(project.pk)
    rows = [
        {
            "queue": queue,
            "rule": describe_rule(queue.rule),
            "backfill": backfills.get(queue.pk),
            # Who the queue names but may not label there any more, and whether nobody may (a queue that names
            # nobody: no expert or lead of the project may).
            "gone": labelers.gone(queue.pk),
            "without_expert": labelers.without_expert(queue.pk),
        }
        for queue in queues
    ]
    return render(
        request, "labeling/lead/queue_list.html", {"project": project, "week": week, "rows": rows, "tab": "queues"}
    )


@login_required
@require_http_methods(["GET", "POST"])
def queue_create(request, slug: str):
    project, _ = lead_project(request.user, slug, method=request.method, refusal=QUEUES_REFUSAL)
    return _queue_editor(request, project, queue=None, explore=request.GET.get("explore"))


@login_required
@require_http_methods(["GET", "POST"])
def queue_edit(request, slug: str, queue_id: int):
    project, _ = lead_project(request.user, slug, method=request.method, refusal=QUEUES_REFUSAL)
    queue = management.queue_of_project(project, queue_id)
    return _queue_editor(request, project, queue=queue)


def _queue_editor(request, project, *, queue, explore: str | None = None):
    """GET shows the form (a new queue's pre-filled from the explore filter `explore`, a query string, when given; a
    bad one is a 400 saying why); POST with `preview` re-renders it with the rule's preview; POST saves."""
    experts = management.queue_expert_choices(project, queue)
    made_from, prefill = None, {}
    if explore is not None:
        spec = read_filter(QueryDict(explore), project)
        made_from = rule_from_filter(spec)
        prefill = {"initial": QueueForm.initial_for_rule(made_from.rule)}
    form = QueueForm(request.POST or None, project=project, experts=experts, queue=queue, actor=request.user, **prefill)
    context = {"project": project, "queue": queue, "form": form, "tab": "queues", "show_errors": True}
    if made_from:
        context["from_filter"] = {
            "query": filter_query(spec),
            "carried": [(part.part, form.fields[part.field].label, part.note) for part in made_from.carried],
            "not_carried": made_from.not_carried,
        }
    context["backfill"] = queued_backfills([queue.pk]).get(queue.pk) if queue else None
    context.update(_without_expert(project, queue))
    if request.method == "GET":
        return render(request, "labeling/lead/queue_form.html", context)
    if "preview" in request.POST:
        # The no-JS path of the Preview button: nothing is saved, the half-filled form is not judged; a rule that cannot
        # be previewed is a 400 whose preview says why, as the live preview's fragment is.
        preview = _preview(project, request.POST, queue_id=queue.pk if queue else 0)
        context.update(show_errors=False, preview=preview)
        return render(request, "labeling/lead/queue_form.html", context, status=400 if preview["form"].errors else 200)
    if form.is_valid():
        try:
            if queue is None:
                saved = queue_services.create_queue(
                    project=project, values=form.values(), actor=request.user, slug_generated=form.slug_generated
                )
            else:
                saved = queue_services.update_queue(
                    queue=queue, values=form.values(), actor=request.user, shown=form.cleaned_data["shown"]
                )
        except InvalidSpec as exc:
            if isinstance(exc, EditConflict):  # another lead's save meanwhile: the page learns its values
                form.take_current(exc)
            form.add_problems(exc)
        else:
            if queue is None:
                messages.success(
                    request,
                    f"Queue “{isolated(saved.name)}” created. New outputs go into it from now on; backfill it to "
                    "add this week's outputs too.",
                )
            else:
                messages.success(request, f"Queue “{isolated(saved.name)}” saved.")
            return redirect("labeling:queue-edit", slug=project.slug, queue_id=saved.pk)
    return render(request, "labeling/lead/queue_form.html", context, status=400)


def _without_expert(project, queue) -> dict:
    """Whether nobody may label in the queue (`without_expert`: its eligible experts, or, naming none, every expert and
    lead of the project, were removed, given a role that does not label, or deactivated) and whom it names who may not
    (`gone`), for its page; a new queue has neither."""
    if queue is None:
        return {"without_expert": False, "gone": ()}
    labelers = queue_labelers(project.pk)
    return {"without_expert": labelers.without_expert(queue.pk), "gone": labelers.gone(queue.pk)}


@login_required
@require_http_methods(["GET", "POST"])
def queue_preview(request, slug: str):
    """An HTML fragment: how many of this week's outputs the rule matches and would sample. A refused POST is told it
    was sent by a role that does not (LEADS_ONLY_ACTION), as the editor's own Preview button is."""
    project, _ = lead_project(request.user, slug, method=request.method, refusal=QUEUES_REFUSAL)
    data = request.POST if request.method == "POST" else request.GET
    preview = _preview(project, data, queue_id=None)
    status = 400 if preview["form"].errors else 200
    return render(request, "labeling/lead/_preview.html", {"project": project, "preview": preview}, status=status)


def _preview(project, data, *, queue_id: int | None) -> dict:
    """Validate the rule fields and count; `queue_id` None means: take it from the data (0 for a new queue)."""
    form = PreviewForm(data)
    result = {"form": form}
    if form.is_valid():
        if queue_id is None:
            queue_id = form.cleaned_data.get("queue_id") or 0
        queue = management.queue_of_project(project, queue_id) if queue_id else None  # another project's queue: 404
        rule, sample_rate = form.cleaned_data["rule"], form.cleaned_data["sample_rate"]
        counts = preview_rule(project=project, rule=rule, sample_rate=sample_rate, queue_id=queue_id)
        quota = form.cleaned_data.get("weekly_quota")
        week = calendar.current_week(project)
        backfill = backfill_figure(queue, not_in_queue=counts["not_in_queue"], in_queue=counts["in_queue"], quota=quota)
        result.update(
            counts,
            week=week,
            new_queue=not queue_id,
            quota=quota,
            placed=counts["sampled"] if quota is None else min(quota, counts["sampled"]),
            paused=backfill.paused,
            backfill=backfill.places,
            backfill_once_active=backfill.once_active,
            conditions=describe_rule(rule),
        )
    return result


@login_required
@require_POST
def queue_backfill(request, slug: str, queue_id: int):
    project, _ = lead_project(request.user, slug, method=request.method)
    queue = management.queue_of_project(project, queue_id)
    since = calendar.week_start(project, calendar.current_week(project))
    try:
        asked = queue_services.request_backfill(queue=queue, since=since, actor=request.user)
    except InvalidInput as refused:  # a page from before the queue was switched off
        messages.error(request, refused.message)
        return redirect("labeling:queue-edit", slug=project.slug, queue_id=queue.pk)
    placed = backfill_placed(asked)
    if placed is not None:  # no broker (the demo): it ran on commit
        messages.success(
            request,
            f"Backfill of “{isolated(queue.name)}” done: {counted(placed, 'output')} of this week placed in it "
            f"(those since {since:%a %d %b} that match its rule and sample and were not in it yet, within its quota).",
        )
    else:
        messages.success(
            request,
            f"Backfill of “{isolated(queue.name)}” queued: a worker places this week's outputs "
            f"(since {since:%a %d %b}) that match its rule in it, within its quota; this list shows it until done.",
        )
    return redirect("labeling:queues", slug=project.slug)


@login_required
@require_http_methods(["GET", "POST"])
def rubric_versions(request, slug: str):
    project, _ = lead_project(request.user, slug, method=request.method)
    versions = management.rubric_versions(project)
    current = versions[0] if versions else None
    if request.method == "POST":
        form = RubricForm(request.POST)
        if form.is_valid():
            try:
                rubric = rubrics.publish_rubric(
                    project=project,
                    questions=form.cleaned_data["questions"],
                    guidelines=form.cleaned_data["guidelines"],
                    published_by=request.user,
                    replaces=form.cleaned_data["replaces"],
                )
            except InvalidSpec as exc:
                form.add_problems(exc)
            else:
                messages.success(
                    request,
                    f"Rubric v{rubric.version} published. Experts answer it from their next item on; "
                    "labels already given keep the version they answered.",
                )
                # Against the version the lead's form was based on, not the one this request read before publishing:
                # another publish may have come between (a double click's twin answers with the first click's).
                replaced = replaced_version(project, published=rubric, based_on=form.cleaned_data["replaces"])
                changed = asked_differently(replaced.questions, rubric.questions) if replaced else []
                # Only answers given are lost: a question nobody answered yet changes freely.
                if changed := answered_keys(project, changed):
                    for warning in answers_lost_text(replaced, rubric, changed):
                        messages.warning(request, warning)
                if moved := verdict_moved_text(replaced, rubric):
                    messages.warning(request, moved)
                return redirect("labeling:rubric", slug=project.slug)
        status = 400
        versions = management.rubric_versions(project)  # again: a version published meanwhile is shown
        current = versions[0] if versions else None
    else:
        form = RubricForm(initial=RubricForm.initial_for(current))
        status = 200
    # ?version=N: an earlier version's questions and guidelines, read beside the form (which edits the current one).
    asked = request.GET.get("version", "")
    shown = next((rubric for rubric in versions if str(rubric.version) == asked), None) if asked else current
    if asked and shown is None:
        status = 404
        numbers = ", ".join(str(rubric.version) for rubric in versions) or "none yet"
        messages.error(request, f"No rubric version {asked[:20]}: the versions are {numbers}.")
        shown = current
    kinds = dict(QuestionKind.choices)
    questions = [{**question, "kind_label": kinds[question["kind"]]} for question in (shown.questions if shown else [])]
    context = {
        "project": project,
        "versions": versions,
        "current": current,
        "shown": shown,
        "questions": questions,
        "form": form,
        "tab": "rubric",
    }
    return render(request, "labeling/lead/rubric.html", context, status=status)


@login_required
@require_GET
def expert_progress(request, slug: str):
    project, _ = lead_project(request.user, slug, method=request.method)
    week = calendar.current_week(project)
    rows = [
        {"progress": progress, "median": per_label_time(progress.median_seconds)}
        for progress in management.expert_progress(project, week=week)
    ]
    totals = {
        "labels_this_week": sum(row["progress"].labels_this_week for row in rows),
        "labels_all_time": sum(row["progress"].labels_all_time for row in rows),
        "active": sum(1 for row in rows if row["progress"].labels_this_week),
        "live_leases": sum(row["progress"].live_leases for row in rows),
    }
    context = {"project": project, "week": week, "rows": rows, "totals": totals, "tab": "experts"}
    return render(request, "labeling/lead/experts.html", context)
