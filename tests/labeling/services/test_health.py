"""GET /healthz (liveness, no database) and GET /readyz (database, broker, worker, closes and routing)."""

import logging
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labeling import tasks
from labeling.models import DeliveryStatus, OutboxMessage, RoutingState, WebhookDelivery, WorkerHeartbeat
from labeling.selectors import health
from labeling.services.health import record_heartbeat
from labeling.services.webhooks import create_endpoint
from tests.factories import UserFactory
from tests.helpers.processes import ROOT
from tests.outbox import run_as_worker

pytestmark = pytest.mark.redis
EVENTS = ["dataset.version_ready"]


def _closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def worker_alive(db):
    record_heartbeat(hostname="celery@worker-1")


@pytest.fixture
def request_log(caplog):
    """What django.request logs, from INFO up (the settings' level)."""
    with caplog.at_level(logging.INFO, logger="django.request"):
        yield caplog


def logged(caplog) -> list[tuple[int, int, str]]:
    return [(r.levelno, r.status_code, r.getMessage()) for r in caplog.records if r.name == "django.request"]


def test_healthz_answers_without_touching_the_database(client):
    """No `db` fixture: pytest-django fails any query this test makes."""
    response = client.get("/healthz")

    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_readyz_is_ok_with_database_broker_and_a_recent_worker(client, project, worker_alive):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["components"] == {
        "database": "ok",
        "broker": "ok",
        "worker": "ok",
        "closes": "ok",
        "routing": "ok",
        "webhooks": "ok",
        "outbox": "ok",
    }
    assert "projects" not in body and "errors" not in body and "no-store" in response["Cache-Control"]


def test_a_head_probe_gets_the_status_a_get_gets(client, settings, worker_alive):
    """Uptime monitors and some load balancers probe with HEAD: it was a 405, so the server looked down."""
    assert client.head("/healthz").status_code == 200
    assert client.head("/readyz").status_code == 200
    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    assert client.head("/readyz").status_code == 503


def test_a_post_is_told_which_methods_the_probes_take_not_to_allow_cookies(db):
    """A probe sent as POST got the CSRF page ("Your browser sent no cookie with this form"), a 403 in HTML."""
    browser_like = Client(enforce_csrf_checks=True)
    for path in ("/healthz", "/readyz"):
        response = browser_like.post(path)

        assert response.status_code == 405, path
        assert response["Allow"] == "GET, HEAD"


def test_readyz_is_503_when_the_broker_is_unreachable(client, settings, worker_alive):
    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"

    started = time.monotonic()
    response = client.get("/readyz")

    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and response.json()["components"]["broker"] == "down"


@pytest.mark.parametrize("last_beat, state", [(None, "never"), (timedelta(minutes=4), "silent")])
def test_readyz_is_503_when_no_worker_ran_the_heartbeat_lately(client, settings, db, last_beat, state):
    settings.WORKER_HEARTBEAT_SECONDS = 60
    if last_beat:
        record_heartbeat(hostname="celery@worker-1", now=timezone.now() - last_beat)

    response = client.get("/readyz")

    assert response.status_code == 503 and response.json()["components"]["worker"] == state


def test_the_heartbeat_task_records_its_worker(db):
    tasks.worker_heartbeat.apply()  # as a worker runs it (request.hostname set by Celery)

    assert WorkerHeartbeat.objects.count() == 1
    assert timezone.now() - WorkerHeartbeat.objects.get().seen_at < timedelta(seconds=5)


@pytest.mark.parametrize(
    "persona, header, sees",
    [
        ("anonymous", "", False),
        ("anonymous", "Bearer wrong-token", False),
        ("anonymous", "Bearer operator-token", True),
        ("staff", "", False),
        ("superuser", "", True),
    ],
)
def test_only_a_superuser_or_the_token_sees_each_project(
    client, settings, project, worker_alive, persona, header, sees
):
    settings.READYZ_TOKEN = "operator-token"
    if persona != "anonymous":
        client.force_login(UserFactory(username=persona, is_staff=True, is_superuser=persona == "superuser"))
    tasks.route_pending_outputs()  # one sweep: the project's routing is recorded

    body = client.get("/readyz", HTTP_AUTHORIZATION=header).json()

    assert ("projects" in body) is sees
    assert ("support-bot" in str(body)) is sees
    if sees:
        [row] = body["projects"]
        assert row["project"] == "support-bot" and row["routing"]["succeeded_at"] and not row["routing"]["failed_at"]
        assert row["last_close"] is None and row["failures"] == []
        assert body["workers"][0]["hostname"] == "celery@worker-1"


