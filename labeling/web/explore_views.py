"""The explore page: search and filter a project's outputs, read one session's conversation, save a view.

Who: every member, experts only while the project lets them (`rules.access.explore_project`), and operators.
The filter is the query string (`rules.explore`), so a filter state is a link; a bad value renders the page with
the message beside its field and status 400. The result list renders at once; its facets and charts are a
fragment (`explore_summary`) that explore.js fetches after the list shows, since they read up to 10,000 rows (the
first in the list's order, which the fragment names when more match).
Without script, a link opens the same fragment as a page.

Adding to a queue (leads) and exporting (engineers too) are helper views of their own (`explore_action_views`).
"""

import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from labeling.exceptions import DomainError, InvalidFilter, NotFound
from labeling.models import Item, Output, Project
from labeling.rules.access import (
    DATASET_ROLES,
    KEY_ROLES,
    SAVING_VIEW_REFUSED,
    SAVING_VIEW_ROLES,
    explore_project,
    has_role,
    labels_blind,
    manages,
    may_export,
    role_project,
)
from labeling.rules.explore import (
    ExploreFilter,
    facet_filter,
    filter_query,
    parse_filter,
    verdict_word,
)
from labeling.rules.gold import gold_answers
from labeling.rules.text import isolated
from labeling.selectors import explore as explore_selectors
from labeling.selectors.explore.usage import EVENT_DAYS, events_around
from labeling.selectors.explore_page import filter_choices, saved_view, saved_views
from labeling.selectors.rubrics import questions_of
from labeling.services import hand_picked
from labeling.services import saved_views as saved_view_services

from . import charts
from .expert_views import output_evidence
from .explore_action_views import chosen_queue_key
from .explore_forms import TOOLTIPS, chips, date_ranges, filter_bar
from .getting_started import outputs_request

PAGE_PARAMETERS = ("cursor",)  # the page's own parameter, beside the filter's


def explore_url(project: Project, query: str = "") -> str:
    return reverse("labeling:explore", args=[project.slug]) + (f"?{query}" if query else "")


def _back(request: HttpRequest) -> str:
    """The posted `back`, the filter of the explore page a saved view's page was opened from, re-encoded: it goes
    into a redirect's query string, and nothing it holds may leave it."""
    return QueryDict(request.POST.get("back", "")).urlencode()


@login_required
@require_GET
def explore(request: HttpRequest, slug: str) -> HttpResponse:
    project, membership = explore_project(request.user, slug)
    blind = labels_blind(membership)
    spec, page, problems = None, None, {}
    try:
        spec = explore_selectors.read_filter(request.GET, project, blind=blind, ignore=PAGE_PARAMETERS)
        canonical = filter_query(spec, cursor=request.GET.get("cursor", "").strip())
        if dict(QueryDict(canonical).lists()) != dict(request.GET.lists()):
            # The bar sends every field, empty ones too: keep the URL the short, canonical filter.
            return redirect(explore_url(project, canonical))
        page = explore_selectors.result_page(
            project, spec, cursor=request.GET.get("cursor") or None, with_gold=not blind
        )
    except InvalidFilter as refused:
        problems = refused.problems
    if blind:
        verdicts = None
    elif page is not None:
        verdicts = page.verdicts
    else:  # a refused filter: the bar still offers the verdict select, its chips still read pass or fail
        verdicts = explore_selectors.verdict_questions(project, spec or ExploreFilter())
    verdict = verdicts.current if verdicts else None
    query = filter_query(spec) if spec is not None else ""
    chip_list = chips(spec, verdict["key"] if verdict else None, verdicts.former if verdicts else ()) if spec else []
    can_manage = manages(membership)
    choices = filter_choices(project)
    context = {
        "project": project,
        "membership": membership,
        "bar": filter_bar(request.GET, problems, choices, verdict, blind=blind),
        "help": TOOLTIPS,
        "spec": spec,
        "query": query,
        "chips": chip_list,
        "widen": _widen(project, chip_list)
        if page is not None and not page.rows and not request.GET.get("cursor")
        else [],
        "date_ranges": date_ranges(spec, project) if spec is not None else [],
        "page": page,
        "verdict": verdict,
        "total": _total_text(page.total) if page is not None else "",
        "next_query": filter_query(spec, cursor=page.next_cursor) if page is not None and page.next_cursor else "",
        "paged": bool(request.GET.get("cursor")),
        "saved_views": saved_views(project, blind=blind),
        "can_manage": can_manage,
        "can_save": has_role(membership, SAVING_VIEW_ROLES),
        # Engineers build the datasets: the filter that found the outputs opens their new-dataset form too.
        "can_make_dataset": has_role(membership, DATASET_ROLES),
        "can_export": may_export(membership),
        # Whoever may hold an API key gets the filter as the REST request that finds the same outputs.
        "api_request": outputs_request(request, query) if has_role(membership, KEY_ROLES) else "",
        "add_limit": f"{hand_picked.ADD_LIMIT:,}",
        # Only active queues take outputs: an inactive one is on no expert's screen (the filter lists every queue).
        "add_queues": [queue for queue in choices.queues if queue.is_active],
        "add_queue_chosen": request.session.get(chosen_queue_key(project.pk), ""),
    }
    return render(request, "labeling/explore/page.html", context, status=400 if problems else 200)


