"""Create and edit review queues, and ask for a backfill: the lead's queue editor writes through here.

Values are checked by `queue_problems` (also used by the web form, so the lead sees each problem beside
its field), then again inside the write, where the slug's uniqueness is also guarded by the database.
Editing a queue never changes items already placed: they carry their own overlap and priority. Renaming its slug
rewrites what stored the old one (saved explore views, the queue's unresolved alerts) in the same transaction.
"""

import json
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.exceptions import InvalidInput, InvalidSpec
from labeling.models import Alert, AuditEvent, Membership, OutboxMessage, Project, Queue, SavedView, work_key
from labeling.models.queues import WEEKLY_QUOTA_MAX
from labeling.rules.alerts import QUEUE_RULES
from labeling.rules.edits import QUEUE_SETTING_NAMES, lead_changes, setting_name, value_as_read
from labeling.rules.explore import queue_renamed_in_query
from labeling.rules.text import name_problem, slug_for_name
from labeling.rules.twins import TWIN_WINDOW, audited_twin, fingerprint

from . import outbox
from .routing import validate_rule

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
PRIORITY_RANGE = (-32768, 32767)  # a SmallIntegerField
OVERLAP_RANGE = (1, 10)
AUDITED_FIELDS = (
    "slug", "name", "description", "rule", "sample_rate", "weekly_quota", "overlap", "priority", "is_active",
)  # fmt: skip
# Those whose values queue.updated records, before and after: short ones (not the description, nor the rule, whose
# change is named only; the state is said by its verb, paused or resumed).
VALUED_FIELDS = ("slug", "name", "sample_rate", "weekly_quota", "overlap", "priority")


@dataclass(frozen=True, kw_only=True)
class QueueValues:
    """Everything a lead sets on a queue. `eligible_expert_ids` empty means every expert may label it."""

    slug: str
    name: str
    description: str = ""
    rule: object = None
    sample_rate: float = 1.0
    weekly_quota: int | None = None
    overlap: int = 1
    priority: int = 0
    eligible_expert_ids: tuple[int, ...] = field(default=())
    is_active: bool = True


GENERATED_SLUG_PREFIX = "queue"  # the slug of a queue whose name has no Latin letter or digit: queue-<n>


def slug_for_new_queue(project: Project, name: str) -> str:
    """The slug of a new queue named `name` when none is typed (rules.text.slug_for_name): the name's Latin letters
    and digits, or `queue-<n>` for a name with none, the smallest n free now (create_queue takes the one free when it
    creates: `slug_generated`)."""
    generated = Queue.objects.filter(project=project, slug__startswith=f"{GENERATED_SLUG_PREFIX}-")
    return slug_for_name(
        name.strip(), prefix=GENERATED_SLUG_PREFIX, taken=set(generated.values_list("slug", flat=True))
    )


def queue_problems(
    *, project: Project, values: QueueValues, queue: Queue | None = None, actor=None
) -> dict[str, list[str]]:
    """Return what is wrong with the values, by field name; empty when they may be saved. A new queue's slug that
    `actor` took moments ago is left to create_queue, which tells the same form posted again from another."""
    problems: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        problems.setdefault(name, []).append(message)

    if not SLUG_PATTERN.match(values.slug or ""):
        add("slug", "Use 1–64 lowercase letters, digits and hyphens, starting with a letter or digit.")
    elif _slug_taken(project, values.slug, queue) and (queue or not _created_twin(project, values.slug, actor)):
        add("slug", f"This project has a queue with slug {values.slug!r} already.")
    if not (values.name or "").strip():
        add("name", "A queue needs a name.")
    elif len(values.name) > 200:
        add("name", "Use at most 200 characters.")
    elif problem := name_problem(values.name):
        add("name", f"The name {problem}.")
    try:
        validate_rule(values.rule)
    except InvalidSpec as exc:
        add("rule", exc.message)
    if not _is_number(values.sample_rate) or not 0 <= values.sample_rate <= 1:
        add("sample_rate", "The sample rate is a fraction between 0 and 1.")
    if values.weekly_quota is not None and (
        not _is_int(values.weekly_quota) or not 0 <= values.weekly_quota <= WEEKLY_QUOTA_MAX
    ):
        add("weekly_quota", f"The weekly quota is a whole number from 0 to {WEEKLY_QUOTA_MAX:,} (empty for no quota).")
    if not _is_int(values.overlap) or not OVERLAP_RANGE[0] <= values.overlap <= OVERLAP_RANGE[1]:
        add("overlap", "Overlap (labels wanted per item) is a whole number from 1 to 10.")
    if not _is_int(values.priority) or not PRIORITY_RANGE[0] <= values.priority <= PRIORITY_RANGE[1]:
        add("priority", f"Priority is a whole number from {PRIORITY_RANGE[0]} to {PRIORITY_RANGE[1]}.")
    wanted = set(values.eligible_expert_ids)
    experts = set(
        Membership.objects.experts().filter(project=project, user_id__in=wanted).values_list("user_id", flat=True)
    )
    # A name the queue keeps (its expert was removed since) may stay: only adding a non-expert is refused.
    kept = set(queue.eligible_experts.filter(pk__in=wanted).values_list("pk", flat=True)) if queue else set()
    if wanted - experts - kept:
        add("eligible_experts", "Only experts of this project can be eligible for its queues.")
    return problems


