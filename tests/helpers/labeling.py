"""Labeled items made the way experts make them: routed outputs, leased slots, submitted labels, resolutions."""

import re
from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

from labeling.models import Item, ItemStatus, Label, Membership, Output, Queue, Resolution, ResolutionStatus
from labeling.rules.calendar import cycle_week
from labeling.services.assignment import next_item
from labeling.services.labels import submit_label
from labeling.services.resolution import resolve_item
from labeling.services.routing import route_outputs
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, OutputFactory, UserFactory
from tests.helpers.rubrics import BINARY, CHOICE, MULTI, QUESTIONS, RATING

AGREE = ({"correct": True, "helpful": 4}, {"correct": True, "helpful": 5})
TIE = ({"correct": True, "helpful": 4}, {"correct": False, "helpful": 2})
TIE_WITH_FIX = ({"correct": True}, {"correct": False, "fix": "It arrives on Monday."})


def label_outputs(
    project,
    count: int = 1,
    *,
    answers: Sequence[dict] = AGREE,
    experts: Sequence | None = None,
    rubric=None,
    queue: str = "sample",
    resolve: bool = True,
    start: int | None = None,
    texts: Sequence[str] | None = None,
    **output_fields,
) -> list[Item]:
    """Label `count` new outputs in one queue, each by one expert per entry of `answers`, and resolve them.

    Found or made: the queue (overlap len(answers)), the rubric (the project's newest, else the shared one)
    and the experts (`lab0`, `lab1`, …). Outputs are named `out-00000`, … from `start` (by default after
    the project's outputs) and answer `texts` (else "Parcel n arrives Friday."); other output fields as
    given. Resolving happens here because the task enqueued on commit never runs in a test transaction.
    Returns the items as stored afterwards.
    """
    rubric = (
        rubric or project.rubrics.order_by("-version").first() or publish_rubric(project=project, questions=QUESTIONS)
    )
    queue_row, _ = Queue.objects.get_or_create(
        project=project, slug=queue, defaults={"name": queue.title(), "overlap": len(answers)}
    )
    if start is None:
        start = Output.objects.filter(project=project).count()
    fields = {"input": "Where is my parcel?", "model": "gpt-4o-mini", "metadata": {"topic": "shipping"},
              "tags": ["shipping"], **output_fields}  # fmt: skip
    outputs = [
        OutputFactory(
            project=project,
            external_id=f"out-{start + i:05d}",
            output=texts[i] if texts else f"Parcel {start + i} arrives Friday.",
            **fields,
        )
        for i in range(count)
    ]
    route_outputs(project_id=project.pk, output_ids=[output.pk for output in outputs])
    if experts is None:
        experts = [UserFactory(username=f"lab{n}") for n in range(len(answers))]
        for expert in experts:
            Membership.objects.get_or_create(project=project, user=expert, defaults={"role": "expert"})
    items = []
    for _ in range(count):
        handed = set()
        for expert, given in zip(experts, answers, strict=True):
            item = next_item(expert=expert, queue=queue_row)
            submit_label(expert=expert, item=item, rubric=rubric, answers=given)
            handed.add(item.pk)
        assert len(handed) == 1, "the experts were handed different items"
        if resolve:
            resolve_item(item_id=item.pk)
        items.append(item.pk)
    stored = Item.objects.in_bulk(items)
    return [stored[pk] for pk in items]


def bulk_labeled_items(
    project,
    count: int,
    *,
    occurred_at: datetime | None = None,
    end_users: int = 0,
    resolved: bool = True,
    start: int = 0,
    **output_fields,
) -> tuple[int, int]:
    """`count` outputs, each a complete item with two agreeing labels (bulk, fast); their numbers (items, labels).

    The outputs (numbered from `start`) occur at `occurred_at` (now), from `end_users` end users in turn (none: no end
    user), with other fields as given; the items are resolved, or else wait for the close's resolve (`gold_stale`).
    Found or made: the rubric, the queue ("all") and its two experts.
    """
    rubric = project.rubrics.order_by("-version").first() or publish_rubric(project=project, questions=QUESTIONS)
    queue, made = Queue.objects.get_or_create(project=project, slug="all", defaults={"name": "All", "overlap": 2})
    if made:
        for _ in range(2):
            MembershipFactory(project=project, user=UserFactory(), role="expert")
    experts = [membership.user for membership in project.memberships.filter(role="expert").order_by("pk")[:2]]
    prefix = f"{project.slug}-"
    now = timezone.now()
    occurred_at = occurred_at or now
    outputs = Output.objects.bulk_create(
        Output(project=project, external_id=f"{prefix}{n:05d}", occurred_at=occurred_at, received_at=now,
               routed_at=now, input="Where is my parcel?", output=f"It ships on day {n % 7}.",
               end_user_id=f"user-{n % end_users}" if end_users else "", content_hash=f"{project.pk:08x}{n:056x}",
               **output_fields)
        for n in range(start, start + count)
    )  # fmt: skip
    items = Item.objects.bulk_create(
        Item(project=project, queue=queue, output=output, week=cycle_week(project, occurred_at), overlap=2,
             status=ItemStatus.COMPLETE, gold_stale=not resolved)
        for output in outputs
    )  # fmt: skip
    labels = Label.objects.bulk_create(
        Label(item=item, expert=expert, rubric=rubric, answers={"correct": True})
        for item in items
        for expert in experts
    )
    if resolved:
        Resolution.objects.bulk_create(
            Resolution(item=item, status=ResolutionStatus.RESOLVED,
                       automatic={"correct": {"value": True, "method": "unanimous"}})
            for item in items
        )  # fmt: skip
    return len(items), len(labels)


