"""The expert's screens: their queues, "next item", the labeling screen and its actions.

Views parse input, call one service or selector, and render or redirect. Access is asked of
`rules.access` (membership, queue eligibility) and `selectors.work.item_for_labeler` (blind
labeling: only items the expert holds). Anything refused is a 404, so nothing about other projects
or other experts' items is disclosed.

Each request asks the database once whether the expert may label (folded into the query that loads
the queue or the item) and hands the resulting grant to the services. Submitting a label or skipping
leases the next item in the same request and redirects straight to its page; when the page's script
asks (the SWAP_HEADER), the same request answers with the next item's screen instead, which the script
swaps in and records in the history: one request per label and no page load.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from labeling.exceptions import DomainError, InvalidAnswers, LeaseLost, NotFound, QueuePaused
from labeling.models import Item, Queue, Rubric, week_label
from labeling.rules.access import (
    ITEM_NOT_YOURS,
    LABELING_ROLES,
    WEBHOOK_ROLES,
    LabelingGrant,
    check_hands_out_items,
    grant_from,
    hands_out_items,
    has_role,
    item_queue_not_yours,
    labels_blind,
    manages,
    may_create_projects,
    may_explore,
    overview_project,
    queue_not_yours,
    reader_membership,
    refuse_labeling,
    sees_alerts,
)
from labeling.rules.calendar import current_week
from labeling.rules.gold import answers_as_asked
from labeling.rules.rubric_questions import rubric_news
from labeling.selectors import work
from labeling.selectors.alerts import project_alerts
from labeling.selectors.explore_page import saved_views
from labeling.selectors.left_open import weeks_left_to_a_lead
from labeling.selectors.onboarding import getting_started
from labeling.selectors.rubrics import published_version, rubric_published_this_week, rubric_version
from labeling.services import assignment, labels

from .answer_forms import answers_from_post, form_fields
from .getting_started import ingest_snippets
from .messages import labeled_tag, undo_skip_tag


def _held_item(request: HttpRequest, slug: str, item_id: int) -> Item:
    """The item, if the user is a member and holds it (a leased slot or their label), in one query.

    A POST from a page the user was shown also passes when their lease has since gone to someone
    else: the service then finds a spare slot or answers LeaseLost, instead of the expert's work
    vanishing behind a 404."""
    item = _item_held(request, slug, item_id)
    if item is None:
        refuse_labeling(request.user, slug, not_yours=ITEM_NOT_YOURS)
    return item


def _item_held(request: HttpRequest, slug: str, item_id: int) -> Item | None:
    """`_held_item`'s item, or None where it refuses."""
    handed = request.method == "POST" and _was_handed(request, item_id)
    item = work.item_for_labeler(request.user, slug, item_id, handed=handed)
    return None if item is None or item.member_role is None else item


def _grant(request: HttpRequest, item: Item) -> LabelingGrant:
    """The request's right to label in the item's queue, from what _held_item read along with it."""
    return grant_from(
        request.user,
        item.queue,
        role=item.member_role,
        admitted=item.queue_admits,
        not_admitted=item_queue_not_yours(item.member_role),
    )


# A token in the item page's forms proves the page was shown to this user; it cannot be made up for
# an item id guessed from the URL, so nobody labels items that were never handed to them.
HANDED_SALT = "labeling.item-handed"
HANDED_MAX_AGE = 24 * 3600


def handed_token(user, item: Item) -> str:
    # The moment it was shown rides along: a label saved in a spare slot (the lease went to someone else) measures
    # its time from there.
    return signing.dumps([item.pk, user.pk, int(timezone.now().timestamp())], salt=HANDED_SALT)


def _was_handed(request: HttpRequest, item_id: int) -> bool:
    return _handed(request, item_id) is not None


def _shown_at(request: HttpRequest, item_id: int) -> datetime | None:
    """When the page whose form was POSTed showed the item to the user (None: unknown, or never shown)."""
    handed = _handed(request, item_id)
    return datetime.fromtimestamp(handed[2], UTC) if handed and len(handed) == 3 else None