@transaction.atomic
def create_queue(*, project: Project, values: QueueValues, actor=None, slug_generated: bool = False) -> Queue:
    """Create a queue in the project. New outputs are routed into it; existing ones only by a backfill. The same
    queue asked again moments ago by the same lead is the first one (rules.twins). `slug_generated`: the slug is
    `queue-<n>`, made for a name without Latin letters (`slug_for_new_queue`), not typed: the queue gets the number
    free when it is created."""
    if slug_generated:
        # Generated slugs have no name to tell two queues apart (a second "返品" with another rule): their creates
        # follow one another on the project's row, so each finds the one before as its twin or as taken.
        Project.objects.lock(project.pk)
        if (twin := _generated_twin(project, values, actor)) is not None:
            return twin
        values = replace(values, slug=slug_for_new_queue(project, values.name))
    asked = fingerprint(asdict(values))
    try:
        rule = _check(project=project, values=values)
    except InvalidSpec:  # the slug taken, by this very form posted moments ago? (committed with its audit event)
        if (twin := _created_twin(project, values.slug, actor, asked_sha256=asked)) is not None:
            return twin
        raise
    try:
        with transaction.atomic():
            queue = Queue.objects.create(project=project, **_fields(values, rule))
    except IntegrityError:  # a concurrent request took the slug after the check above
        if (twin := _created_twin(project, values.slug, actor, asked_sha256=asked)) is not None:
            return twin  # the same form posted twice at the same instant: this one waited for the first
        raise _taken(values.slug) from None
    queue.eligible_experts.set(values.eligible_expert_ids)
    AuditEvent.objects.create(
        project=project,
        actor=audit_actor(actor),
        action="queue.created",
        # Its name, so the log says "Created the queue “Escalations”", as it says the queue's later changes.
        details={"queue": queue.pk, "slug": queue.slug, "name": queue.name, "asked_sha256": asked},
    )
    return queue


def _generated_twin(project: Project, values: QueueValues, actor) -> Queue | None:
    """The queue `actor` created moments ago from these very values under a generated slug: the form posted again.
    Its fingerprint holds the slug it got, so each such queue is asked in turn."""
    if audit_actor(actor) is None:
        return None
    made = AuditEvent.objects.filter(
        project=project,
        actor=actor,
        action="queue.created",
        details__slug__startswith=f"{GENERATED_SLUG_PREFIX}-",
        at__gt=timezone.now() - TWIN_WINDOW,
    )
    for event in made.order_by("-at"):
        if event.details.get("asked_sha256") == fingerprint(asdict(replace(values, slug=event.details["slug"]))):
            return Queue.objects.filter(pk=event.details["queue"], slug=event.details["slug"]).first()
    return None


def _created_twin(project: Project, slug: str, actor, **asked) -> Queue | None:
    """The queue with this slug `actor` created moments ago (`asked`: from these very values): a form posted
    again."""
    if audit_actor(actor) is None:
        return None
    made = audited_twin(project_id=project.pk, actor=actor, action="queue.created", slug=slug, **asked)
    return Queue.objects.filter(pk=made.details["queue"], slug=slug).first() if made is not None else None