WIDEN_LIMIT = 6  # conditions counted without, at most: one bounded count each


@dataclass
class Widening:
    label: str
    query: str
    total: str


def _widen(project: Project, chip_list: list) -> list[Widening]:
    """For a filter that finds nothing: each condition whose removal alone finds outputs, with how many (a filter of
    one condition is left to "Clear all")."""
    if len(chip_list) < 2:
        return []
    found = []
    for chip in chip_list[:WIDEN_LIMIT]:
        total = explore_selectors.match_count(project, parse_filter(QueryDict(chip.query)))
        if total.value:
            found.append(Widening(chip.label, chip.query, _total_text(total)))
    return found


def _total_text(total: explore_selectors.Total) -> str:
    noun = "output" if total.value == 1 else "outputs"
    return f"≈ {total.value:,} {noun} (estimate)" if total.estimated else f"{total.value:,} {noun}"


@login_required
@require_GET
def explore_summary(request: HttpRequest, slug: str) -> HttpResponse:
    """Facets and distributions of the filter in the query string: a fragment for explore.js, else a page."""
    project, membership = explore_project(request.user, slug)
    blind = labels_blind(membership)
    fetched = request.headers.get("X-Requested-With") == "fetch"
    template = "labeling/explore/_summary.html" if fetched else "labeling/explore/summary_page.html"
    try:
        spec = explore_selectors.read_filter(request.GET, project, blind=blind)
        found = explore_selectors.summary(project, spec, with_gold=not blind)
        days = explore_selectors.daily(project, spec, total=found.total, verdicts=found.verdicts)
    except InvalidFilter as refused:
        return render(request, template, {"project": project, "problems": refused.problems}, status=400)
    query = filter_query(spec)
    context = {
        "project": project,
        "query": query,
        "summary": found,
        # "Counts from the slowest 10,000 of ~52,000 matches": the set the counts are of, by the list's order.
        "sample": f"{found.sort} {found.sample:,}",
        "total": f"{'~' if found.total.estimated else ''}{found.total.value:,}",
        "facets": [_facet_links(facet, spec) for facet in found.facets if facet.values],
        "charts": _charts(found, days),
    }
    return render(request, template, context)


@dataclass
class FacetLink:
    label: str
    count: int
    query: str | None  # the filter with this value added; None when no filter can say it
    selected: bool = False  # the filter holds this value already


@dataclass
class FacetBlock:
    title: str
    links: list[FacetLink] = field(default_factory=list)


def _facet_links(facet: explore_selectors.Facet, spec: ExploreFilter) -> FacetBlock:
    block, current = FacetBlock(facet.title), filter_query(spec)
    for value in facet.values:
        key = facet.key if facet.parameter in ("meta", "gold") else ""
        query = _with_value(spec, facet.parameter, value.value, key=key)
        # The gold facet counts the verdict question's answers: pass and fail, as the filter menu and badges say.
        label = (facet.parameter == "gold" and verdict_word(value.value)) or value.label
        if query == current:  # already part of the filter: nothing to add
            block.links.append(FacetLink(label, value.count, None, selected=True))
        else:
            block.links.append(FacetLink(label, value.count, query))
    return block


def _with_value(spec: ExploreFilter, parameter: str, value: str, *, key: str = "") -> str | None:
    """The canonical query of the filter with one more value (`key:value` for meta and gold); None when no filter can
    say it (a model-less output, a value too long for a parameter or blank, a tag beside any of several tags)."""
    if parameter == "model" and value == "(none)":
        return None
    params = QueryDict(filter_query(spec), mutable=True)
    if parameter == "tag" and spec.tags and value not in spec.tags:
        # A tag's count is of the outputs that also have the tags asked for: its link must narrow to them, not add
        # one more alternative. "Any of a, b, and also c" is no filter: that count gets no link.
        if len(spec.tags) > 1 and not spec.all_tags:
            return None
        params["tags"] = "all"
    params.appendlist(parameter, facet_filter(parameter, key, value))  # quoted where spaces at its ends count
    try:
        widened = parse_filter(params)
    except InvalidFilter:
        return None
    named = {
        "model": widened.models,
        "tag": widened.tags,
        "meta": dict(widened.metadata).get(key, ()),
        "gold": [answer for question, answer in widened.gold if question == key],
    }.get(parameter)
    return filter_query(widened) if named is None or value in named else None


