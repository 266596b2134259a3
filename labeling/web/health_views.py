"""Health endpoints for the operator: `/healthz` (liveness) and `/readyz` (readiness). See README, "Health".

`/healthz` answers from the process alone, without a database query: a load balancer or an orchestrator's
liveness probe may call it as often as it likes. `/readyz` checks what the app needs (the database, the
broker, a worker that ran beat's heartbeat lately) and reports each project's weekly closes and routing
sweep, webhook deliveries that nothing takes, and queued work the outbox gave up on, from the database. Anyone
gets the overall status and each component's state; the per-project detail, the work given up and the error texts
are for a signed-in superuser or a caller with `Authorization: Bearer <READYZ_TOKEN>`, as they name projects.

A 503 from `/readyz` is its expected answer while a dependency is down, and a monitor asks every few seconds: it is
logged once when readiness changes (see `_log_readiness`), not as Django's ERROR for every 5xx on every probe.
"""

import hmac
import threading
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.log import log_response
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from labeling.rules.moments import utc_moment
from labeling.selectors import health

# A check that hangs would hang the probe: the broker gets a second.
BROKER_TIMEOUT_SECONDS = 1
FATAL = {"database", "broker", "worker"}
DEGRADING = ("closes", "routing", "webhooks", "outbox")

# What this process's last probe found not ready, as ((component, state), ...); None before its first probe.
_last_not_ready: tuple[tuple[str, str], ...] | None = None
_last_not_ready_lock = threading.Lock()


# GET or HEAD: uptime monitors and some load balancers probe with HEAD. Exempt from CSRF, which would answer a POST
# with the browser's "no cookie" page before require_safe could say which methods a probe takes (405).
@csrf_exempt
@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@csrf_exempt
@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    now = timezone.now()
    components: dict[str, str] = {}
    errors: dict[str, str] = {}
    components["database"] = _check(errors, "database", _ping_database)
    components["broker"] = _check(errors, "broker", _ping_broker)
    projects: list[dict] = []
    worker: dict = {}
    webhooks = outbox = "unknown"
    given_up: list[dict] = []
    # Asked once per probe: who asks does not change while it is answered.
    detail = _may_see_detail(request, database_up=components["database"] == "ok")
    if components["database"] == "ok":
        try:
            worker = _worker(now)
            projects = health.projects_health()
            webhooks = health.webhooks_state(now)
            outbox = health.outbox_state(now)
            if outbox != "ok" and detail:
                given_up = health.given_up_work(now)  # the rows only for the operator: a probe asks whether any
        except DatabaseError as exc:  # the database went away between two queries
            components["database"], errors["database"] = "down", str(exc)[:500]
    components["worker"] = worker.get("state", "unknown")
    known = components["database"] == "ok"
    components["closes"] = _state(projects, lambda row: row["failures"]) if known else "unknown"
    components["routing"] = _routing_state(projects, now) if known else "unknown"
    components["webhooks"] = webhooks if known else "unknown"
    components["outbox"] = outbox if known else "unknown"

    down = [name for name in FATAL if components[name] not in {"ok", "eager"}]
    failing = [name for name in DEGRADING if components[name] in {"failing", "stale", "stalled", "given_up"}]
    status = "unavailable" if down else "degraded" if failing else "ok"
    body: dict = {"status": status, "checked_at": utc_moment(now), "components": components}
    if detail:
        body["errors"] = errors
        body["workers"] = worker.get("heartbeats", [])
        body["projects"] = projects
        body["given_up"] = given_up
    response = JsonResponse(body, status=503 if down else 200)
    _log_readiness(request, response, tuple((name, components[name]) for name in sorted(down)))
    return response


def _log_readiness(request: HttpRequest, response: JsonResponse, not_ready: tuple[tuple[str, str], ...]) -> None:
    """Log a change of this process's readiness once: a WARNING naming what is not ready, an INFO when all is ready
    again. A 503 with nothing changed is logged at DEBUG, below what the settings let through.

    Django logs every response of 500 or more as an ERROR unless it was logged already (`log_response` marks it so),
    which a monitor probing every few seconds while a worker is down turned into one error line per probe. The view
    that knows the 503 is an expected state says so, whatever the LOGGING settings (the dataset API's "file being
    prepared" does the same). An exception inside the probe is still Django's ERROR, with its 500."""
    global _last_not_ready
    with _last_not_ready_lock:
        before, _last_not_ready = _last_not_ready, not_ready
    what = ", ".join(f"{name} {state}" for name, state in not_ready)
    if not_ready:
        level = "warning" if not_ready != before else "debug"
        log_response("Not ready: %s (%s)", request.path, what, response=response, request=request, level=level)
    elif before:
        log_response("Ready again: %s", request.path, response=response, request=request, level="info")


def _check(errors: dict[str, str], name: str, ping) -> str:
    try:
        return ping()
    except Exception as exc:  # any failure of a dependency is its state, never a 500 of the probe
        errors[name] = f"{type(exc).__name__}: {exc}"[:500]
        return "down"


def _ping_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _ping_broker() -> str:
    if not settings.REDIS_URL:
        return "eager"  # no broker: tasks run inside the web process (the demo)
    options = {"socket_connect_timeout": BROKER_TIMEOUT_SECONDS, "socket_timeout": BROKER_TIMEOUT_SECONDS}
    with redis.Redis.from_url(settings.REDIS_URL, **options) as client:
        client.ping()
    return "ok"


def _worker(now) -> dict:
    if not settings.REDIS_URL:
        return {"state": "eager", "heartbeats": []}
    state = health.worker_state(now)
    return {"state": state["state"], "heartbeats": health.worker_heartbeats()}


def _state(projects: list[dict], failed) -> str:
    return "failing" if any(failed(row) for row in projects) else "ok"


def _routing_state(projects: list[dict], now) -> str:
    """ "failing" if a project's routing failed in the last sweep; "stale" if no sweep finished for 3 periods."""
    if _state(projects, lambda row: row["routing"]["failed_at"]) == "failing":
        return "failing"
    finished = [row["routing"]["succeeded_at"] for row in projects if row["routing"]["succeeded_at"]]
    period = settings.CELERY_BEAT_SCHEDULE["route-pending-outputs"]["schedule"]
    if finished and datetime.fromisoformat(max(finished)) < now - timedelta(seconds=3 * period):
        return "stale"
    return "ok"


def _may_see_detail(request: HttpRequest, *, database_up: bool) -> bool:
    token = settings.READYZ_TOKEN
    sent = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    if not database_up:
        return False  # the session lives in the database
    try:
        return bool(request.user.is_authenticated and request.user.is_superuser)
    except DatabaseError:
        return False
