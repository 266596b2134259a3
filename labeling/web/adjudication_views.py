"""The lead's adjudication screens: items whose experts tie (or that a lead sent here), and one item's case.

Leads and admins only (`rules.access.lead_project`); anyone else, and any item not of this project, gets a 404.
The case page of a complete item shows the experts' labels side by side with their names (blind labeling ends here:
leads may know who said what) and records the lead's gold answers through `services.resolution.adjudicate`, the one
validator of answers. Both pages show the item's flags and comments, and a lead marks a flag resolved there
(`services.labels.resolve_flag`); a flagged item still being labeled has no case yet, so its page shows only the
output and what was said about it.
"""

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from labeling.exceptions import FlagAlreadyResolved, InvalidAnswers, InvalidInput, NotFound
from labeling.models import QuestionKind, ResolutionStatus
from labeling.rules.access import lead_project
from labeling.rules.gold import changed_by_lead, gold_answer, open_ties, still_answers
from labeling.rules.ids import id_from_text
from labeling.rules.text import isolated
from labeling.selectors import gold
from labeling.selectors.discussion import discussed_item, item_discussion
from labeling.services import labels
from labeling.services import resolution as resolution_services

from .answer_forms import TEXT_KINDS, answers_from_post, field_name, form_fields
from .expert_views import chat_messages
from .spec_forms import ShownValuesField

METHODS = {
    "unanimous": "Unanimous",
    "majority": "Majority",
    "median": "Median",
    "tie": "Tie",
    "list": "Experts' texts",
    "single": "The one expert's correction",
    "adjudicated": "Decided by a lead",
}


