"""An expert flags an item while its end user is erased: the flag (and the webhook delivery quoting the output) must
not outlive the erasure, and the expert gets an answer, not a server error.

Flagging takes the item's output FOR KEY SHARE first, as a placement does (`routing.kept_from_deletion`), and the
erasure locks the outputs first: whichever comes second waits for the first.
"""

from functools import partial

import pytest

from labeling.exceptions import NotFound
from labeling.models import Comment, Flag, WebhookDelivery, WebhookEndpoint
from labeling.services import webhooks
from labeling.services.labels import comment_on_item, flag_item
from labeling.services.privacy import erase_end_user
from labeling.services.webhook_delivery import attempt_delivery, redeliver
from tests.helpers.concurrency import held_halfway, waiting_on_a_lock
from tests.helpers.labeling import AGREE, label_outputs
from tests.helpers.webhook_receiver import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def flagged_output_listener(project, lead):
    webhooks.create_endpoint(
        project=project, created_by=lead, url="https://hooks.example.com/in", events=["output.flagged"],
        include_transcripts=True,
    )  # fmt: skip


def _refused_during_the_erasure(project, write) -> list[NotFound]:
    """Run `write` while the erasure of "u-gone" is held halfway (its deletes done, not committed) and return the
    NotFound it was told; any other error fails the test."""
    refusals: list[NotFound] = []

    def attempt() -> None:
        try:
            write()
        except NotFound as refused:  # kept for the test: a thread's exception is otherwise reported as a failure
            refusals.append(refused)

    with held_halfway(partial(erase_end_user, project=project, end_user_id="u-gone"), "labeling_auditevent"):
        writing, errors = waiting_on_a_lock(attempt)
    writing.join(30)
    assert not errors
    return refusals


def test_a_flag_during_the_erasure_of_its_end_user_waits_and_is_told_the_item_is_gone(
    project, expert, flagged_output_listener
):
    """The erasure has deleted the item, not committed, when the expert flags it: the flag used to fail with an
    integrity error (a 500) once the erasure committed. It waits, then finds no item."""
    [item] = label_outputs(project, answers=AGREE[:1], end_user_id="u-gone")
    gone = _refused_during_the_erasure(
        project, partial(flag_item, expert=expert, item=item, note="Quotes their address")
    )

    assert len(gone) == 1
    assert not Flag.objects.exists() and not WebhookDelivery.objects.exists()


def test_an_erasure_during_a_flag_waits_for_it_and_deletes_the_flag_and_its_delivery(
    project, expert, flagged_output_listener
):
    """The flag is in, its delivery on its way in (not committed), when the erasure runs: the erasure waits for the
    flag, then deletes it and the delivery quoting the output."""
    [item] = label_outputs(project, answers=AGREE[:1], end_user_id="u-gone")
    flag = partial(flag_item, expert=expert, item=item, note="Quotes their address")

    with held_halfway(flag, "labeling_webhookdelivery"):  # the flag inserted, its delivery waiting
        erasing, errors = waiting_on_a_lock(partial(erase_end_user, project=project, end_user_id="u-gone"))
    erasing.join(30)

    assert not errors
    assert not Flag.objects.exists() and not WebhookDelivery.objects.exists()


def test_a_redelivery_during_the_erasure_of_its_end_user_waits_and_is_told_the_delivery_is_gone(
    project, expert, lead, flagged_output_listener
):
    """A lead redelivers a delivery about the output being erased: the redelivery used to fail with an integrity error
    (a 500) once the erasure committed. It waits, then finds the output gone, and nothing is sent."""
    [item] = label_outputs(project, answers=AGREE[:1], end_user_id="u-gone")
    flag_item(expert=expert, item=item, note="Quotes their address")
    delivery = WebhookDelivery.objects.select_related("endpoint__project").get()
    gone = _refused_during_the_erasure(project, partial(redeliver, delivery=delivery, actor=lead))

    assert len(gone) == 1
    assert not WebhookDelivery.objects.exists()


def test_a_comment_during_the_erasure_of_its_end_user_waits_and_is_told_the_item_is_gone(project, expert):
    """As a flag: the comment used to fail with an integrity error (a 500) once the erasure committed."""
    [item] = label_outputs(project, answers=AGREE[:1], end_user_id="u-gone")
    write = partial(comment_on_item, author=expert, item=item, body="They wrote their address again")
    gone = _refused_during_the_erasure(project, write)

    assert len(gone) == 1
    assert not Comment.objects.exists()


def test_an_erasure_while_a_worker_disables_the_failing_endpoint_ends_without_a_deadlock(
    project, lead, expert, settings
):
    """The worker recording the last failed attempt holds that delivery and then fails the endpoint's other pending
    deliveries; the erasure deletes the deliveries about the end user's outputs. With both of them about the end user,
    they used to deadlock and PostgreSQL aborted one (a 500 for the erasure, or a failed task). The erasure now takes
    the project's endpoints first, as the worker does its endpoint: it waits for the worker, then deletes both."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOK_DISABLE_AFTER_SECONDS, settings.WEBHOOK_DISABLE_MIN_FAILURES = 0, 1
    items = label_outputs(project, 2, answers=AGREE[:1], end_user_id="u-gone")
    with Receiver() as receiver:
        receiver.script("/down", 503)
        webhooks.create_endpoint(project=project, created_by=lead, url=receiver.url("/down"), events=["output.flagged"])
        for item in items:
            flag_item(expert=expert, item=item, note="Quotes their address")
        _, later = WebhookDelivery.objects.order_by("pk")

        with held_halfway(partial(attempt_delivery, delivery_id=later.pk), "labeling_webhookendpoint"):
            erasing, errors = waiting_on_a_lock(partial(erase_end_user, project=project, end_user_id="u-gone"))
        erasing.join(30)

    assert not errors
    assert not Flag.objects.exists() and not WebhookDelivery.objects.exists()
    assert not WebhookEndpoint.objects.get().enabled