def test_without_a_readyz_token_no_bearer_header_sees_detail(client, settings, worker_alive):
    settings.READYZ_TOKEN = ""

    assert "projects" not in client.get("/readyz", HTTP_AUTHORIZATION="Bearer ").json()


def test_without_a_database_healthz_is_200_and_readyz_503_not_500():
    """A real process whose DATABASE_URL points at a port nothing listens on."""
    script = (
        "import django; django.setup();"
        "from django.test import Client; c = Client();"
        "h = c.get('/healthz'); r = c.get('/readyz');"
        "print(h.status_code, r.status_code, r.json()['components']['database'], r.json()['status'])"
    )
    env = {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{_closed_port()}/nothing",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PATH": "/usr/bin:/bin",
    }

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.stdout.split() == ["200", "503", "down", "unavailable"], result.stderr[-2000:]


def test_readyz_is_degraded_when_no_routing_sweep_finished_for_three_periods(client, project, worker_alive):
    tasks.route_pending_outputs()
    assert client.get("/readyz").json()["components"]["routing"] == "ok"
    RoutingState.objects.update(succeeded_at=timezone.now() - timedelta(minutes=16))  # the sweep runs every 5

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded" and response.json()["components"]["routing"] == "stale"


def test_readyz_is_degraded_while_a_webhook_delivery_waits_long_after_it_was_due(client, project, lead, worker_alive):
    """Deliveries have a worker of their own that the heartbeat does not reach: one pending long past its time
    means nothing takes them. Due a minute ago is normal (the sweep runs every few seconds)."""
    endpoint = create_endpoint(
        project=project, created_by=lead, url="https://hooks.example.com/x", events=EVENTS
    ).endpoint
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event=EVENTS[0], message_id="msg_1", body="{}", next_attempt_at=timezone.now()
    )
    assert client.get("/readyz").json()["components"]["webhooks"] == "ok"

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=11))
    response = client.get("/readyz")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["components"]["webhooks"]) == ("degraded", "stalled")

    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.SUCCEEDED)  # a worker took it
    assert client.get("/readyz").json()["status"] == "ok"


