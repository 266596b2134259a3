"""Webhooks through a real Celery worker to a real HTTP receiver (a server in a thread of this test): the
signatures verify with standardwebhooks' own verifier; a receiver that fails twice gets one successful
delivery after the retries; a worker killed (SIGKILL) mid-delivery is followed by a redelivery with the same
`webhook-id`; redirects are not followed; a slow receiver times out without holding up the others; the
deliveries have their own queue, so slow receivers hold up no other work.

The worker runs with WEBHOOKS_ALLOW_PRIVATE (the receiver is on 127.0.0.1; one test runs it without, as in
production: then the receiver is refused), a 2 s timeout, a 1 s lease margin and 1 s retries."""

import json
import signal
import subprocess
import threading

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from standardwebhooks import Webhook

from labeling.models import DatasetVersion, DeliveryStatus, VersionStatus, WebhookDelivery
from labeling.services import webhooks
from labeling.services.datasets import create_dataset, request_build
from tests.helpers.labeling import label_outputs
from tests.helpers.processes import start_worker as worker_process
from tests.helpers.processes import stop_worker, wait_for, worker_ready
from tests.helpers.webhook_receiver import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
WEBHOOK_QUEUE = django_settings.CELERY_WEBHOOK_QUEUE


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def _start_worker(concurrency: int = 1, queues: str = "", allow_private: bool = True) -> subprocess.Popen:
    pool = ["--pool=prefork", f"--concurrency={concurrency}"] if concurrency > 1 else []
    return worker_process(
        *pool,
        *([f"--queues={queues}"] if queues else []),
        empty_queue=False,  # the fixture emptied both queues; a later worker takes over what a killed one held
        WEBHOOKS_ALLOW_PRIVATE="true" if allow_private else "false",
        WEBHOOK_TIMEOUT_SECONDS="2",
        WEBHOOK_CONNECT_TIMEOUT_SECONDS="1",
        WEBHOOK_RETRY_SCHEDULE="1,1,1",
        WEBHOOK_LEASE_MARGIN_SECONDS="1",  # a killed worker's claim ends 3 s after it began
        CELERY_VISIBILITY_TIMEOUT="3",
        CELERY_UNACKED_RESTORE_SECONDS="1",
    )


@pytest.fixture
def start_worker():
    import redis

    queues = (django_settings.CELERY_TASK_DEFAULT_QUEUE, WEBHOOK_QUEUE)
    redis.Redis.from_url(django_settings.REDIS_URL).delete(*queues)
    started = []
    yield lambda **options: started.append(_start_worker(**options)) or started[-1]
    for process in started:
        stop_worker(process, signal.SIGKILL)
        process.log.unlink(missing_ok=True)


def _add(project, lead, url: str) -> webhooks.EndpointWithSecret:
    return webhooks.create_endpoint(project=project, created_by=lead, url=url, events=["dataset.version_ready"])


def _emit(project, number: int = 1) -> None:
    """A dataset.version_ready event, committed: the outbox publishes its deliveries to Redis."""
    with transaction.atomic():
        webhooks.emit(
            project_id=project.pk,
            event="dataset.version_ready",
            data={"project": project.slug, "dataset": {"slug": "support-eval"}, "version": {"number": number}},
        )


def _delivery(endpoint) -> WebhookDelivery:
    return WebhookDelivery.objects.get(endpoint=endpoint)


def test_signed_deliveries_verify_and_a_receiver_failing_twice_gets_one_success(
    project, lead, receiver, start_worker, settings
):
    settings.WEBHOOKS_ALLOW_PRIVATE = True  # this process saves the endpoint; the worker has its own setting
    receiver.script("/flaky", 500, 503, 200)
    made = _add(project, lead, receiver.url("/flaky"))
    start_worker()

    _emit(project)

    assert wait_for(lambda: _delivery(made.endpoint).status != DeliveryStatus.PENDING, 30)
    delivery = _delivery(made.endpoint)
    requests = receiver.at("/flaky")
    assert len(requests) == 3 and delivery.status == DeliveryStatus.SUCCEEDED
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == 1
    assert [attempt["code"] for attempt in delivery.attempt_log] == [500, 503, 200] and delivery.attempts == 3
    for request in requests:  # each attempt signed afresh, all with the message's one id
        payload = Webhook(made.secret).verify(request.body, request.headers)
        assert payload["type"] == "dataset.version_ready" and payload["data"]["version"] == {"number": 1}
        assert request.headers["webhook-id"] == delivery.message_id
    assert requests[1].at - requests[0].at >= 0.9  # the schedule's 1 s wait, kept by the worker's countdown
    assert json.loads(requests[0].body) == json.loads(delivery.body)


