"""Webhooks in-process: which URLs and addresses are refused, secrets, each event emitted once from its service,
transcripts only on opt-in, signed delivery to a real local receiver, retries, disabling, the sweep."""

import json
import re
import socket
import time
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from standardwebhooks import Webhook

from labeling.exceptions import InvalidInput, NotFound
from labeling.models import (
    Alert,
    AlertRule,
    AuditEvent,
    DeliveryStatus,
    Item,
    OutboxMessage,
    Output,
    ResolutionStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from labeling.rules.annotators import annotator_pseudonym
from labeling.rules.moments import utc_moment
from labeling.rules.webhooks import address_refusal, check_events, check_url
from labeling.services import cycles, webhook_events, webhook_transport, webhooks
from labeling.services.datasets import build_version, create_dataset
from labeling.services.labels import flag_item
from labeling.services.resolution import mark_for_adjudication, resolve_stale_items
from labeling.services.webhook_delivery import attempt_delivery, redeliver, request_due_deliveries
from tests.helpers.labeling import AGREE, TIE, label_outputs
from tests.helpers.webhook_receiver import Receiver
from tests.labeling.services.test_cycles import WEEK
from tests.labeling.services.test_cycles import week_of_labels as week_of_labels  # noqa: F401  (a fixture)
from tests.outbox import run_each_as_worker

ALL_EVENTS = ["output.flagged", "item.needs_adjudication", "dataset.version_ready", "cycle.closed", "cycle.digest"]

README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def allow_private(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True


def _endpoint(project, lead, url="https://hooks.example.com/in", events=ALL_EVENTS, **options):
    return webhooks.create_endpoint(project=project, created_by=lead, url=url, events=events, **options)


@pytest.mark.parametrize(
    ("address", "refusal"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("192.168.0.10", "a private address"),
        ("172.16.5.4", "a private address"),
        ("fd00::1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # the cloud metadata service
        ("fe80::1%eth0", "a link-local address"),
        ("0.0.0.0", "a private address"),
        ("224.0.0.1", "a multicast address"),
        ("100.64.0.1", "not a public address"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("fec0::1", "a site-local address"),  # deprecated, yet Python counts it global
        ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8: the IPv4 address inside decides
        ("64:ff9b::7f00:1", "a loopback address"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:5", "a private address"),  # NAT64 of 10.0.0.5
    ],
)
def test_only_public_addresses_may_receive_webhooks(address, refusal):
    assert address_refusal(address) == refusal


@pytest.mark.parametrize(
    ("url", "kind", "message"),
    [
        ("", "standard", "Enter the URL"),
        ("hooks.example.com/in", "standard", "Only https://"),
        ("http://hooks.example.com/in", "standard", "Only https://"),
        ("ftp://hooks.example.com/in", "standard", "Only https://"),
        ("https:///in", "standard", "no host name"),
        ("https://hooks.example.com:99999/in", "standard", "not a valid URL"),
        ("https://user:pw@hooks.example.com/in", "standard", "no user name or password"),
        ("https://hooks.example.com/in#x", "standard", "no #fragment"),
        ("https://hooks.example.com/a b", "standard", "no spaces"),
        ("https://localhost/in", "standard", "localhost is this machine"),
        ("https://api.localhost/in", "standard", "a loopback address"),
        ("https://127.0.0.1/in", "standard", "127.0.0.1 is a loopback address"),
        ("https://[::1]/in", "standard", "is a loopback address"),
        ("https://169.254.169.254/latest/meta-data", "standard", "a link-local address"),
        ("https://10.0.0.5/in", "standard", "a private address"),
        ("https://hooks.example.com/" + "a" * 2000, "standard", "at most 2,000 characters"),
        ("https://hooks.example.com/in", "slack", "incoming-webhook URL"),
        ("https://" + "a" * 70 + ".example.com/in", "standard", "not a valid host name"),  # a label over 63
        ("https://hooks..example.com/in", "standard", "not a valid host name"),
    ],
)
def test_invalid_urls_are_refused_with_the_reason(url, kind, message):
    with pytest.raises(InvalidInput, match=message):
        check_url(url, kind=kind, allow_private=False)


def test_the_setting_allows_http_and_private_targets():
    assert check_url("http://127.0.0.1:8080/in", kind="standard", allow_private=True) == "http://127.0.0.1:8080/in"
    assert check_url("http://localhost:9/x", kind="slack", allow_private=True) == "http://localhost:9/x"
    with pytest.raises(InvalidInput, match="https:// or http://"):
        check_url("ftp://127.0.0.1/in", kind="standard", allow_private=True)


@pytest.mark.parametrize(
    ("events", "kind", "message"),
    [
        (["output.flagged", "output.deleted"], "standard", "Unknown event 'output.deleted'"),
        ([], "standard", "at least one event"),
        (
            ["cycle.closed", "output.flagged"],
            "slack",
            "Slack endpoint posts cycle.closed, cycle.digest, alert.opened and alert.resolved only",
        ),
    ],
)
def test_unknown_events_are_refused(events, kind, message):
    with pytest.raises(InvalidInput, match=message):
        check_events(events, kind=kind)


@pytest.mark.parametrize(
    ("host", "address", "refusal"),
    [("box.example", "127.0.1.1", "a loopback address"), ("intranet.example", "10.0.0.7", "a private address")],
)
def test_a_name_that_resolves_to_this_network_is_refused_when_saved(project, lead, monkeypatch, host, address, refusal):
    """A name whose address is loopback or private (as a machine's own name is through /etc/hosts) is refused by
    resolving it, as no rule on the name alone could. The resolver answers as a DNS server would for it."""
    real_getaddrinfo = socket.getaddrinfo

    def resolver(name, port, *args, **kwargs):
        if name == host:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real_getaddrinfo(name, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with pytest.raises(InvalidInput, match=f"{host} resolves to {address}, {refusal}"):
        _endpoint(project, lead, url=f"https://{host}/in")
    assert not WebhookEndpoint.objects.exists()


def test_the_lookup_when_saved_is_bounded(project, lead, monkeypatch, settings):
    """A resolver that hangs does not hold the lead's request: after the connect timeout the name counts as not
    resolvable now (each send resolves and checks it again)."""
    settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS = 0.5
    real_getaddrinfo = socket.getaddrinfo

    def slow(host, *args, **kwargs):
        if host == "slow-dns.example":
            time.sleep(3)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    started = time.monotonic()
    made = _endpoint(project, lead, url="https://slow-dns.example/in")

    assert time.monotonic() - started < 1.5 and made.endpoint.url == "https://slow-dns.example/in"


@pytest.mark.parametrize("opted_in", [False, True])
def test_the_texts_are_read_only_for_an_endpoint_that_opted_in(project, lead, expert, opted_in):
    """The flag and tie events read an output's input and output (megabytes, at worst) only when an endpoint
    that takes the texts listens."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _endpoint(project, lead, include_transcripts=opted_in)
    [flagged] = label_outputs(project, answers=AGREE[:1])
    tied = label_outputs(project, 2, answers=TIE, resolve=False, queue="ties")

    with CaptureQueriesContext(connection) as queries:
        flag_item(expert=expert, item=flagged, note="odd")
        resolve_stale_items(project_id=project.pk, through_week=max(item.week for item in tied))

    texts_read = [q["sql"] for q in queries if '"labeling_output"."input"' in q["sql"]]
    assert bool(texts_read) == opted_in
    assert WebhookDelivery.objects.count() == 3


def test_a_new_endpoint_gets_a_secret_shown_once_and_stored_encrypted(project, lead):
    made = _endpoint(project, lead)

    assert made.secret.startswith("whsec_") and len(made.secret) > 40
    stored = WebhookEndpoint.objects.get(pk=made.endpoint.pk)
    assert made.secret not in stored.secret_sealed and made.secret[6:] not in stored.secret_sealed
    assert webhooks.signing_secret(stored) == made.secret
    assert AuditEvent.objects.filter(action="webhook.created", details__endpoint=stored.pk).exists()
    # A different SECRET_KEY cannot read it (a database dump alone does not give the secret away).
    with override_settings(SECRET_KEY="another-key", SECRET_KEY_FALLBACKS=[]):
        webhooks._fernet.cache_clear()
        with pytest.raises(Exception, match="rotate the endpoint's secret"):
            webhooks.signing_secret(stored)
    webhooks._fernet.cache_clear()


def test_rotating_gives_a_new_secret_and_the_old_one_signs_nothing(project, lead):
    made = _endpoint(project, lead)

    rotated = webhooks.rotate_secret(endpoint=made.endpoint, actor=lead)

    assert rotated.secret != made.secret and rotated.secret.startswith("whsec_")
    assert webhooks.signing_secret(WebhookEndpoint.objects.get(pk=made.endpoint.pk)) == rotated.secret
    assert AuditEvent.objects.filter(action="webhook.secret_rotated").count() == 1


def test_only_engineers_leads_and_admins_manage_endpoints(project, expert, engineer, outsider, lead):
    for user in (expert, outsider):
        with pytest.raises(NotFound):
            _endpoint(project, user)
    endpoint = _endpoint(project, lead).endpoint
    for user in (expert, outsider):
        with pytest.raises(NotFound):
            webhooks.rotate_secret(endpoint=endpoint, actor=user)
    assert _endpoint(project, engineer, url="https://hooks.example.com/ci").endpoint.created_by == engineer
    assert webhooks.rotate_secret(endpoint=endpoint, actor=engineer).secret


def test_a_flag_is_emitted_once_without_the_transcript_unless_opted_in(project, lead, expert):
    plain = _endpoint(project, lead).endpoint
    opted = _endpoint(project, lead, url="https://hooks.example.com/full", include_transcripts=True).endpoint
    _endpoint(project, lead, url="https://hooks.example.com/other", events=["cycle.closed"])
    paused = _endpoint(project, lead, url="https://hooks.example.com/paused").endpoint
    webhooks.set_enabled(endpoint=paused, enabled=False, actor=lead)
    [item] = label_outputs(project, answers=AGREE[:1])

    flag_item(expert=expert, item=item, note="Promises a refund we do not give.")

    deliveries = WebhookDelivery.objects.filter(event="output.flagged")
    assert sorted(delivery.endpoint_id for delivery in deliveries) == [plain.pk, opted.pk]
    bodies = {delivery.endpoint_id: json.loads(delivery.body) for delivery in deliveries}
    data = bodies[plain.pk]["data"]
    assert bodies[plain.pk]["type"] == "output.flagged"
    assert data["output"]["external_id"] == item.output.external_id
    assert data["output"]["url"].startswith("http://127.0.0.1:8000/api/v1/outputs/")
    # The expert as datasets name them: a pseudonym, never their user name.
    assert data["flag"]["annotator"] == annotator_pseudonym(project.pk, expert.pk)
    assert all(expert.get_username() not in delivery.body for delivery in deliveries)
    assert "Parcel" not in deliveries.get(endpoint=plain).body and "refund" not in deliveries.get(endpoint=plain).body
    assert bodies[opted.pk]["data"]["transcript"]["output"] == item.output.output
    assert bodies[opted.pk]["data"]["note"] == "Promises a refund we do not give."
    assert len({delivery.message_id for delivery in deliveries}) == 2
    assert all(delivery.message_id.startswith("msg_") for delivery in deliveries)
    assert OutboxMessage.objects.filter(task="labeling.deliver_webhook").count() == 2


def test_an_output_whose_id_reads_like_the_facets_endpoint_is_flagged_with_its_url(project, lead, expert):
    """An external id is any text, "facets/" too: the flag's webhook names its API URL, and the flag is saved (a URL
    pattern that refused the id made reverse() fail inside the flag's transaction)."""
    _endpoint(project, lead, events=["output.flagged"])
    [item] = label_outputs(project, answers=AGREE[:1])
    Output.objects.filter(pk=item.output_id).update(external_id="facets/")

    flag_item(expert=expert, item=item, note="Wrong day.")

    [delivery] = WebhookDelivery.objects.filter(event="output.flagged")
    assert json.loads(delivery.body)["data"]["output"]["url"].endswith("/api/v1/outputs/facets/")
    assert item.flags.count() == 1


def test_a_tie_is_emitted_once_and_a_lead_marking_an_item_once(project, lead):
    _endpoint(project, lead, events=["item.needs_adjudication"])

    [tied] = label_outputs(project, answers=TIE)  # resolved (a tie) by the helper
    from labeling.services.resolution import resolve_item

    resolve_item(item_id=tied.pk)  # recomputed: still a tie, nothing new to tell
    [agreed] = label_outputs(project, answers=AGREE)
    mark_for_adjudication(lead=lead, item=agreed, note="Check the tone")
    mark_for_adjudication(lead=lead, item=agreed)  # already waiting

    assert tied.resolution.status == ResolutionStatus.NEEDS_ADJUDICATION
    payloads = [json.loads(d.body)["data"] for d in WebhookDelivery.objects.order_by("created_at", "pk")]
    assert [(p["item"]["id"], p["reason"]) for p in payloads] == [(tied.pk, "tie"), (agreed.pk, "marked")]
    assert payloads[0]["adjudication_url"].endswith(f"/p/{project.slug}/manage/adjudication/{tied.pk}/")


def test_ties_found_by_the_weekly_close_are_emitted_once_each(project, lead):
    """The close resolves in bulk what is stale (resolve_stale_items): each new tie is told once, and a second
    pass over the same labels tells nothing."""
    _endpoint(project, lead, events=["item.needs_adjudication"])
    tied = label_outputs(project, 2, answers=TIE, resolve=False)
    label_outputs(project, 1, answers=AGREE, resolve=False)
    week = max(item.week for item in tied)

    assert resolve_stale_items(project_id=project.pk, through_week=week) == 3
    Item.objects.filter(project=project).update(gold_stale=True)  # as if a label were edited without effect
    assert resolve_stale_items(project_id=project.pk, through_week=week) == 3

    payloads = [json.loads(d.body)["data"] for d in WebhookDelivery.objects.order_by("pk")]
    assert sorted(p["item"]["id"] for p in payloads) == sorted(item.pk for item in tied)
    assert {p["reason"] for p in payloads} == {"tie"}


def test_ties_are_told_with_one_read_of_the_endpoints_and_one_insert_however_many(project, lead):
    """A close that finds many ties does not read the endpoints and insert deliveries once per tie."""
    _endpoint(project, lead, events=["item.needs_adjudication"])
    _endpoint(project, lead, url="https://hooks.example.com/other", events=["item.needs_adjudication"])
    tied = label_outputs(project, 5, answers=TIE, resolve=False)

    with CaptureQueriesContext(connection) as queries:
        sent = webhook_events.items_need_adjudication(
            project_id=project.pk, item_ids=[item.pk for item in tied], reason="tie"
        )

    assert sent == 10 == WebhookDelivery.objects.count()
    statements = [query["sql"] for query in queries.captured_queries]
    endpoints, deliveries = WebhookEndpoint._meta.db_table, WebhookDelivery._meta.db_table
    assert sum(f'FROM "{endpoints}"' in sql for sql in statements) == 2  # who listens; then the endpoints
    assert sum(sql.startswith(f'INSERT INTO "{deliveries}"') for sql in statements) == 1


def test_a_dataset_version_is_emitted_once_when_built(project, lead):
    _endpoint(project, lead, events=["dataset.version_ready"])
    label_outputs(project, 3)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})

    version = build_version(dataset_id=dataset.pk)
    assert build_version(dataset_id=dataset.pk) is None  # nothing changed: no version, no event

    [delivery] = WebhookDelivery.objects.all()
    data = json.loads(delivery.body)["data"]
    assert data["version"]["number"] == version.number and data["version"]["rows"] == 3
    assert data["version"]["sha256"] == version.sha256
    assert data["version"]["download_url"].endswith(f"/datasets/{dataset.slug}/versions/{version.number}/download")


def test_a_payloads_moments_are_written_in_utc_as_its_timestamp_and_the_api_write_them(project, lead, expert):
    """The envelope's `timestamp` and the REST API write "…Z" (as the README's payloads show), while the moments
    inside `data` were Python's "…+00:00": one payload, two ways of writing UTC."""
    _endpoint(project, lead, events=["output.flagged", "dataset.version_ready"])
    [item] = label_outputs(project, answers=AGREE[:1])
    flag_item(expert=expert, item=item, note="Promises a refund we do not give.")
    version = build_version(dataset_id=create_dataset(project=project, spec={"name": "Support eval"}).pk)

    bodies = {delivery.event: json.loads(delivery.body) for delivery in WebhookDelivery.objects.all()}

    flagged, ready = bodies["output.flagged"], bodies["dataset.version_ready"]
    moments = [flagged["timestamp"], flagged["data"]["flag"]["created_at"], ready["data"]["version"]["built_at"]]
    assert all(moment.endswith("Z") and "+00:00" not in moment for moment in moments), moments
    assert ready["data"]["version"]["built_at"] == version.built_at.isoformat().replace("+00:00", "Z")


def test_the_readmes_payload_examples_write_moments_as_a_payload_does():
    """The README's payloads showed "2026-11-20T10:02:11.482Z", three digits of a second, where a payload (and every
    moment the API hands out, as the README's *Moments* says) writes six: a receiver written to the example's shape
    meets another one in the first real delivery."""
    section = README.read_text().split("## Webhooks")[1].split("\n## ")[0]
    moments = re.findall(r'"(\d{4}-\d\d-\d\dT[^"]*)"', section)

    assert moments
    assert [utc_moment(datetime.fromisoformat(moment)) for moment in moments] == moments


def _deliver(delivery, now=None) -> float | None:
    return attempt_delivery(delivery_id=delivery.pk, now=now)


def test_a_delivery_is_signed_per_standard_webhooks(project, lead, expert, receiver, allow_private):
    made = _endpoint(project, lead, url=receiver.url("/hook"))
    [item] = label_outputs(project, answers=AGREE[:1])
    flag_item(expert=expert, item=item, note="odd")
    delivery = WebhookDelivery.objects.get()

    assert _deliver(delivery) is None

    [request] = receiver.at("/hook")
    payload = Webhook(made.secret).verify(request.body, request.headers)
    assert payload["type"] == "output.flagged" and request.headers["webhook-id"] == delivery.message_id
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (DeliveryStatus.SUCCEEDED, 1, 200)
    assert delivery.attempt_log[0]["code"] == 200 and delivery.attempt_log[0]["ms"] >= 0
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(webhooks.new_secret()).verify(request.body, request.headers)


def test_item_events_name_the_week_by_its_label_beside_its_first_day(project, lead, expert, receiver, allow_private):
    """`item.week` is the cycle's first day ("2026-11-16"), as receivers read it, while the REST API and the `cycle.*`
    events write weeks as "2026-W47": `week_label` says the week in that form too, so the two can be matched."""
    made = _endpoint(project, lead, url=receiver.url("/hook"), events=["output.flagged", "item.needs_adjudication"])
    [item] = label_outputs(project, answers=AGREE)
    Item.objects.filter(pk=item.pk).update(week=date(2026, 11, 16))
    item.refresh_from_db()
    flag_item(expert=expert, item=item, note="odd")
    mark_for_adjudication(lead=lead, item=item)

    for delivery in WebhookDelivery.objects.order_by("pk"):
        assert _deliver(delivery) is None
    payloads = [Webhook(made.secret).verify(request.body, request.headers) for request in receiver.at("/hook")]

    assert sorted(payload["type"] for payload in payloads) == ["item.needs_adjudication", "output.flagged"]
    for payload in payloads:
        assert payload["data"]["item"] == {
            "id": item.pk, "queue": "sample", "week": "2026-11-16", "week_label": "2026-W47"
        }, payload["type"]  # fmt: skip


def test_a_failing_receiver_is_retried_on_the_schedule_then_failed(project, lead, expert, receiver, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOK_RETRY_SCHEDULE = [5, 30]
    settings.WEBHOOK_DISABLE_MIN_FAILURES = 100
    receiver.script("/down", 500)
    _endpoint(project, lead, url=receiver.url("/down"))
    [item] = label_outputs(project, answers=AGREE[:1])
    flag_item(expert=expert, item=item, note="odd")
    delivery = WebhookDelivery.objects.get()

    assert _deliver(delivery) == 5
    assert _deliver(delivery) is None  # not due yet: nothing sent
    later = timezone.now() + timedelta(seconds=6)
    assert _deliver(delivery, now=later) == 30
    assert _deliver(delivery, now=later + timedelta(seconds=31)) is None

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 3 == len(receiver.at("/down"))
    assert delivery.response_code == 500 and delivery.last_error.startswith("HTTP 500")
    assert len({request.headers["webhook-id"] for request in receiver.at("/down")}) == 1


def test_by_default_a_delivery_backs_off_for_about_a_day_before_it_is_failed():
    """The default WEBHOOK_RETRY_SCHEDULE (no test overrides it here): waits that grow from seconds to hours, the
    last attempt about 24 h after the first; the endpoint is disabled after 24 h of failures, so a receiver that
    never answers is disabled by the time its first delivery has failed."""
    schedule = django_settings.WEBHOOK_RETRY_SCHEDULE

    assert len(schedule) >= 5 and all(later >= earlier for earlier, later in pairwise(schedule))
    assert schedule[0] <= 10 and schedule[-1] >= 3600  # seconds at first, hours at the end
    assert 23 * 3600 <= sum(schedule) <= 25 * 3600
    assert django_settings.WEBHOOK_DISABLE_AFTER_SECONDS <= sum(schedule)


def test_an_endpoint_that_keeps_failing_is_disabled_and_the_leads_are_told(
    project, lead, expert, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 0
    settings.WEBHOOK_DISABLE_MIN_FAILURES = 3
    receiver.script("/down", 503)
    endpoint = _endpoint(project, lead, url=receiver.url("/down")).endpoint
    items = label_outputs(project, 4, answers=AGREE[:1])
    for item in items:
        flag_item(expert=expert, item=item, note="odd")
    first, second, third, fourth = WebhookDelivery.objects.order_by("pk")

    with django_capture_on_commit_callbacks(execute=True):
        for delivery in (first, second, third):
            _deliver(delivery)

    endpoint.refresh_from_db()
    assert not endpoint.enabled and "all 3 attempts since" in endpoint.disabled_reason
    assert "HTTP 503" in endpoint.disabled_reason
    fourth.refresh_from_db()
    assert fourth.status == DeliveryStatus.FAILED and "disabled" in fourth.last_error
    assert len(receiver.at("/down")) == 3
    [message] = mail.outbox
    assert message.to == [lead.email] and "was disabled" in message.subject
    assert f"/p/{project.slug}/manage/webhooks/" in message.body
    assert AuditEvent.objects.filter(action="webhook.auto_disabled").count() == 1
    flag_item(expert=expert, item=items[0], note="again")  # a disabled endpoint gets no new deliveries
    assert WebhookDelivery.objects.count() == 4


def test_a_success_resets_the_failure_count(project, lead, expert, receiver, allow_private):
    receiver.script("/flaky", 500, 200)
    endpoint = _endpoint(project, lead, url=receiver.url("/flaky")).endpoint
    [item] = label_outputs(project, answers=AGREE[:1])
    flag_item(expert=expert, item=item, note="odd")
    delivery = WebhookDelivery.objects.get()

    _deliver(delivery)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 1 and endpoint.failing_since is not None
    _deliver(delivery, now=timezone.now() + timedelta(seconds=6))

    endpoint.refresh_from_db()
    assert (endpoint.consecutive_failures, endpoint.failing_since) == (0, None) and endpoint.last_success_at


def test_loopback_is_refused_at_send_time_unless_allowed(receiver):
    for url in (receiver.url("/x"), receiver.url("/x", host="localhost")):
        refused = webhook_transport.post(
            url, body=b"{}", headers={}, allow_private=False, connect_timeout=1, total_timeout=2
        )
        assert refused.status_code is None and "a loopback address" in refused.error
    assert receiver.at("/x") == []

    allowed = webhook_transport.post(
        receiver.url("/x", host="localhost"), body=b"{}", headers={}, allow_private=True, connect_timeout=1,
        total_timeout=2,
    )  # fmt: skip
    assert allowed.ok and len(receiver.at("/x")) == 1
    assert receiver.at("/x")[0].headers["Host"] == f"localhost:{receiver.port}"  # the URL's host, not the address


def test_every_resolved_address_is_checked(monkeypatch, receiver):
    """A name with a public address and a private one is refused, whichever comes first."""

    def resolves_to_both(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolves_to_both)
    refused = webhook_transport.post(
        "https://rebind.example/x", body=b"{}", headers={}, allow_private=False, connect_timeout=1, total_timeout=2
    )
    assert "rebind.example resolves to 127.0.0.1, a loopback address" in refused.error


def test_the_total_deadline_covers_a_slow_name_lookup(monkeypatch):
    """A resolver that takes 3 s (glibc retrying a dead DNS server) does not stretch a 1 s attempt: the claim's
    lease (the timeout and a margin) must outlast every attempt, or a second worker would send it too."""
    real_getaddrinfo = socket.getaddrinfo

    def slow(host, *args, **kwargs):
        if host == "slow-dns.example":
            time.sleep(3)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    started = time.monotonic()
    answer = webhook_transport.post(
        "https://slow-dns.example/x", body=b"{}", headers={}, allow_private=False, connect_timeout=1, total_timeout=1
    )
    took = time.monotonic() - started

    assert answer.error == "Timed out: no complete answer within 1 s."
    assert took < 1.5 and answer.duration_ms < 1500


def test_a_redirect_is_a_failure_and_not_followed(receiver):
    receiver.script("/moved", ("redirect", "/elsewhere"))
    answer = webhook_transport.post(
        receiver.url("/moved"), body=b"{}", headers={}, allow_private=True, connect_timeout=1, total_timeout=2
    )
    assert answer.status_code == 302 and not answer.ok and "not followed" in answer.error
    assert receiver.at("/elsewhere") == []


def test_the_sweep_asks_for_due_deliveries_once_a_minute(project, lead, expert):
    _endpoint(project, lead)
    [item] = label_outputs(project, answers=AGREE[:1])
    flag_item(expert=expert, item=item, note="odd")
    OutboxMessage.objects.all().delete()
    now = timezone.now()

    assert request_due_deliveries(now=now) == 0  # just made: its own task has it
    assert request_due_deliveries(now=now + timedelta(seconds=20)) == 1
    assert request_due_deliveries(now=now + timedelta(seconds=40)) == 0  # asked for 20 s ago
    assert request_due_deliveries(now=now + timedelta(seconds=90)) == 1
    assert OutboxMessage.objects.filter(task="labeling.deliver_webhook").count() == 2


def test_redelivery_sends_the_same_message_again(project, lead, expert, receiver, allow_private):
    made = _endpoint(project, lead, url=receiver.url("/hook"))
    [item] = label_outputs(project, answers=AGREE[:1])
    flag_item(expert=expert, item=item, note="odd")
    original = WebhookDelivery.objects.get()
    _deliver(original)

    again = redeliver(delivery=original, actor=lead)
    _deliver(again)

    first, second = receiver.at("/hook")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == original.message_id
    assert first.body == second.body
    assert Webhook(made.secret).verify(second.body, second.headers)["type"] == "output.flagged"
    again.refresh_from_db()
    assert again.status == DeliveryStatus.SUCCEEDED and again.redelivery_of_id == original.pk


def test_a_closed_week_is_emitted_once_with_the_email_digest_text_and_a_slack_message(
    project, lead, week_of_labels, django_capture_on_commit_callbacks
):
    standard = _endpoint(project, lead, events=["cycle.closed", "cycle.digest"]).endpoint
    slack = _endpoint(
        project,
        lead,
        url="https://hooks.slack.com/services/T0/B0/x",
        kind="slack",
        events=["cycle.closed", "cycle.digest"],
    ).endpoint

    with django_capture_on_commit_callbacks(execute=True):
        cycles.close_week(project_id=project.pk, week=WEEK, closed_by=lead)
    cycles.close_week(project_id=project.pk, week=WEEK, closed_by=lead)  # closed already: nothing new
    run_each_as_worker("labeling.send_digests")

    sent = {(d.endpoint_id, d.event): d.body for d in WebhookDelivery.objects.exclude(event="item.needs_adjudication")}
    assert sorted(sent) == sorted(
        (e.pk, event) for e in (standard, slack) for event in ("cycle.closed", "cycle.digest")
    )
    closed = json.loads(sent[standard.pk, "cycle.closed"])["data"]
    assert closed["week"] == "2026-W46" and closed["headline"]["pass_rate"]["n"] == 8
    assert closed["meeting_url"] == "http://127.0.0.1:8000/p/support-bot/meeting/2026-W46/"
    digest = json.loads(sent[standard.pk, "cycle.digest"])["data"]["text"]
    # The e-mail's project part, word for word: the same function wrote both.
    email = mail.outbox[0].body
    assert re.match(r"This week \(\d{4}-W\d\d\) in Support bot:\n- Sample: ", digest) and digest in email
    slack_closed = json.loads(sent[slack.pk, "cycle.closed"])["text"]
    assert slack_closed.startswith("*Support bot*: the week 2026-W46 is closed.\nPass rate (correct): 75.0% of 8 items")
    assert slack_closed.endswith("The meeting: http://127.0.0.1:8000/p/support-bot/meeting/2026-W46/")
    assert digest in json.loads(sent[slack.pk, "cycle.digest"])["text"]


def test_https_goes_to_the_checked_address_with_the_hosts_name_for_tls(monkeypatch, tmp_path):
    """The name is resolved once, by the check; the connection goes to that address, and TLS sends the URL's
    host as the server name and checks the certificate against it (not against the address)."""
    import asyncio
    import datetime
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen["host"] = self.headers["Host"]
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    def note_server_name(sock, server_name, ctx):
        seen["server_name"] = server_name  # returns None: go on with the handshake

    context.sni_callback = note_server_name
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = server.server_address[1]
    lookups = []

    real_getaddrinfo = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host != "127.0.0.1":  # a name (an address is no lookup)
            lookups.append(host)
            return [(2, 1, 6, "", ("127.0.0.1", port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    async def resolve_in_loop(self, host, port, **kwargs):
        return resolve(host, port)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", resolve_in_loop)
    trusted = ssl.create_default_context(cafile=tmp_path / "cert.pem")
    try:
        answer = webhook_transport.post(
            f"https://hooks.test:{port}/in", body=b"{}", headers={}, allow_private=True, connect_timeout=2,
            total_timeout=5, verify=trusted,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()

    assert answer.status_code == 204 and answer.ok, answer.error
    assert lookups == ["hooks.test"]  # one lookup: the check's; the connection used its address
    assert seen == {"server_name": "hooks.test", "host": f"hooks.test:{port}"}


def test_a_right_to_left_override_in_the_projects_name_reverses_nothing_after_it_in_slack(
    project, lead, week_of_labels, django_capture_on_commit_callbacks
):
    """The Slack messages isolate the project's name as the digest's lines do (rules.text.isolated): an override
    (U+202E) in it would reverse the week, the headline and the links after it."""
    type(project).objects.filter(pk=project.pk).update(name="Support \u202ebot")
    project.refresh_from_db()
    events = ["cycle.closed", "cycle.digest", "alert.opened", "alert.resolved"]
    slack = _endpoint(project, lead, url="https://hooks.slack.com/services/T0/B0/x", kind="slack", events=events)

    with django_capture_on_commit_callbacks(execute=True):
        cycles.close_week(project_id=project.pk, week=WEEK, closed_by=lead)
    run_each_as_worker("labeling.send_digests")
    alert = Alert.objects.create(project=project, rule=AlertRule.QUEUE_IDLE, key="sample", title="Nobody labeled")
    webhook_events.alert_opened(alert)
    webhook_events.alert_resolved(alert)

    texts = {d.event: json.loads(d.body)["text"] for d in WebhookDelivery.objects.filter(endpoint=slack.endpoint)}
    assert sorted(texts) == sorted(events)
    assert all(text.startswith("*\u2068Support \u202ebot\u2069*") for text in texts.values()), texts


def test_an_engineers_endpoint_disabled_after_failures_tells_the_engineer_and_the_leads(
    project, lead, engineer, expert, receiver, settings, django_capture_on_commit_callbacks
):
    """Engineers add endpoints (rules.access.WEBHOOK_ROLES): the one who wired it hears it broke, as the leads do."""
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 0
    settings.WEBHOOK_DISABLE_MIN_FAILURES = 1
    receiver.script("/down", 503)
    _endpoint(project, engineer, url=receiver.url("/down"), events=["output.flagged"])
    [item] = label_outputs(project, 1, answers=AGREE[:1])
    flag_item(expert=expert, item=item, note="odd")

    with django_capture_on_commit_callbacks(execute=True):
        _deliver(WebhookDelivery.objects.get())

    [message] = mail.outbox
    assert sorted(message.to) == sorted([lead.email, engineer.email])
    assert "until one of the project's engineers, leads or admins enables it again" in message.body