@transaction.atomic
def update_queue(*, queue: Queue, values: QueueValues, actor=None, shown: dict | None = None) -> Queue:
    """Replace the queue's settings. Items already placed keep the overlap and priority they were made with; a new
    slug is carried into what names the queue by its slug (saved views, its open alerts).

    `shown`: the queue_settings the lead's page showed. Only the fields the lead changed are saved (another lead's
    save meanwhile stays); EditConflict, nothing saved, when one of them was changed since by someone else. None
    (commands, tests): every field is replaced."""
    # The project's row first (then the queue's: one order for both): a rename rewrites the saved views
    # naming the old slug, and a view being saved meanwhile must either be among them or see the new slug.
    Project.objects.lock(queue.project_id)
    # Lock the row: routing holds this lock while it fills the queue, so a quota never changes mid-placement.
    # The lock also orders two leads' saves, so the second compares its page with what the first saved.
    queue = Queue.objects.select_for_update(no_key=True, of=("self",)).select_related("project").get(pk=queue.pk)
    if shown is not None:
        values = _only_lead_changes(queue, values, shown)
    rule = _check(project=queue.project, values=values, queue=queue)
    old_slug = queue.slug
    fields = _fields(values, rule)
    changed = sorted(name for name in AUDITED_FIELDS if getattr(queue, name) != fields[name])
    was = {name: getattr(queue, name) for name in VALUED_FIELDS}
    before = set(queue.eligible_experts.values_list("pk", flat=True))
    if before != set(values.eligible_expert_ids):
        changed.append("eligible_experts")
    if fields["is_active"] != queue.is_active:
        fields["resumed_at" if fields["is_active"] else "paused_at"] = timezone.now()
    for name, value in fields.items():
        setattr(queue, name, value)
    try:
        with transaction.atomic():
            queue.save(update_fields=list(fields))
    except IntegrityError:
        raise _taken(values.slug) from None
    if queue.slug != old_slug:
        _follow_rename(queue.project, old_slug, queue.slug)
    queue.eligible_experts.set(values.eligible_expert_ids)
    if changed:
        AuditEvent.objects.create(
            project=queue.project,
            actor=audit_actor(actor),
            action="queue.updated",
            # Its name and state as saved, so the log says "Paused the queue “Escalations”", not which field changed.
            details={
                "queue": queue.pk,
                "slug": queue.slug,
                "name": queue.name,
                "is_active": queue.is_active,
                "changed": changed,
                # Before and after of each changed setting the log can say in a few words, as
                # project.settings_changed records them: "changed its weekly quota from 40 to 80".
                "changes": {
                    name: {"before": was[name], "after": fields[name]} for name in changed if name in VALUED_FIELDS
                },
            },
        )
    return queue


def queue_settings(queue: Queue) -> dict:
    """The settings a lead edits, as JSON values: what the queue editor shows and posts back as `shown`."""
    return {
        **{name: getattr(queue, name) for name in AUDITED_FIELDS},
        "eligible_experts": sorted(user.pk for user in queue.eligible_experts.all()),
    }


def _only_lead_changes(queue: Queue, values: QueueValues, shown: dict) -> QueueValues:
    """The values with the fields the lead did not change taken from the queue as it is now."""
    try:
        rule = validate_rule(values.rule)
    except InvalidSpec:
        rule = values.rule  # a change, which _check reports
    submitted = {**_fields(values, rule), "eligible_experts": sorted(set(values.eligible_expert_ids))}
    current = queue_settings(queue)
    changed = lead_changes(submitted=submitted, shown=shown, current=current, label=_changed_to, noun="queue")
    kept = {name: current[name] for name in current if name not in changed}
    if "eligible_experts" in kept:
        kept["eligible_expert_ids"] = tuple(kept.pop("eligible_experts"))
    return replace(values, **kept)


def _changed_to(name: str, value: object) -> str:
    """“Someone else changed the weekly quota to 40”: a clash as the lead reads it."""
    if name == "eligible_experts":
        users = get_user_model().objects.filter(pk__in=value).order_by("username").values_list("username", flat=True)
        shown = ", ".join(users) or "none ticked (every expert)"
    elif name == "rule":
        shown = json.dumps(value, ensure_ascii=False) if value else "none (every output)"
    else:
        shown = value_as_read(value, on="ticked", off="unticked")
    return f"Someone else changed the {setting_name(QUEUE_SETTING_NAMES, name)} to {shown}"