def _number_format(width: float):
    """Writes a histogram's numbers with the decimals its bin width needs: a key from 0 to 1 (a confidence) gets
    "0.18", a length or latency whole numbers."""
    decimals = 0 if not 0 < width < 1 else min(6, math.ceil(-math.log10(width)))
    return lambda value: f"{value:,.{decimals}f}"


def _charts(found: explore_selectors.Summary, days: list[explore_selectors.Day]) -> list:
    per_day = [{"label": day.day.strftime("%b %d"), "value": day.outputs} for day in days]
    down_share = [
        {
            "x": day.day.strftime("%b %d"),
            "value": day.down_share,
            "detail": f"{day.thumbs_down} of {day.rated} rated" if day.rated else "",
        }
        for day in days
    ]
    sampled = " (≈, counted on a sample of the outputs)" if days and days[0].sampled else ""
    made = [
        charts.histogram_chart(name="per-day", title=f"Outputs per day{sampled}", bars=per_day, x_title="Day"),
        charts.multi_line_chart(
            name="down-share",
            title=f"Thumbs-down share per day{sampled}",
            series=[{"key": "fail", "name": "Thumbs down, of the rated", "points": down_share}],
            x_title="Day",
            empty_message="No feedback in these days.",
        ),
    ]
    for histogram in found.histograms:
        width = histogram.bins[0][1] - histogram.bins[0][0] if histogram.bins else 1
        number = _number_format(width)
        bars = [
            {"label": number(low), "value": count, "detail": f"{number(low)} to {number(high)}"}
            for low, high, count in histogram.bins
        ]
        markers = []
        if histogram.bins:
            low = histogram.bins[0][0]
            markers = [
                {"at": (value - low) / width if width else 0, "label": f"{name} = {number(value)}"}
                for name, value in histogram.percentiles.items()
            ]
        # Past EXACT_LIMIT matches a histogram is of the facets' sample: its title says which outputs.
        title = f"{histogram.title} (the {found.sort} {found.sample:,})" if found.estimated else histogram.title
        name = f"histogram-{histogram.title}"
        made.append(charts.histogram_chart(name=name, title=title, bars=bars, markers=markers))
    return made


# -- one session's conversation ------------------------------------------------------------------------------


@login_required
@require_GET
def explore_session(request: HttpRequest, slug: str) -> HttpResponse:
    """The session's outputs in time order, each with its queue items, labels and gold answers. A long session shows
    a window of its turns: from the first, or around the output `around` (its external id), with links to the
    earlier and later turns."""
    project, membership = explore_project(request.user, slug)
    session_id = request.GET.get("id", "")
    around = request.GET.get("around", "")
    turn = explore_selectors.session_turn(project, around) if around else None
    found = explore_selectors.conversation(project, session_id, around=turn)
    if not found.outputs:
        raise Http404("No outputs in this session.")
    return _turns_page(request, project, membership, found.outputs, session_id=session_id, window=found)


def _session_url(project: Project, session_id: str, back: str, around: Output | None = None) -> str:
    """The conversation page of a session, at the turn `around` (the window of turns around it) when given."""
    query = {"id": session_id, **({"around": around.external_id} if around else {}), **({"back": back} if back else {})}
    turn = f"#turn-{around.pk}" if around else ""
    return f"{reverse('labeling:explore-session', args=[project.slug])}?{urlencode(query)}{turn}"


@login_required
@require_GET
def explore_output(request: HttpRequest, slug: str) -> HttpResponse:
    """One output (`id`, its external id): at its turn of its conversation when it has a session, else alone on the
    conversation's page, with its context, metadata, labels and gold."""
    project, membership = explore_project(request.user, slug)
    output = explore_selectors.output_with_reviews(project, request.GET.get("id", ""))
    if output is None:
        raise Http404("No such output.")
    if output.session_id:
        # `around`: in a session longer than one page of turns, the page shows the turns around this one.
        return redirect(_session_url(project, output.session_id, request.GET.get("back", ""), output))
    return _turns_page(request, project, membership, [output], session_id="")


