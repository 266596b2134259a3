"""Webhook endpoints (an engineer, lead or admin adds, rotates, pauses, deletes them) and events (`emit`, from the
services where each happens). Sending (and a redelivery) is services/webhook_delivery.py; the events' payloads
services/webhook_events.py.

Secrets: a standard endpoint's `whsec_…` secret must be readable to sign each attempt, so it cannot be
hashed like an API key. It is stored encrypted (Fernet) with a key derived from SECRET_KEY (decrypting also
with SECRET_KEY_FALLBACKS, so a rotated SECRET_KEY keeps the secrets readable while it is among them): a
leaked database dump or backup alone does not give the secrets away. It is shown once, in the answer to the
request that made it (creation or rotation), and never again.
"""

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import msgspec
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labeling.exceptions import DomainError, InvalidInput, InvalidUrl
from labeling.models import (
    AuditEvent,
    DeliveryStatus,
    Project,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookKind,
)
from labeling.rules.access import check_can_manage_webhooks
from labeling.rules.moments import utc_moment
from labeling.rules.twins import is_recent
from labeling.rules.webhooks import (
    address_refusal,
    check_events,
    check_url,
    local_receivers_hint,
)

from . import outbox, webhook_transport

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the Standard Webhooks spec asks for 24 to 64
MAX_ENDPOINTS_PER_PROJECT = 20
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class EndpointWithSecret:
    """An endpoint and its signing secret in clear: only in the answer that made the secret."""

    endpoint: WebhookEndpoint
    secret: str


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _fernet_for(key: str) -> Fernet:
    derived = hashlib.sha256(b"expertloop.webhooks.secret:" + key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([_fernet_for(key) for key in keys])


def _keys() -> tuple[str, ...]:
    return (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))


def seal(secret: str) -> str:
    return _fernet(_keys()).encrypt(secret.encode()).decode()


def signing_secret(endpoint: WebhookEndpoint) -> str:
    """The endpoint's secret in clear, to sign with; DomainError if no key of this server opens it."""
    try:
        return _fernet(_keys()).decrypt(endpoint.secret_sealed.encode()).decode()
    except InvalidToken:
        raise DomainError(
            "The signing secret cannot be read with this server's SECRET_KEY (or SECRET_KEY_FALLBACKS): "
            "rotate the endpoint's secret."
        ) from None


def reseal_secrets() -> tuple[int, list[int]]:
    """Seal every standard endpoint's secret again with the current SECRET_KEY (MultiFernet.rotate), so that a
    key kept only in SECRET_KEY_FALLBACKS can be dropped; return how many, and the endpoints no key opens."""
    fernet = _fernet(_keys())
    resealed, unreadable = 0, []
    for endpoint_id, sealed in (
        WebhookEndpoint.objects.exclude(secret_sealed="").order_by("pk").values_list("pk", "secret_sealed")
    ):
        try:
            again = fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            unreadable.append(endpoint_id)
            continue
        # Conditional: a rotation by a lead meanwhile keeps its new secret.
        resealed += WebhookEndpoint.objects.filter(pk=endpoint_id, secret_sealed=sealed).update(secret_sealed=again)
    return resealed, unreadable


def _checked_url(url: str, kind: str) -> str:
    """check_url, and for a name, its addresses as they resolve now: a name that points at this network
    is refused while the form is still open (each send checks again)."""
    allow_private = settings.WEBHOOKS_ALLOW_PRIVATE
    url = check_url(url, kind=kind, allow_private=allow_private)
    if allow_private:
        return url
    host = urlsplit(url).hostname or ""
    try:
        # Bounded like a connect: a resolver that hangs must not hold the lead's request (and a web worker).
        infos = webhook_transport.resolve_within(host, 443, timeout=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS)
    except (OSError, UnicodeError):
        infos = None
    if infos is None:
        return url  # not resolvable now: each send resolves and checks again
    for info in infos:
        refusal = address_refusal(info[4][0])
        if refusal:
            raise InvalidUrl(
                f"{host} resolves to {info[4][0]}, {refusal}: webhooks go to public addresses only."
                f"{local_receivers_hint()}"
            )
    return url


def audit_details(endpoint: WebhookEndpoint, **more) -> dict:
    return {"endpoint": endpoint.pk, "kind": endpoint.kind, "url": endpoint.shown_url, **more}