def test_a_worker_killed_mid_delivery_redelivers_with_the_same_id(project, lead, receiver, start_worker, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    released = threading.Event()
    receiver.script("/held", ("hold", released), 200)
    made = _add(project, lead, receiver.url("/held"))
    first = start_worker()
    try:
        _emit(project)
        assert wait_for(lambda: len(receiver.at("/held")) == 1, 30)  # the worker is inside the request now
        stop_worker(first, signal.SIGKILL)
    finally:
        released.set()
    assert _delivery(made.endpoint).status == DeliveryStatus.PENDING

    start_worker()  # Redis hands the unacknowledged task to it; it waits out the dead worker's claim

    assert wait_for(lambda: _delivery(made.endpoint).status == DeliveryStatus.SUCCEEDED, 45)
    requests = receiver.at("/held")
    assert len(requests) >= 2
    assert {request.headers["webhook-id"] for request in requests} == {_delivery(made.endpoint).message_id}
    for request in requests:
        Webhook(made.secret).verify(request.body, request.headers)
    assert _delivery(made.endpoint).attempts == len(requests)  # the killed attempt counts


def test_redirects_are_not_followed_and_a_slow_receiver_does_not_hold_up_the_others(
    project, lead, receiver, start_worker, settings
):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    receiver.script("/slow", ("sleep", 8, 200))
    receiver.script("/moved", ("redirect", "/landing"))
    slow = _add(project, lead, receiver.url("/slow")).endpoint
    moved = _add(project, lead, receiver.url("/moved")).endpoint
    fast = _add(project, lead, receiver.url("/fast")).endpoint
    start_worker(concurrency=2)

    _emit(project)

    assert wait_for(lambda: _delivery(fast).status == DeliveryStatus.SUCCEEDED, 30)
    assert wait_for(lambda: _delivery(slow).attempt_log, 30)
    assert wait_for(lambda: _delivery(moved).attempts >= 2, 30)
    slow_attempt = _delivery(slow).attempt_log[0]
    assert slow_attempt["code"] is None and slow_attempt["error"].startswith("Timed out")
    assert 1900 <= slow_attempt["ms"] <= 3500  # the 2 s total deadline, not the receiver's 8 s
    # The fast receiver was answered while the slow one still held its request.
    [slow_request], [fast_request] = receiver.at("/slow")[:1], receiver.at("/fast")
    assert fast_request.at < slow_request.at + 2
    redirected = _delivery(moved)
    assert redirected.status != DeliveryStatus.SUCCEEDED and redirected.response_code == 302
    assert "not followed" in redirected.last_error and receiver.at("/landing") == []


def test_slow_receivers_hold_up_no_other_work(project, lead, receiver, start_worker, settings):
    """Deliveries have their own queue: a worker of theirs waits on slow receivers while the worker for the
    rest builds a dataset asked for after them."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    for n in range(3):  # three endpoints, so three URLs (a project has each URL once for the same events)
        receiver.script(f"/slow{n}", ("sleep", 8, 200))
    slow = [_add(project, lead, receiver.url(f"/slow{n}")).endpoint for n in range(3)]  # 3 attempts of 2 s each
    label_outputs(project, 1)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    workers = [start_worker(queues=WEBHOOK_QUEUE), start_worker(queues=settings.CELERY_TASK_DEFAULT_QUEUE)]
    # Both consuming before anything is asked: a build worker still booting would make the slow receivers look fast.
    assert wait_for(lambda: all(map(worker_ready, workers)), 60)

    _emit(project)
    with transaction.atomic():
        request_build(dataset=dataset, actor=lead)

    built = DatasetVersion.objects.filter(dataset=dataset, status=VersionStatus.READY)
    assert wait_for(built.exists, 30)
    attempted = WebhookDelivery.objects.filter(endpoint__in=slow).exclude(attempt_log=[])
    assert attempted.count() < len(slow), "the build waited for the slow receivers"
    assert wait_for(attempted.exists, 10)  # and the webhooks' worker delivers them meanwhile


def test_a_worker_in_production_mode_refuses_a_private_receiver(project, lead, receiver, start_worker, settings):
    """Saved while private targets were allowed, sent by a worker where they are not (as in production): every
    attempt is refused before any connection, and the delivery fails after its retries."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    endpoint = _add(project, lead, receiver.url("/private")).endpoint
    start_worker(allow_private=False)

    _emit(project)

    assert wait_for(lambda: _delivery(endpoint).status == DeliveryStatus.FAILED, 30)
    delivery = _delivery(endpoint)
    assert delivery.attempts == 4 and receiver.at("/private") == []  # the first attempt and 3 retries, none sent
    assert all(attempt["error"].startswith("Refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address")
               for attempt in delivery.attempt_log)  # fmt: skip
