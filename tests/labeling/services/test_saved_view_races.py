"""A view saved while a lead renames the queue it filters on: whichever comes second waits for the first and sees
what it did, so no saved view is left naming a slug no queue has.

Renaming rewrites the views that name the old slug; a view inserted meanwhile (not yet committed) used to be missed,
and kept opening on "This project has no queue" from then on. Both lock the project's row first.
"""

from functools import partial

import pytest

from labeling.exceptions import InvalidFilter
from labeling.models import SavedView
from labeling.services.queues import QueueValues, create_queue, update_queue
from labeling.services.saved_views import save_view
from tests.helpers.concurrency import held_halfway, waiting_on_a_lock

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def rename(queue) -> None:
    update_queue(queue=queue, values=QueueValues(slug="refund-requests", name="Refund requests"))


def save(project, errors: list) -> None:
    try:
        save_view(project=project, name="Refunds down", query="queue=refunds&feedback=down")
    except InvalidFilter as refused:  # kept for the test: a thread's exception is otherwise reported as a failure
        errors.append(refused)


def test_a_view_saved_during_a_rename_waits_for_it_and_is_refused_with_the_old_slug(project):
    """The rename has rewritten the views it saw and waits to finish: the save of a view naming the old slug waits
    for it, then finds no such queue and says so (the lead's page still showed the old slug)."""
    queue = create_queue(project=project, values=QueueValues(slug="refunds", name="Refunds"))
    refused: list = []

    with held_halfway(partial(rename, queue), "labeling_auditevent"):  # renamed, views rewritten, not committed
        saving, errors = waiting_on_a_lock(partial(save, project, refused))
    saving.join(30)

    assert not errors
    assert [error.problems for error in refused] == [{"queue": "This project has no queue 'refunds'."}]
    assert not SavedView.objects.filter(project=project).exists()


def test_a_rename_during_a_views_save_waits_for_it_and_rewrites_the_view(project):
    """The view is inserted, not committed, when the lead renames the queue: the rename waits for the save, then
    rewrites the view with the new slug."""
    queue = create_queue(project=project, values=QueueValues(slug="refunds", name="Refunds"))
    refused: list = []

    with held_halfway(partial(save, project, refused), "labeling_auditevent"):  # the view inserted, not committed
        renaming, errors = waiting_on_a_lock(partial(rename, queue))
    renaming.join(30)

    assert not errors and not refused
    assert list(SavedView.objects.filter(project=project).values_list("query", flat=True)) == [
        "feedback=down&queue=refund-requests"
    ]