@transaction.atomic
def create_endpoint(
    *,
    project: Project,
    created_by,
    url: str,
    events: list[str],
    kind: str = WebhookKind.STANDARD,
    include_transcripts: bool = False,
    description: str = "",
) -> EndpointWithSecret:
    """Add an endpoint (engineers, leads and admins: WEBHOOK_ROLES); a standard one gets a new secret, returned once.

    One with the URL and events of an endpoint the project has is refused (InvalidInput naming it): the twin of a
    double click would send every event twice, and show only the second secret."""
    if created_by is not None:
        check_can_manage_webhooks(created_by, project)
    if kind not in WebhookKind.values:
        raise InvalidInput(f"Unknown kind {kind!r}: choose {' or '.join(WebhookKind.values)}.")
    url = _checked_url(url, kind)
    events = check_events(events, kind=kind)
    description = (description or "").strip()
    if len(description) > 200 or "\x00" in description:
        raise InvalidInput("A description is at most 200 characters, without NUL characters.")
    # The project row's lock makes the count and the insert one step for two lead's tabs at once.
    Project.objects.lock(project.pk)
    if WebhookEndpoint.objects.filter(project=project).count() >= MAX_ENDPOINTS_PER_PROJECT:
        raise InvalidInput(f"A project has at most {MAX_ENDPOINTS_PER_PROJECT} webhook endpoints: delete one first.")
    twin = WebhookEndpoint.objects.filter(project=project, url=url, events=events).order_by("pk").first()
    if twin is not None:
        described = f" ({twin.description})" if twin.description else ""
        raise InvalidInput(
            f"Endpoint {twin.pk}{described} already sends these events to {twin.shown_url}: nothing was added."
        )
    secret = new_secret() if kind == WebhookKind.STANDARD else ""
    endpoint = WebhookEndpoint.objects.create(
        project=project,
        kind=kind,
        url=url,
        events=events,
        description=description,
        include_transcripts=include_transcripts,
        secret_sealed=seal(secret) if secret else "",
        created_by=created_by,
    )
    AuditEvent.objects.create(
        project=project,
        actor=created_by,
        action="webhook.created",
        details=audit_details(endpoint, events=events, include_transcripts=include_transcripts),
    )
    return EndpointWithSecret(endpoint, secret)


def rotation_mark(endpoint: WebhookEndpoint) -> str:
    """What the rotate button posts back: when the secret the page knew of was made ("" for the first)."""
    return endpoint.secret_rotated_at.isoformat() if endpoint.secret_rotated_at else ""


@transaction.atomic
def rotate_secret(*, endpoint: WebhookEndpoint, actor, seen: str | None = None) -> EndpointWithSecret:
    """Give a standard endpoint a new secret (returned this once); the old one signs nothing from now on.

    `seen`: the page's rotation_mark. If the secret was rotated since, moments ago (the twin of a double click, or
    another lead at the same time), that secret is returned and no other made: the browser shows the answer to the
    last click, which must name the secret kept. None: always a new one."""
    check_can_manage_webhooks(actor, endpoint.project)
    if endpoint.kind != WebhookKind.STANDARD:
        raise InvalidInput("A Slack endpoint has no signing secret: its URL is the secret (make a new one in Slack).")
    # The row lock makes a twin wait for the first rotation and read it.
    endpoint = WebhookEndpoint.objects.select_for_update(of=("self",)).select_related("project").get(pk=endpoint.pk)
    if seen is not None and seen != rotation_mark(endpoint) and is_recent(endpoint.secret_rotated_at):
        return EndpointWithSecret(endpoint, signing_secret(endpoint))
    secret = new_secret()
    endpoint.secret_sealed, endpoint.secret_rotated_at = seal(secret), timezone.now()
    endpoint.save(update_fields=["secret_sealed", "secret_rotated_at"])
    AuditEvent.objects.create(
        project_id=endpoint.project_id, actor=actor, action="webhook.secret_rotated", details=audit_details(endpoint)
    )
    return EndpointWithSecret(endpoint, secret)