def _turns_page(
    request: HttpRequest,
    project: Project,
    membership,
    outputs: list[Output],
    *,
    session_id: str,
    window: explore_selectors.Conversation | None = None,
):
    prompts = {question["key"]: question.get("prompt", question["key"]) for question in questions_of(project)}
    # Experts label blind: they see their own labels here, not their colleagues'.
    everyone = not labels_blind(membership)
    turns = [_turn(output, prompts, request.user.pk if not everyone else None) for output in outputs]
    back = request.GET.get("back", "")
    context = {
        "project": project,
        "session_id": session_id,
        "turns": turns,
        "labels_hidden": not everyone,
        # Where a lead acts on a reviewed output: its item's case on the adjudication screens.
        "can_adjudicate": manages(membership),
        # A window of a long session: the way to the turns before and after it (centred on its first or last turn).
        "earlier_url": _session_url(project, session_id, back, outputs[0]) if window and window.earlier else "",
        "later_url": _session_url(project, session_id, back, outputs[-1]) if window and window.later else "",
        "back": back,
        # What the end user did before, during and after these turns: came back, or left after a bad answer.
        "usage": events_around(project, outputs),
        "event_days": EVENT_DAYS,
    }
    return render(request, "labeling/explore/session.html", context)


def _turn(output: Output, prompts: dict[str, str], only_expert: int | None) -> dict[str, Any]:
    return {
        # As the item page shows it: the conversation, and what the model was given and how it ran (its context and
        # metadata), which tells a wrong answer from a right one.
        **output_evidence(output),
        "items": [_item(item, prompts, only_expert) for item in output.items.all()],
    }


def _item(item: Item, prompts: dict[str, str], only_expert: int | None) -> dict[str, Any]:
    resolution = getattr(item, "resolution", None)
    gold = gold_answers(resolution.automatic, resolution.adjudicated) if resolution else {}
    labels = [label for label in item.labels.all() if only_expert is None or label.expert_id == only_expert]
    return {
        "item": item,
        "labels": [
            {"label": label, "answers": [(prompts.get(key, key), _answer_text(v)) for key, v in label.answers.items()]}
            for label in labels
        ],
        "gold": [(prompts.get(key, key), _answer_text(v)) for key, v in gold.items()] if only_expert is None else [],
    }


def _answer_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(part) for part in value) or "—"
    return "—" if value is None or value == "" else str(value)


# -- saved views ----------------------------------------------------------------------------------------------


@login_required
@require_POST
def view_save(request: HttpRequest, slug: str) -> HttpResponse:
    """Save the page's filter (`query`) under `name`; back to the page either way, saying what happened."""
    project, _ = role_project(request.user, slug, SAVING_VIEW_ROLES, refusal=SAVING_VIEW_REFUSED)
    query = request.POST.get("query", "")
    name = request.POST.get("name", "").strip()
    try:
        saved = saved_view_services.save_view(project=project, name=name, query=query, actor=request.user)
    except NotFound:
        raise
    except DomainError as refused:
        messages.error(request, refused.message)
        return redirect(explore_url(project, query))
    messages.success(request, f"Saved the view “{isolated(saved.name)}”: it is listed here and on the project page.")
    return redirect(explore_url(project, saved.query))


@login_required
@require_GET
def view_manage(request: HttpRequest, slug: str, view_id: int) -> HttpResponse:
    """A saved view's page: rename it, or delete it (the confirmation its "×" asks for, no script needed). `back` is
    the filter of the explore page it was opened from, where both return."""
    project, _ = role_project(request.user, slug, SAVING_VIEW_ROLES, refusal=SAVING_VIEW_REFUSED)
    context = {"project": project, "view": saved_view(project, view_id), "back": request.GET.get("back", "")}
    return render(request, "labeling/explore/saved_view.html", context)


@login_required
@require_POST
def view_rename(request: HttpRequest, slug: str, view_id: int) -> HttpResponse:
    project, _ = role_project(request.user, slug, SAVING_VIEW_ROLES, refusal=SAVING_VIEW_REFUSED)
    back = _back(request)
    try:
        view = saved_view_services.rename_view(
            project=project, view_id=view_id, name=request.POST.get("name", ""), actor=request.user
        )
    except NotFound:
        raise
    except DomainError as refused:
        messages.error(request, refused.message)
        page = reverse("labeling:explore-view", args=[project.slug, view_id])
        return redirect(f"{page}?{urlencode({'back': back})}")
    messages.success(request, f"Renamed the view to “{isolated(view.name)}”.")
    return redirect(explore_url(project, back))


@login_required
@require_POST
def view_delete(request: HttpRequest, slug: str, view_id: int) -> HttpResponse:
    """Delete a saved view, then back to the filter the page showed (`back`), not to an empty explore page."""
    project, _ = role_project(request.user, slug, SAVING_VIEW_ROLES, refusal=SAVING_VIEW_REFUSED)
    saved_view_services.delete_view(project=project, view_id=view_id, actor=request.user)
    messages.success(request, "Saved view deleted.")
    return redirect(explore_url(project, _back(request)))
