"""An export, or outputs added to a queue, whose audit event names an end user being erased at that moment: the
erasure scrubs the audit events that copied them, and used to miss one written by a request not committed yet (its
filter kept their id). Both writers now hold erasures off (`privacy.hold_erasures_off`), which the erasure waits
for first: whichever comes second waits for the first. They do not wait for the other holders of the project's row
(a recompute of the week's metrics holds it for seconds at a large project's close).
"""

from functools import partial

import pytest
from django.http import QueryDict

from labeling.models import AuditEvent, Item, Output, Queue
from labeling.rules.calendar import current_week
from labeling.rules.explore import parse_filter
from labeling.services.hand_picked import add_to_queue
from labeling.services.metrics import refresh_week_metrics
from labeling.services.output_exports import record_export
from labeling.services.privacy import erase_end_user
from tests.factories import OutputFactory
from tests.helpers.concurrency import held_halfway, run_at_once, waiting_on_a_lock
from tests.helpers.labeling import label_outputs

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ERASING = "u-gone"


def erase(project) -> None:
    erase_end_user(project=project, end_user_id=ERASING)


def test_an_erasure_during_an_export_naming_the_end_user_waits_for_it_and_scrubs_its_audit_event(project, lead):
    """The export's `outputs.exported` is inserted, not committed, when the erasure runs: the erasure waits for it,
    then puts the end user out of sight in its filter."""
    OutputFactory(project=project, end_user_id=ERASING)
    spec = parse_filter(QueryDict(f"end_user={ERASING}&feedback=down"))
    exporting = partial(record_export, project=project, spec=spec, fmt="jsonl", actor=lead)

    with held_halfway(exporting, "labeling_auditevent"):  # the export's event on its way in
        erasing, errors = waiting_on_a_lock(partial(erase, project))
    erasing.join(30)

    assert not errors
    (exported,) = AuditEvent.objects.filter(action="outputs.exported")
    assert exported.details["filter"] == "end_user=%5Berased%5D&feedback=down"
    assert AuditEvent.objects.filter(action="privacy.end_user_erased").exists()


def test_an_erasure_during_an_add_to_a_queue_from_a_search_for_the_end_user_scrubs_its_audit_event(project, lead):
    """A lead searched for the end user's id and added what it found (another end user's output quoting it) to a
    queue: the erasure running meanwhile waits for the add, then scrubs the search from its `queue.outputs_added`."""
    OutputFactory(project=project, end_user_id=ERASING)
    quoting = OutputFactory(project=project, end_user_id="u-stays", output=f"Customer {ERASING} asked again.")
    queue = Queue.objects.create(project=project, slug="refunds", name="Refunds")
    adding = partial(
        add_to_queue, project=project, queue=queue, output_ids=[quoting.pk], actor=lead, source=f"q={ERASING}"
    )

    with held_halfway(adding, "labeling_auditevent"):  # the item made, the add's event on its way in
        erasing, errors = waiting_on_a_lock(partial(erase, project))
    erasing.join(30)

    assert not errors
    (added,) = AuditEvent.objects.filter(action="queue.outputs_added")
    assert ERASING not in added.details["filter"]
    assert added.details["external_ids"] == [quoting.external_id] and added.details["added"] == 1


def call(work) -> None:
    work()


@pytest.mark.parametrize("round_", range(3))
def test_adding_the_end_users_outputs_to_a_queue_as_they_are_erased_ends_without_a_deadlock(project, lead, round_):
    """Both take the project's row first, then the add the queue's and the outputs' (key share), the erasure the
    outputs' (update): released together, one waits for the other, and nothing of theirs is left either way."""
    theirs = OutputFactory.create_batch(3, project=project, end_user_id=ERASING)
    queue = Queue.objects.create(project=project, slug="refunds", name="Refunds")
    adding = partial(
        add_to_queue, project=project, queue=queue, output_ids=[output.pk for output in theirs], actor=lead,
        source=f"end_user={ERASING}",
    )  # fmt: skip

    _, errors = run_at_once(call, [(adding,), (partial(erase, project),)])

    assert not errors
    assert not Output.objects.filter(project=project).exists() and not Item.objects.exists()
    (added,) = AuditEvent.objects.filter(action="queue.outputs_added")
    names = [output.external_id for output in theirs]
    assert not set(names) & set(added.details["external_ids"])


@pytest.mark.parametrize("writer", ["an export", "an add to a queue"])
def test_an_export_or_an_add_to_a_queue_goes_on_while_the_weeks_metrics_are_recomputed(project, lead, writer):
    """A recompute of the week's metric rows holds the project's row until it commits; an export or an add, which
    only order themselves against an erasure, used to wait for it (an export's download, the lead's add page)."""
    label_outputs(project, 2)
    output = OutputFactory(project=project)
    queue = Queue.objects.create(project=project, slug="refunds", name="Refunds")
    recompute = partial(refresh_week_metrics, project=project, week=current_week(project))

    with held_halfway(recompute, "labeling_qualitymetric"):  # the project's row held, the rows waiting
        if writer == "an export":
            record_export(project=project, spec=parse_filter(QueryDict("feedback=down")), fmt="jsonl", actor=lead)
        else:
            add_to_queue(project=project, queue=queue, output_ids=[output.pk], actor=lead, source="q=late")

    action = "outputs.exported" if writer == "an export" else "queue.outputs_added"
    assert AuditEvent.objects.filter(action=action).count() == 1
