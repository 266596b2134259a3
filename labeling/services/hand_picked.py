"""Add outputs a lead picked (on the explore page) to a review queue, whatever its rule, sample and quota.

Items are made by `routing.place_in_queue`, the one home for making items: the same overlap, priority and
label slots as routing gives them, in the running cycle week (an old output picked today is this week's work,
never a closed week's), under the queue's row lock, which serialises concurrent adds (an output is never in a
queue twice) and orders an add with a pause (a paused queue takes none). The audit log says who added what, and
from which filter.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from labeling.exceptions import InvalidInput, NotFound
from labeling.models import AuditEvent, Output, Project, Queue
from labeling.rules.calendar import current_week
from labeling.rules.twins import audited_twin

from .privacy import hold_erasures_off
from .queues import audit_actor, ensure_takes_items
from .routing import place_in_queue

ADD_LIMIT = 1000  # outputs per call: a lead's pick or the newest of a filter's result


@dataclass(frozen=True)
class AddResult:
    """What one add did: items made, and picked outputs that were in the queue already."""

    added: int
    already_in: int


@transaction.atomic
def add_to_queue(
    *, project: Project, queue: Queue, output_ids: Iterable[int], actor=None, source: str = ""
) -> AddResult:
    """Make an item in `queue` for each of the project's outputs among `output_ids` that is not in it yet.

    At most ADD_LIMIT ids (InvalidInput beyond, and for an inactive queue: no expert is handed its items).
    Ids of other projects' outputs, or of none, are ignored.
    The caller has checked that `actor` may manage the project; `source` (the explore filter's query
    string) goes into the audit event. The same person's add of the same outputs moments ago, posted again, adds
    nothing and is not audited again: its result is returned.
    """
    if queue.project_id != project.pk:
        raise NotFound("No such queue.")
    # The queue's row lock, as a lead's settings save and routing take it: a pause committed while this waited is
    # seen here, and one saved after waits for these items (the row the caller read may be paused already).
    queue = Queue.objects.select_for_update(no_key=True).filter(pk=queue.pk).order_by("pk").first()
    if queue is None:  # deleted (in the admin) since the caller read it
        raise NotFound("No such queue.")
    ensure_takes_items(queue, remedy="nothing was added. Make it active in its settings, or choose another queue.")
    wanted = list(dict.fromkeys(output_ids))
    if len(wanted) > ADD_LIMIT:
        raise InvalidInput(f"Add at most {ADD_LIMIT:,} outputs at a time ({len(wanted):,} were chosen).")
    # An erasure running meanwhile waits for this add and scrubs its audit event (the filter, the outputs' external
    # ids), or has committed before and the outputs it deleted are not found here.
    hold_erasures_off(project.pk)
    outputs = list(
        Output.objects.filter(project=project, pk__in=wanted)
        .only("pk", "external_id", "occurred_at")
        .order_by("-occurred_at", "-pk")
    )
    this_week = current_week(project)
    added = (
        place_in_queue(project=project, queue_id=queue.pk, outputs=outputs, within_quota=False, week=this_week)
        if outputs
        else 0
    )
    external_ids = [output.external_id for output in outputs]
    if not added:
        twin = _added_moments_ago(
            project, queue=queue, actor=audit_actor(actor), external_ids=external_ids, source=source
        )
        if twin is not None:
            return twin  # the form posted twice: the first post added them, and says so again
    result = AddResult(added=added, already_in=len(outputs) - added)
    AuditEvent.objects.create(
        project=project,
        actor=audit_actor(actor),
        action="queue.outputs_added",
        details={
            "queue": queue.slug,
            "added": result.added,
            "already_in": result.already_in,
            "external_ids": external_ids,
            "filter": source,
        },
    )
    return result


def _added_moments_ago(
    project: Project, *, queue: Queue, actor, external_ids: list[str], source: str
) -> AddResult | None:
    """What this person's add of the same outputs to the queue did moments ago (rules.twins), if they made one.

    Asked only when this add placed nothing: the outputs are in the queue, and a twin of this post put them there
    (placing waits for it to commit, so its audit event is read here)."""
    if actor is None:
        return None
    same = {"queue": queue.slug, "filter": source, "external_ids": external_ids}
    twin = audited_twin(project_id=project.pk, actor=actor, action="queue.outputs_added", **same)
    if twin is None:
        return None
    return AddResult(added=twin.details["added"], already_in=twin.details["already_in"])