@login_required
@require_GET
def adjudication_list(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = lead_project(request.user, slug, method=request.method)
    rows, total = gold.adjudication_queue(project)
    context = {
        "project": project,
        "rows": rows,
        "total": total,
        "recent": gold.recently_adjudicated(project),
        "tab": "adjudication",
        "can_manage": True,
    }
    return render(request, "labeling/adjudication/list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def adjudicate_item(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """GET shows the case; POST records the gold answers, or (`action=mark`) sends the item here."""
    project, _ = lead_project(request.user, slug, method=request.method)
    if request.method == "GET":
        try:
            case = gold.adjudication_case(project, item_id)
        except NotFound:
            # A flagged item still being labeled has no case yet: its page shows what was said about it.
            return _open_item_page(request, discussed_item(project, item_id))
        return _case_page(request, case)
    case = gold.adjudication_case(project, item_id)
    if request.POST.get("action") == "mark":
        return _send_to_adjudication(request, project, case)
    return _decide(request, project, case)


@login_required
@require_POST
def flag_resolve(request: HttpRequest, slug: str, flag_id: int) -> HttpResponse:
    """Mark a flag resolved (with an optional note), back on its item's page."""
    project, _ = lead_project(request.user, slug, method=request.method)
    try:
        flag = labels.resolve_flag(
            lead=request.user, project=project, flag_id=flag_id, note=request.POST.get("note", "")
        )
    except InvalidInput as exc:
        said = exc.saying(isolated(exc.resolved_by)) if isinstance(exc, FlagAlreadyResolved) else exc.message
        messages.error(request, said)
        item_id = id_from_text(request.POST.get("item", ""))
        if item_id is None or item_id < 0:
            return redirect("labeling:adjudication", slug=project.slug)
    else:
        messages.success(request, f"Flag on item {flag.item_id} resolved: it is off the next meetings' agendas.")
        item_id = flag.item_id
    return redirect(reverse("labeling:adjudicate", args=[project.slug, item_id]) + "#discussion")


def _open_item_page(request: HttpRequest, item) -> HttpResponse:
    output = item.output
    context = {
        "project": item.project,
        "item": item,
        "output": output,
        "conversation": chat_messages(output.input),
        "input_is_text": isinstance(output.input, str),
        "labels_done": item.labels.count(),
        "discussion": item_discussion(item),
        "tab": "adjudication",
        "can_manage": True,
    }
    return render(request, "labeling/adjudication/open_item.html", context)


def _send_to_adjudication(request: HttpRequest, project, case: gold.AdjudicationCase) -> HttpResponse:
    resolution_services.mark_for_adjudication(lead=request.user, item=case.item, note=request.POST.get("note", ""))
    messages.success(request, f"Item {case.item.pk} is on the adjudication list, waiting for a decision.")
    return redirect("labeling:adjudicate", slug=project.slug, item_id=case.item.pk)


def _decide(request: HttpRequest, project, case: gold.AdjudicationCase) -> HttpResponse:
    answers = posted_answers(case, request.POST)
    note = request.POST.get("note", "")
    shown = posted_shown(request.POST)
    try:
        outcome = resolution_services.adjudicate(
            lead=request.user, item=case.item, answers=answers, note=note, shown=shown
        )
    except InvalidAnswers as exc:
        # Read again: another lead's decision (or an expert's edit) may have come in since this request read it, and
        # the page shown again starts from today's gold.
        return _case_page(request, gold.adjudication_case(project, case.item.pk), errors=exc.errors, status=400)
    if moved := [key for key in outcome.moved if key in outcome.decided]:
        messages.warning(
            request, f"The gold of {', '.join(moved)} changed while you had the page open; your answer was recorded."
        )
    for sentence in outcome.kept.values():
        messages.warning(request, f"{sentence} while you had the page open: that decision stands.")
    if moved := [key for key in outcome.moved if key not in outcome.decided and key not in outcome.kept]:
        messages.warning(
            request,
            f"The gold of {', '.join(moved)} changed while you had the page open; left as shown, it keeps following "
            "the experts' labels.",
        )
    decided = outcome.resolution
    if decided.status == ResolutionStatus.NEEDS_ADJUDICATION:
        waiting = ", ".join(open_ties(decided.automatic, decided.adjudicated))
        messages.warning(request, f"Saved. Item {case.item.pk} still ties on: {waiting}. Decide it to settle it.")
        return redirect("labeling:adjudicate", slug=project.slug, item_id=case.item.pk)
    if outcome.confirmed:
        messages.success(
            request, f"Gold answer of item {case.item.pk} confirmed as it is: it keeps following the experts' labels."
        )
    else:
        messages.success(request, f"Gold answer of item {case.item.pk} recorded.")
    return redirect("labeling:adjudication", slug=project.slug)


# The form -----------------------------------------------------------------------------------------------------
# Option questions post `q-<key>` as the labeling form does, so `answers_from_post` converts them. A text
# or correction question posts `pick-<key>`: `label-<id>` takes that expert's text, `own` the lead's own
# text from `own-<key>`, and empty leaves the question undecided, unless the lead typed their own text
# (without scripts, typing does not tick "Write my own" by itself).


def _pick_name(key: str) -> str:
    return f"pick-{key}"


def _own_name(key: str) -> str:
    return f"own-{key}"


def _none_name(key: str) -> str:
    return f"none-{key}"


def posted_answers(case: gold.AdjudicationCase, data: QueryDict) -> dict[str, Any]:
    """The lead's answers, typed, from the case form (undecided questions left out).

    A multi-choice question with no option ticked is undecided unless its *None of these* box is ticked: then the
    lead's answer is that none applies (`[]`)."""
    effective = data.copy()
    texts = {f"label-{label.pk}": label.answers for label in case.labels}
    for question in case.questions:
        key = question["key"]
        if question["kind"] not in TEXT_KINDS:
            continue
        pick, own = data.get(_pick_name(key), ""), data.get(_own_name(key), "")
        if pick == "own" or (pick == "" and own.strip()):
            effective[field_name(key)] = own
        elif pick in texts and isinstance(texts[pick].get(key), str):
            effective[field_name(key)] = texts[pick][key]
        else:
            effective.pop(field_name(key), None)
    answers = answers_from_post(case.questions, effective)
    for question in case.questions:
        key = question["key"]
        if question["kind"] == QuestionKind.MULTI_CHOICE and answers.get(key) == [] and _none_name(key) not in data:
            del answers[key]
    return answers


def shown_gold(case: gold.AdjudicationCase) -> str:
    """Each question's gold as this page shows it, posted back in a hidden field so the service tells the lead's
    changes from a gold that an expert's edit moved while the page was open (not signed: a lead may decide anything)."""
    return json.dumps(
        {key: gold_answer(case.automatic.get(key), case.adjudicated.get(key)) for key in _keys(case)},
        separators=(",", ":"),
    )


def posted_shown(data: QueryDict) -> dict[str, Any] | None:
    """The gold the page showed, as posted back; None without it (a client posting answers only: today's gold)."""
    return ShownValuesField().posted(data)


def _keys(case: gold.AdjudicationCase) -> list[str]:
    return [question["key"] for question in case.questions]


def _prefill(question: dict, automatic: dict | None, adjudicated: dict | None) -> Any:
    """The value the form starts from: the lead's earlier decision, else a settled automatic value."""
    if adjudicated is not None:
        return adjudicated["value"]
    if automatic is None or automatic["method"] in ("tie", "list"):
        return None
    value = automatic["value"]
    if question["kind"] == QuestionKind.RATING and not isinstance(value, int):
        return None  # a median between two steps of the scale is not an answer the lead can give
    return value


def _display(question: dict, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(option).replace("_", " ") for option in value) if value else "none"
    if question["kind"] == QuestionKind.RATING and question.get("scale"):
        return f"{value} / {question['scale'][1]}"
    if question["kind"] == QuestionKind.CHOICE:
        return str(value).replace("_", " ")
    return str(value)


def _votes(question: dict, entry: dict) -> list[tuple[str, Any]]:
    votes = entry.get("votes")
    if isinstance(votes, dict):
        names = {"true": "Yes", "false": "No"} if question["kind"] == QuestionKind.BINARY else {}
        return [(names.get(name, name.replace("_", " ")), count) for name, count in votes.items()]
    if isinstance(votes, list):
        return [(", ".join(str(vote) for vote in votes), None)]
    return []


def _automatic(question: dict, entry: dict | None) -> dict | None:
    if entry is None:
        return None
    return {
        "method": entry["method"],
        "method_label": METHODS.get(entry["method"], entry["method"]),
        "value": _display(question, entry["value"]) if entry["method"] not in ("tie", "list") else "",
        "votes": _votes(question, entry),
        "spread": entry.get("spread"),
        "is_tie": entry["method"] == "tie",
    }


def _label_answer(question: dict, expert: dict, label) -> dict:
    """One expert's answer to a question of the item's newest rubric version, as their own version asked it: a label
    of an earlier version that asked the key on another scale, options or kind shows its answer on its own scale (a 5
    of 1-5 is not "5 / 3") and says it does not count; one whose version did not ask it says so."""
    key = question["key"]
    value = label.answers.get(key)
    asked = next((q for q in label.rubric.questions if q["key"] == key), None)
    counts = still_answers(question, asked, value)
    return {
        "expert": expert,
        "value": _display(question if counts or asked is None else asked, value),
        "given": key in label.answers and value not in (None, ""),  # [] is "none of these"
        "version": label.rubric.version,
        "not_asked": asked is None,
        "not_counted": asked is not None and not counts and key in label.answers,
    }


def _expert_name(user) -> str:
    return user.get_full_name() or user.username


def _text_choices(case, key: str, current: Any, data: QueryDict | None) -> dict:
    """The experts' distinct texts for one question, and which pick is checked."""
    groups: dict[str, dict] = {}
    for label in case.labels:
        text = label.answers.get(key)
        if not isinstance(text, str) or not text.strip():
            continue
        group = groups.setdefault(text, {"value": f"label-{label.pk}", "text": text, "experts": []})
        group["experts"].append(_expert_name(label.expert))
    choices = list(groups.values())
    if data is not None:
        pick, own = data.get(_pick_name(key), ""), data.get(_own_name(key), "")
    elif isinstance(current, str) and current:
        pick = groups[current]["value"] if current in groups else "own"
        own = "" if current in groups else current
    else:
        pick, own = "", ""
    for choice in choices:
        choice["checked"] = choice["value"] == pick
    picked_text = any(choice["checked"] for choice in choices)
    return {
        "choices": choices,
        "own_checked": pick == "own",
        "own_text": own,
        "none_checked": not picked_text and pick != "own",
    }


def _changed(case: gold.AdjudicationCase, posted: QueryDict) -> set[str]:
    """The questions whose posted answer is not the gold the page had shown (all of them without that)."""
    answers, shown = posted_answers(case, posted), posted_shown(posted)
    if shown is None:
        return set(_keys(case))
    kinds = {question["key"]: question["kind"] for question in case.questions}
    return set(changed_by_lead(kinds, answers, shown))


def _case_page(request, case: gold.AdjudicationCase, *, errors: dict[str, str] | None = None, status: int = 200):
    posted = request.POST if errors is not None else None
    errors = errors or {}
    prefill = {
        question["key"]: _prefill(question, case.automatic.get(question["key"]), case.adjudicated.get(question["key"]))
        for question in case.questions
    }
    # Shown again after an error, the page starts from today's gold, as a fresh one would: the lead's changes stay,
    # and a question they left as it was shows (and posts back) the gold as it is now, not the one it showed before.
    changed = _changed(case, posted) if posted is not None else set()
    fields = {}
    for question in case.questions:
        if question["kind"] not in TEXT_KINDS:
            [fields[question["key"]]] = form_fields(
                [{**question, "required": False}],
                answers=prefill,
                posted=posted if question["key"] in changed else None,
                errors=errors,
            )
    experts = [
        {"label": label, "name": _expert_name(label.expert), "username": label.expert.username} for label in case.labels
    ]
    questions = []
    for number, question in enumerate(case.questions, start=1):
        key, kind = question["key"], question["kind"]
        automatic = _automatic(question, case.automatic.get(key))
        adjudicated = case.adjudicated.get(key)
        set_aside = case.resolution.set_aside.get(key) if case.resolution else None
        questions.append(
            {
                "number": number,
                "key": key,
                "kind": kind,
                "prompt": question.get("prompt") or key,
                "help": question.get("help", ""),
                "is_text": kind in TEXT_KINDS,
                "answers": [
                    _label_answer(question, expert, label) for expert, label in zip(experts, case.labels, strict=True)
                ],
                "automatic": automatic,
                "needs_decision": bool(automatic and automatic["is_tie"] and adjudicated is None),
                "adjudicated": _display(question, adjudicated["value"]) if adjudicated else None,
                # A decision made under a version that asked this key on another scale, options or kind: kept, not gold.
                "set_aside": {"value": set_aside["value"], "version": set_aside.get("rubric_version")}
                if set_aside
                else None,
                "field": fields.get(key),
                "texts": _text_choices(case, key, prefill[key], posted if key in changed else None)
                if kind in TEXT_KINDS
                else None,
                "pick_name": _pick_name(key),
                "none_name": _none_name(key),
                "none_checked": (
                    _none_name(key) in posted if posted is not None and key in changed else prefill[key] == []
                ),
                "own_name": _own_name(key),
                "error": errors.get(key, ""),
            }
        )
    output = case.item.output
    known = {question["key"] for question in case.questions}
    context = {
        "project": case.item.project,
        "case": case,
        "item": case.item,
        "output": output,
        "conversation": chat_messages(output.input),
        "input_is_text": isinstance(output.input, str),
        "experts": experts,
        "questions": questions,
        "form_errors": [message for key, message in errors.items() if key not in known],
        "has_errors": bool(errors),
        "note": request.POST.get("note", "") if posted is not None else "",
        "shown": shown_gold(case),
        "discussion": item_discussion(case.item),
        "tab": "adjudication",
        "can_manage": True,
    }
    return render(request, "labeling/adjudication/item.html", context, status=status)