def make_items(project, count: int, *, all_placed: bool = True, **output_fields) -> list[Item]:
    """Route `count` new outputs (with these fields) and return the items they became, oldest first. A project
    without a queue is refused, and so is an output that became no item: a test would go on with fewer items than it
    asked for, or none at all. `all_placed=False`: a test that means some outputs to go unplaced (queues' weekly
    quotas filled), and says so."""
    if not Queue.objects.filter(project=project).exists():
        raise LookupError(
            f"make_items: project {project.slug!r} has no queue, so routing would make no item. Make one first "
            "(a `queue` fixture, Queue.objects.create or label_outputs)."
        )
    outputs = OutputFactory.create_batch(count, project=project, **output_fields)
    route_outputs(project_id=project.pk, output_ids=[output.pk for output in outputs])
    items = list(Item.objects.filter(output__in=outputs).order_by("pk"))
    # Refused as a project with no queue is: a test asking for `count` items would go on with fewer, unseen.
    unplaced = count - len({item.output_id for item in items})
    if unplaced and all_placed:
        raise LookupError(
            f"make_items: {unplaced} of the {count} outputs became no item (every queue paused or its weekly quota "
            "filled, or no queue's rule or sample took them). Make a queue that takes them, or pass all_placed=False "
            "if meant."
        )
    return items


def take(client, queue) -> Item:
    """Ask for the next item the way the browser does (a POST); return the item it redirected to."""
    response = client.post(f"/p/{queue.project.slug}/q/{queue.slug}/next")
    assert response.status_code == 302, response.content[:300]
    item_id = int(re.search(r"/items/(\d+)/$", response.headers["Location"]).group(1))
    return Item.objects.get(pk=item_id)


def handed_token(html: str) -> str:
    """Return the labeling page's `handed` token (which proves the expert was shown the item)."""
    return re.search(r'name="handed" value="([^"]+)"', html).group(1)


V2 = [BINARY, RATING, CHOICE, MULTI]
# v3: a new question, `helpful` rescaled to 1-3, `tone` dropped, an option added to `issues`.
CITES = {"key": "cites", "kind": "binary", "prompt": "Does it cite the policy?"}
V3 = [BINARY, {**RATING, "scale": [1, 3]}, {**MULTI, "options": [*MULTI["options"], "outdated"]}, CITES]


def mixed_item(project, v2_answers, v3_answers, *, external_id="out-mixed"):
    """An overlap-2 item: lab0 labels it on v2, the lead publishes v3, lab1 labels it on v3."""
    v2 = project.rubrics.filter(version=2).first() or publish_v1_v2(project)
    queue, _ = Queue.objects.get_or_create(project=project, slug="sample", defaults={"name": "Sample", "overlap": 2})
    output = OutputFactory(project=project, external_id=external_id, output="Refunds take 3 days.")
    route_outputs(project_id=project.pk, output_ids=[output.pk])
    experts = []
    for name in ("lab0", "lab1"):
        expert = UserFactory(username=name) if not Membership.objects.filter(user__username=name).exists() else None
        if expert is not None:
            Membership.objects.create(project=project, user=expert, role="expert")
        experts.append(Membership.objects.get(project=project, user__username=name).user)
    item = next_item(expert=experts[0], queue=queue)
    submit_label(expert=experts[0], item=item, rubric=v2, answers=v2_answers)
    v3 = project.rubrics.filter(version=3).first() or publish_rubric(project=project, questions=V3)
    assert next_item(expert=experts[1], queue=queue).pk == item.pk
    submit_label(expert=experts[1], item=item, rubric=v3, answers=v3_answers)
    return item


def publish_v1_v2(project):
    publish_rubric(project=project, questions=[BINARY])
    return publish_rubric(project=project, questions=V2)