def _follow_rename(project: Project, old: str, new: str) -> None:
    """Name the queue by its new slug where the project stored the old one, in the rename's transaction: a saved
    view keeps opening the same outputs (its link stays a plain `?queue=<slug>`), and an unresolved alert about the
    queue stays the same alert (acknowledged, told once) rather than resolving and opening again."""
    # Slugs are [a-z0-9-], written as they are in a query string: the `contains` narrows, the rule decides.
    views = SavedView.objects.select_for_update().filter(project=project, query__contains=f"queue={old}")
    renamed = []
    for view in views.only("pk", "query").order_by("pk"):
        query = queue_renamed_in_query(view.query, old, new)
        if query != view.query:
            view.query = query
            renamed.append(view)
    SavedView.objects.bulk_update(renamed, ["query"])
    alerts = Alert.objects.unresolved().select_for_update().filter(project=project, rule__in=QUEUE_RULES)
    # An alert already open under the new slug (about a queue deleted since) stays; the old one resolves as it would.
    taken = set(alerts.filter(key=new).values_list("rule", flat=True))
    for alert in alerts.filter(key=old).exclude(rule__in=taken).order_by("pk"):
        alert.key = new
        if alert.facts.get("queue") == old:
            alert.facts = {**alert.facts, "queue": new}
        alert.save(update_fields=["key", "facts"])


def ensure_takes_items(queue: Queue, *, remedy: str) -> None:
    """InvalidInput for an inactive queue, ending with `remedy`: no expert is handed its items, so none are put in."""
    if not queue.is_active:
        raise InvalidInput(f"“{queue.name}” is inactive, so no expert would be handed its items: {remedy}")


@transaction.atomic
def request_backfill(*, queue: Queue, since: datetime | None, actor=None) -> OutboxMessage | None:
    """Route the project's outputs since `since` through the queue, in a task sent after commit; return its outbox
    message. InvalidInput for an inactive queue: no expert is handed its items. The same person's request moments ago
    is this one: nothing more (None)."""
    ensure_takes_items(queue, remedy="make it active to backfill it.")
    since_iso = since.isoformat() if since else None
    if _asked_moments_ago(queue, actor=audit_actor(actor), since_iso=since_iso):
        return None  # the button posted twice: the first request stands, its task deduplicated
    AuditEvent.objects.create(
        project_id=queue.project_id,
        actor=audit_actor(actor),
        action="queue.backfill_requested",
        details={"queue": queue.pk, "slug": queue.slug, "since": since_iso},
    )
    # Through the outbox: during a broker outage the backfill waits in the database and is sent after.
    return outbox.enqueue(
        task="labeling.backfill_queue",
        args=[queue.pk, since_iso],
        dedupe_key=work_key("backfill_queue", queue.pk, since_iso or "all"),
    )


def _asked_moments_ago(queue: Queue, *, actor, since_iso: str | None) -> bool:
    """Whether this person asked for the same backfill moments ago (rules.twins); a task or command never twins."""
    if actor is None:
        return False
    # The queue's row lock makes a twin posted at the same instant wait for the first request, and find it.
    Queue.objects.select_for_update(no_key=True).values_list("pk", flat=True).get(pk=queue.pk)
    asked = {"queue": queue.pk, "since": since_iso}
    twin = audited_twin(project_id=queue.project_id, actor=actor, action="queue.backfill_requested", **asked)
    return twin is not None


def _check(*, project: Project, values: QueueValues, queue: Queue | None = None) -> dict:
    problems = queue_problems(project=project, values=values, queue=queue)
    if problems:
        flat = [message for messages in problems.values() for message in messages]
        raise InvalidSpec("Invalid queue: " + " ".join(flat), flat)
    return validate_rule(values.rule)


def _fields(values: QueueValues, rule: dict) -> dict:
    return {
        "slug": values.slug,
        "name": values.name.strip(),
        "description": values.description.strip(),
        "rule": rule,
        "sample_rate": float(values.sample_rate),
        "weekly_quota": values.weekly_quota,
        "overlap": values.overlap,
        "priority": values.priority,
        "is_active": values.is_active,
    }


def _slug_taken(project: Project, slug: str, queue: Queue | None) -> bool:
    others = Queue.objects.filter(project=project, slug=slug)
    return (others.exclude(pk=queue.pk) if queue else others).exists()


def _taken(slug: str) -> InvalidSpec:
    message = f"This project has a queue with slug {slug!r} already."
    return InvalidSpec(f"Invalid queue: {message}", [message])


def audit_actor(user):
    """AuditEvent.actor wants a saved user or nothing (tasks and commands act as nobody)."""
    return user if isinstance(user, get_user_model()) and user.pk else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # NaN is not