@transaction.atomic
def set_enabled(*, endpoint: WebhookEndpoint, enabled: bool, actor) -> bool:
    """Pause or resume an endpoint; False when it already was so. Resuming starts its failure count afresh."""
    check_can_manage_webhooks(actor, endpoint.project)
    if enabled:
        changed = WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=False).update(
            enabled=True, disabled_at=None, disabled_reason="", consecutive_failures=0, failing_since=None
        )
    else:
        changed = WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
            enabled=False, disabled_at=timezone.now(), disabled_reason=f"Disabled by {actor.get_username()}."
        )
    if changed:
        AuditEvent.objects.create(
            project_id=endpoint.project_id,
            actor=actor,
            action="webhook.enabled" if enabled else "webhook.disabled",
            details=audit_details(endpoint),
        )
    endpoint.refresh_from_db()
    return bool(changed)


@transaction.atomic
def delete_endpoint(*, endpoint: WebhookEndpoint, actor) -> None:
    """Delete an endpoint and its delivery log (a delivery in flight finds it gone and stops)."""
    check_can_manage_webhooks(actor, endpoint.project)
    # The endpoint's row before its deliveries', as a worker recording an attempt and a redelivery take them: deleting
    # the deliveries first would wait for one of them while it waited for the endpoint (a deadlock).
    if not list(WebhookEndpoint.objects.select_for_update(of=("self",)).filter(pk=endpoint.pk).values_list("pk")):
        return  # deleted meanwhile
    AuditEvent.objects.create(
        project_id=endpoint.project_id, actor=actor, action="webhook.deleted", details=audit_details(endpoint)
    )
    endpoint.delete()


def enqueue_delivery(delivery_id: int) -> None:
    """Ask a worker to try the delivery once this transaction commits (through the outbox)."""
    outbox.enqueue(task="labeling.deliver_webhook", args=[delivery_id])


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Message:
    """One event's content: `data` for every receiver, `transcripts` merged in for endpoints that opted in (the
    texts of inputs and outputs), `slack_text` for Slack endpoints (none: they get nothing), and the output it is
    about (`output_id`), whose erasure or expiry deletes the deliveries."""

    data: dict
    transcripts: dict | None = None
    slack_text: str = ""
    output_id: int | None = None


def emit(
    *,
    project_id: int,
    event: str,
    data: dict,
    transcripts: dict | None = None,
    slack_text: str = "",
    output_id: int | None = None,
) -> int:
    """Record one event for each enabled endpoint of the project subscribed to it (see `emit_each`)."""
    message = Message(data=data, transcripts=transcripts, slack_text=slack_text, output_id=output_id)
    return emit_each(project_id=project_id, event=event, messages=[message])


def emit_each(*, project_id: int, event: str, messages: list[Message]) -> int:
    """Record each message for each enabled endpoint of the project subscribed to the event, in the caller's
    transaction, and ask for each delivery once it commits; return how many deliveries.

    The endpoints are read once and the deliveries inserted in one statement, however many messages: a weekly
    close tells of every tie it found in one call."""
    # Few endpoints per project: read them all and pick in Python (JSON `contains` is not in SQLite, the demo's).
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(project_id=project_id, enabled=True).only(
            "pk", "kind", "events", "include_transcripts"
        )
        if event in endpoint.events
    ]
    if not endpoints or not messages:
        return 0
    now = timezone.now()
    timestamp = utc_moment(now)
    pending = []
    for message in messages:
        envelope = {"type": event, "timestamp": timestamp, "data": message.data}
        full = {**envelope, "data": {**message.data, **(message.transcripts or {})}}
        bodies = {
            WebhookKind.SLACK: _encoder.encode({"text": message.slack_text}).decode(),
            False: _encoder.encode(envelope).decode(),
            True: _encoder.encode(full).decode(),
        }
        pending += [
            WebhookDelivery(
                endpoint_id=endpoint.pk,
                event=event,
                message_id=new_message_id(),
                body=bodies[WebhookKind.SLACK]
                if endpoint.kind == WebhookKind.SLACK
                else bodies[endpoint.include_transcripts],
                status=DeliveryStatus.PENDING,
                created_at=now,
                next_attempt_at=now,
                output_id=message.output_id,
            )
            for endpoint in endpoints
            if endpoint.kind != WebhookKind.SLACK or message.slack_text
        ]
    deliveries = WebhookDelivery.objects.bulk_create(pending)
    for delivery in deliveries:
        enqueue_delivery(delivery.pk)
    return len(deliveries)