def _handed(request: HttpRequest, item_id: int) -> list | None:
    try:
        value = signing.loads(request.POST.get("handed", ""), salt=HANDED_SALT, max_age=HANDED_MAX_AGE)
    except signing.BadSignature:
        return None
    # Pages shown before the time was added hold [item, user]; they are still the user's for a day.
    if isinstance(value, list) and value[:2] == [item_id, request.user.pk] and len(value) in (2, 3):
        return value
    return None


def _next_url(queue: Queue) -> str:
    return reverse("labeling:next-item", args=[queue.project.slug, queue.slug])


def _item_url(item: Item) -> str:
    return reverse("labeling:item", args=[item.project.slug, item.pk])


@login_required
@require_GET
def project_overview(request: HttpRequest, slug: str) -> HttpResponse:
    # Operators see every project on the home page (selectors.projects_of_user): they read its overview
    # too, without queues; items stay for members only.
    project, membership, operator = overview_project(request.user, slug)
    labels_here = has_role(membership, LABELING_ROLES)
    reads_as = reader_membership(membership, operator=operator)  # an operator who is one of its experts: as an operator
    context = {
        "project": project,
        "membership": membership,
        "queues": work.queues_for_labeler(request.user, project) if labels_here else [],
        "labels_here": labels_here,
        "can_explore": may_explore(project, reads_as),
        "opens_webhooks": has_role(membership, WEBHOOK_ROLES),  # the pages are members' only (`webhook_project`)
        "operator": operator,  # links the pages an operator reads though not a member (`rules.access.read_project`)
    }
    if context["can_explore"]:
        # The newest outputs are the explore page's first rows (texts, end users, feedback): for those who may explore.
        context["outputs"] = work.latest_outputs(project)
        context["saved_views"] = saved_views(project, blind=labels_blind(reads_as))
    # An operator who is also a member (an expert, say) sees them as an operator does, not as the role would.
    context["show_alerts"] = sees_alerts(membership, operator=operator)
    if context["show_alerts"]:
        context["alerts"] = project_alerts(project)
    if manages(membership):
        # A lead of one project lands here, not on the home page, whose card names it too: the running week's figures
        # pool two versions' labels.
        context["rubric_this_week"] = rubric_published_this_week(project)
        context["running_week"] = week_label(current_week(project))
        # Weeks beat leaves open that hold review items (before the project, behind a week closed by hand, before the
        # first close): no close reads them, so the lead is told here.
        context["left_to_a_lead"] = weeks_left_to_a_lead([project]).get(project.pk, ())
        # The page a lead lands on (after creating the project, from the home page): the first steps, until done.
        checklist = getting_started(project)
        if not checklist.complete:
            context["checklist"] = checklist
            if not checklist.is_done("output"):
                context["snippets"] = ingest_snippets(request, project)
    context["may_create"] = may_create_projects(request.user, operator=operator)
    return render(request, "labeling/project.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def next_item(request: HttpRequest, slug: str, queue_slug: str) -> HttpResponse:
    """POST leases the next item and redirects to it. GET changes nothing (a prefetch or a crawler must
    not take slots): it redirects to the item the expert already holds, else offers a button that POSTs,
    else says the queue is done. A paused queue sends the expert home saying so, unless they hold an item there."""
    queue = work.queue_for_labeler(request.user, slug, queue_slug, with_next=request.method == "GET")
    if queue is None or queue.member_role is None:
        # Said alike of a queue that does not exist and of one not theirs.
        refuse_labeling(request.user, slug, not_yours=queue_not_yours)
    grant = grant_from(
        request.user,
        queue,
        role=queue.member_role,
        admitted=queue.queue_admits,
        not_admitted=queue_not_yours(queue.member_role),
    )
    if request.method == "POST":
        return _hand_next_item(request, queue, grant)
    if queue.held_item_id is not None:
        return redirect("labeling:item", slug=queue.project.slug, item_id=queue.held_item_id)
    try:
        check_hands_out_items(queue)
    except QueuePaused as exc:
        return _queue_paused(request, exc)
    if not queue.has_waiting:
        return _done_page(request, queue)
    return render(request, "labeling/expert/next.html", {"project": queue.project, "queue": queue})


# Sent by label.js with a label or a skip: answer with the next screen, not a redirect to it.
SWAP_HEADER = "X-Swap-Screen"
# The address of the screen answered, for the script's history entry.
LOCATION_HEADER = "X-Screen-Location"
# Instead of a screen: the address the script loads as a page (a page without label.js, whose history it cannot keep).
NAVIGATE_HEADER = "X-Screen-Navigate"


def _swaps(request: HttpRequest) -> bool:
    return request.headers.get(SWAP_HEADER) == "1"


def _screen(response: HttpResponse, url: str) -> HttpResponse:
    response[LOCATION_HEADER] = url
    response["Cache-Control"] = "no-store"  # a screen answered to a POST is never to be replayed
    return response


def _hand_next_item(request: HttpRequest, queue: Queue, grant: LabelingGrant) -> HttpResponse:
    """Lease the next item and redirect to its page, or answer with it when the script swaps screens; with none
    left, the queue's "all done" page; in a paused queue, the expert's home page saying so."""
    try:
        item_id = assignment.next_item_id(expert=request.user, queue=queue, grant=grant)
    except QueuePaused as exc:
        return _queue_paused(request, exc)
    if item_id is None:
        if request.method == "POST" and not _swaps(request):
            return redirect(_next_url(queue))  # the "all done" page, reached by a GET
        return _screen(_done_page(request, queue), _next_url(queue))
    if request.method == "POST" and _swaps(request):
        item = work.item_for_labeler(request.user, queue.project.slug, item_id)
        if item is not None:  # leased a moment ago: only a lease taken back since leaves it out
            return _screen(_labeling_screen(request, item), _item_url(item))
    return redirect("labeling:item", slug=queue.project.slug, item_id=item_id)


def _done_page(request: HttpRequest, queue: Queue) -> HttpResponse:
    """The queue's "all done" page: the user's week in it, and the project's next queue with work waiting for the
    user, if any (one query: the queues of the project page, this one among them)."""
    queues = list(work.queues_for_labeler(request.user, queue.project))
    this_week = next((each for each in queues if each.pk == queue.pk), None)
    next_queue = next((each for each in queues if each.pk != queue.pk and each.is_active and each.waiting_for_me), None)
    context = {"project": queue.project, "queue": queue, "this_week": this_week, "next_queue": next_queue}
    return render(request, "labeling/expert/done.html", context)


def _queue_paused(request: HttpRequest, exc: QueuePaused) -> HttpResponse:
    """Home, saying the queue is paused. To label.js, the address to load as a page: home does not load the script, so
    a screen swapped in there could not keep Back and Forward (a Back within its history would change the address and
    leave home on the screen). The messages wait for that load, which shows them."""
    messages.warning(request, exc.message)
    if request.method == "POST" and _swaps(request):
        response = HttpResponse(status=204)
        response[NAVIGATE_HEADER] = reverse("labeling:home")
        return response
    return redirect("labeling:home")


@login_required
@require_http_methods(["GET", "POST"])
def label_item(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    if request.method == "GET":
        item = _item_held(request, slug, item_id)
        if item is None:
            return _skipped_page(request, slug, item_id)  # Back (or a reload) after a skip lands here
        _grant(request, item)  # a queue no longer naming the holder: said now, not after they answer
        return _labeling_screen(request, item)
    item = _held_item(request, slug, item_id)
    grant = _grant(request, item)
    rubric = rubric_version(item.project, request.POST.get("rubric_id", ""))
    answers = answers_from_post(rubric.questions, request.POST, original_output=item.output.output)
    try:
        label = labels.submit_label(
            expert=request.user,
            item=item,
            rubric=rubric,
            answers=answers,
            grant=grant,
            shown_at=_shown_at(request, item.pk),
        )
    except InvalidAnswers as exc:
        screen = _labeling_screen(request, item, rubric=rubric, errors=exc.errors, status=400)
        return _screen(screen, _item_url(item))
    except LeaseLost as exc:
        context = {"project": item.project, "item": item, "message": exc.message, "next_url": _next_url(item.queue)}
        lost = render(request, "labeling/expert/lease_lost.html", context, status=exc.status_code)
        lost["X-Lease-Lost"] = "1"  # label.js keeps the screen and its answers on this
        return _screen(lost, _item_url(item))
    if item.own_answers not in (None, label.answers):  # an edit (back to a labeled item, or a second tab on it)
        messages.success(
            request,
            f"Label changed for item {item.pk}: it replaces the one you gave before.",
            extra_tags=labeled_tag(item.pk),
        )
    else:
        messages.success(request, f"Label saved for item {item.pk}.", extra_tags=labeled_tag(item.pk))
    # Straight to the next item's page: one redirect instead of two (through the next-item URL).
    return _hand_next_item(request, item.queue, grant)


def _labeling_screen(
    request: HttpRequest,
    item: Item,
    *,
    rubric: Rubric | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    answers = item.own_answers  # the expert's own label, never anyone else's (blind labeling)
    rubric = rubric or published_version(item.project, item.current_rubric_id)  # read with the item
    questions = rubric.questions if rubric else []
    if answers is not None and rubric is not None and item.own_rubric_id != rubric.pk:
        # Answered under another version: an answer to a question asked differently since (a 3 of five, now out of
        # three) is not shown as this form's answer, which a resend would store unseen.
        answered_on = published_version(item.project, item.own_rubric_id)
        answers = answers_as_asked(questions, answered_on.questions if answered_on else [], answers)
    output = item.output
    fields = form_fields(
        questions,
        answers=answers,
        posted=request.POST if errors is not None else None,
        errors=errors,
        correction_default=output.output if isinstance(output.output, str) else "",
    )
    known = {question["key"] for question in questions}
    last_labeled_on = published_version(item.project, getattr(item, "last_rubric_id", None))
    context = {
        "project": item.project,
        "item": item,
        **output_evidence(output),
        "rubric": rubric,
        # Told once: what the version shown changed since the expert's last label, until they label on it.
        "rubric_news": rubric_news(last_labeled_on, rubric) if last_labeled_on and rubric else None,
        "fields": fields,
        "form_errors": {key: message for key, message in (errors or {}).items() if key not in known},
        "has_errors": bool(errors),
        "label": answers is not None,
        "comments": work.comments_on(item, reader=request.user),  # blind until labeled
        "week": work.queue_week_for_labeler(request.user, item.queue),  # where the expert is in the queue's week
        "handed": handed_token(request.user, item),
        # For label.js to renew the lease while the expert works (renew_lease); relative: clocks differ.
        "lease_seconds": settings.LEASE_SECONDS,
        "lease_seconds_left": _seconds_left(getattr(item, "own_lease_expires_at", None)),
    }
    return render(request, "labeling/expert/item.html", context, status=status)


def _skipped_page(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """An item the user skipped, read-only, with the way back to labeling (and to take it back); else the 404 page
    saying why to a member (`refuse_labeling`)."""
    item = work.skipped_item_for_labeler(request.user, slug, item_id)
    if item is None or item.member_role is None:
        refuse_labeling(request.user, slug, not_yours=ITEM_NOT_YOURS)
    context = {
        "project": item.project,
        "item": item,
        **output_evidence(item.output),
        "next_url": _next_url(item.queue),
        "may_undo": item.member_role in LABELING_ROLES and item.queue_admits and hands_out_items(item.queue),
    }
    return render(request, "labeling/expert/skipped.html", context)


def output_evidence(output) -> dict[str, Any]:
    """What a page shows of an output: the item page, and explore's conversation (expert/_evidence.html)."""
    return {
        "output": output,
        "conversation": chat_messages(output.input),
        "input_is_text": isinstance(output.input, str),
        "metadata": [(key, as_text(value)) for key, value in _metadata_items(output.metadata)],
    }


def _metadata_items(metadata: Any) -> list[tuple[str, Any]]:
    return sorted(metadata.items()) if isinstance(metadata, dict) else ([("metadata", metadata)] if metadata else [])


def as_text(value: Any) -> str | None:
    """Strings as they are, other JSON pretty-printed; None stays None."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def chat_messages(value: Any) -> list[dict[str, Any]] | None:
    """A chat transcript [{role, content}, ...] as messages to draw as bubbles; None for anything else."""
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(message, dict) and "content" in message for message in value):
        return None
    return [
        {
            "role": str(message.get("role") or "unknown"),
            "content": message["content"],
            "is_text": isinstance(message["content"], str),
        }
        for message in value
    ]


@login_required
@require_POST
def renew_lease(request: HttpRequest, slug: str, item_id: int) -> JsonResponse:
    """Keep the item the open screen shows: label.js posts here while the expert works on it. Answers how many
    seconds the lease has left (null: the item is labeled, no lease to keep), or 409 with why it is gone."""
    item = _held_item(request, slug, item_id)
    try:
        expires_at = assignment.renew_lease(
            expert=request.user, item=item, grant=_grant(request, item), started_at=_shown_at(request, item.pk)
        )
    except LeaseLost as exc:
        return JsonResponse({"message": exc.message}, status=exc.status_code)
    return JsonResponse({"seconds_left": _seconds_left(expires_at)})


def _seconds_left(expires_at: datetime | None) -> int | None:
    return None if expires_at is None else max(0, int((expires_at - timezone.now()).total_seconds()))


@login_required
@require_POST
def skip_item(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    item = _held_item(request, slug, item_id)
    grant = _grant(request, item)
    if assignment.skip_item(expert=request.user, item=item, reason=request.POST.get("reason", ""), grant=grant):
        messages.info(
            request, f"Skipped item {item.pk}; it will not be offered to you again.", extra_tags=undo_skip_tag(item.pk)
        )
    else:
        messages.info(request, f"Item {item.pk} keeps your label: an item you labeled is not skipped.")
    return _hand_next_item(request, item.queue, grant)


@login_required
@require_POST
def undo_skip(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    item = work.skipped_item_for_labeler(request.user, slug, item_id)
    if item is None and work.handed_back_moments_ago(request.user, slug, item_id):  # the same undo posted again
        messages.success(request, f"Item {item_id} is yours to label again.")
        return redirect("labeling:item", slug=slug, item_id=item_id)
    if item is None:
        refuse_labeling(request.user, slug, not_yours=ITEM_NOT_YOURS)
    grant = _grant(request, item)
    try:
        handed_back = assignment.undo_skip(expert=request.user, item=item, grant=grant)
    except QueuePaused as exc:
        return _queue_paused(request, exc)
    if handed_back:
        messages.success(request, f"Item {item.pk} is yours to label again.")
    else:
        messages.info(request, "Other experts hold or have labeled every copy of this item: it cannot be handed back.")
    return redirect(_item_url(item))


@login_required
@require_POST
def flag_item(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    item = _held_item(request, slug, item_id)
    flag = partial(labels.flag_item, expert=request.user, item=item, note=request.POST.get("note", ""))
    return _add_to_item(request, item, flag, done="Flagged for the weekly review meeting.")


@login_required
@require_POST
def comment_item(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    item = _held_item(request, slug, item_id)
    comment = partial(labels.comment_on_item, author=request.user, item=item, body=request.POST.get("body", ""))
    return _add_to_item(request, item, comment, done="Comment added.", anchor="#comments")


def _add_to_item(
    request: HttpRequest, item: Item, add: Callable[[], object], *, done: str, anchor: str = ""
) -> HttpResponse:
    """Run `add` (a flag or a comment) and go back to the item, saying `done` or why it was refused."""
    try:
        add()
    except NotFound:
        raise  # stays a 404
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect(_item_url(item) + anchor)