def test_a_monitor_probing_while_the_worker_is_down_gets_503s_and_the_log_one_warning_not_an_error_each(
    client, settings, worker_alive, request_log
):
    """Before: every 503 logged "ERROR django.request: Service Unavailable: /readyz", one line per probe of a monitor
    asking every few seconds. Now the change is logged once, naming what is not ready, and so is the way back."""
    settings.WORKER_HEARTBEAT_SECONDS = 60
    assert client.get("/readyz").status_code == 200
    request_log.clear()  # this process may have logged an earlier test's change
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(minutes=4))  # the worker stopped

    for _probe in range(3):
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable" and response.json()["components"]["worker"] == "silent"

    assert logged(request_log) == [(logging.WARNING, 503, "Not ready: /readyz (worker silent)")]
    request_log.clear()

    redis_url, settings.REDIS_URL = settings.REDIS_URL, f"redis://127.0.0.1:{_closed_port()}/0"  # the broker too
    assert client.get("/readyz").status_code == 503
    assert client.get("/readyz").status_code == 503
    assert logged(request_log) == [(logging.WARNING, 503, "Not ready: /readyz (broker down, worker silent)")]
    request_log.clear()

    settings.REDIS_URL = redis_url
    record_heartbeat(hostname="celery@worker-1")  # both are back
    assert client.get("/readyz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert logged(request_log) == [(logging.INFO, 200, "Ready again: /readyz")]


def test_an_error_inside_the_probe_is_still_logged_as_an_error(settings, worker_alive, request_log):
    """A guard (it passed before the change too): only the expected answers of a probe are spared Django's ERROR. A
    schedule without the routing sweep's entry is a bug of the deployment, and the probe fails on it."""
    settings.CELERY_BEAT_SCHEDULE = {
        name: entry for name, entry in settings.CELERY_BEAT_SCHEDULE.items() if name != "route-pending-outputs"
    }

    response = Client(raise_request_exception=False).get("/readyz")

    assert response.status_code == 500
    assert [(level, status) for level, status, _ in logged(request_log)] == [(logging.ERROR, 500)]


def test_readyz_is_degraded_while_the_outbox_holds_work_it_gave_up_on_and_names_it_to_the_operator(
    client, settings, worker_alive
):
    """Work started OUTBOX_MAX_RESENDS times again and never finished (the outbox's `resend_lost`) is not done and
    will not be: the operator sees it; only the detail names its task (its args shortened as the logs show them: a
    routing batch carries 1,000 ids) and error. An anonymous probe only asks whether there is any: one EXISTS."""
    settings.READYZ_TOKEN = "operator-token"
    assert client.get("/readyz").json()["components"]["outbox"] == "ok"
    now = timezone.now()
    message = OutboxMessage.objects.create(
        task="labeling.route_outputs", args=[list(range(1000)), 3], published_at=now, resends=5, given_up_at=now,
        finished_at=now, last_error="Given up: started 6 times and never finished (killed by its time limit, …)",
    )  # fmt: skip

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["components"]["outbox"]) == ("degraded", "given_up")
    assert "given_up" not in response.json()
    [probe] = [query["sql"] for query in queries if "labeling_outboxmessage" in query["sql"]]
    assert "LIMIT 1" in probe and '"args"' not in probe and '"last_error"' not in probe

    [given_up] = client.get("/readyz", HTTP_AUTHORIZATION="Bearer operator-token").json()["given_up"]
    assert given_up == {
        "id": message.pk, "task": "labeling.route_outputs", "args": "(<1000 items>, 3)",
        "given_up_at": given_up["given_up_at"], "error": message.last_error,
    }  # fmt: skip
    assert given_up["given_up_at"].endswith("Z")


def test_work_given_up_degrades_readyz_for_a_day_not_for_as_long_as_the_outbox_keeps_it(client, settings, worker_alive):
    """One give-up is an incident the operator hears of, not a state the probe keeps for OUTBOX_KEEP_DAYS: past
    GIVEN_UP_DEGRADES_FOR (a day) /readyz is ok again, though the row is still kept."""
    settings.READYZ_TOKEN = "operator-token"
    given_up = timezone.now() - timedelta(hours=25)
    message = OutboxMessage.objects.create(
        task="labeling.render_version_files", args=[7], published_at=given_up, resends=5, given_up_at=given_up,
        finished_at=given_up, last_error="Given up",
    )  # fmt: skip
    assert given_up > timezone.now() - timedelta(days=settings.OUTBOX_KEEP_DAYS)  # not pruned yet

    body = client.get("/readyz", HTTP_AUTHORIZATION="Bearer operator-token").json()
    assert (body["status"], body["components"]["outbox"], body["given_up"]) == ("ok", "ok", [])

    OutboxMessage.objects.filter(pk=message.pk).update(given_up_at=timezone.now() - timedelta(hours=23))
    body = client.get("/readyz", HTTP_AUTHORIZATION="Bearer operator-token").json()
    assert (body["status"], body["components"]["outbox"]) == ("degraded", "given_up")
    assert [row["id"] for row in body["given_up"]] == [message.pk]
    assert health.GIVEN_UP_DEGRADES_FOR == timedelta(hours=24)  # the day the README names


def test_work_given_up_that_a_straggler_then_finishes_no_longer_degrades_readyz(client, worker_alive):
    """A copy of the work that was still running when the outbox gave up on it (a worker that had prefetched it)
    finishes after all: the work is done, so /readyz is ok again."""
    now = timezone.now()
    message = OutboxMessage.objects.create(
        task="labeling.worker_heartbeat", published_at=now, resends=5, given_up_at=now, finished_at=now,
        last_error="Given up",
    )  # fmt: skip
    assert client.get("/readyz").json()["components"]["outbox"] == "given_up"

    run_as_worker(message)  # the straggler: its worker's signals mark the message finished

    body = client.get("/readyz").json()
    assert (body["status"], body["components"]["outbox"]) == ("ok", "ok")
