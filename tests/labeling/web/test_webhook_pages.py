"""The webhooks pages: leads and engineers add endpoints (the secret shown once), see each one's delivery log,
redeliver, rotate the secret, disable, enable and delete; bad URLs and unknown events are form errors; experts,
outsiders and another project's lead get a 404 and change nothing."""

import re
import socket

import pytest
from django.test import Client

from labeling.models import AUTO_DISABLED, AuditEvent, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from labeling.services import webhooks
from labeling.services.labels import flag_item
from tests.conftest import _member
from tests.helpers.concurrency import run_at_once
from tests.helpers.labeling import AGREE, label_outputs

LIST = "/p/support-bot/manage/webhooks/"


@pytest.fixture
def other_lead(other_project):
    return _member(other_project, "olga", "lead")


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


@pytest.mark.parametrize(
    ("persona", "shown"), [("engineer", True), ("lead", True), ("expert", False), ("operator", False)]
)
def test_the_overview_links_the_webhooks_pages_for_whoever_opens_them(client, project, persona, shown, request):
    """The project page's Webhooks link follows the pages' own rule (`rules.access.WEBHOOK_ROLES`): engineers, leads
    and admins; not experts, nor an operator who is not a member (the pages answer them 404)."""
    client.force_login(request.getfixturevalue(persona))

    assert ('id="webhooks-link"' in client.get(f"/p/{project.slug}/").content.decode()) is shown
    assert (client.get(LIST).status_code == 200) is shown


def add(client, url="https://hooks.example.com/expertloop", events=("output.flagged", "cycle.closed"), **more):
    return client.post(LIST, {"url": url, "kind": "standard", "events": list(events), **more})


def secret_in(html: str) -> str:
    [secret] = set(re.findall(r"whsec_[A-Za-z0-9+/=]{40,}", html))
    return secret


def test_a_lead_adds_an_endpoint_and_sees_its_secret_once(lead_client, project):
    response = add(lead_client, description="CI")

    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    html = response.content.decode()
    secret = secret_in(html)
    endpoint = WebhookEndpoint.objects.get()
    assert webhooks.signing_secret(endpoint) == secret
    assert endpoint.events == ["output.flagged", "cycle.closed"] and not endpoint.include_transcripts
    assert "only time the secret is shown" in html and "Webhook(" in html
    assert "whsec_" not in lead_client.get(LIST).content.decode()
    assert "whsec_" not in lead_client.get(f"{LIST}{endpoint.pk}/").content.decode()
    assert AuditEvent.objects.filter(action="webhook.created").count() == 1


def test_an_engineer_manages_endpoints_in_their_own_frame_and_the_audit_log_names_them(
    client, project, endpoint_with_log, engineer
):
    """Engineers own the integrations: they add an endpoint (its secret shown once), and rotate, redeliver, disable and
    delete any of the project's, from the tabs they have (Datasets, API keys, Webhooks), not the lead's manage tabs."""
    client.force_login(engineer)
    assert 'id="webhooks-link"' in client.get(f"/p/{project.slug}/").content.decode()

    response = add(client, description="CI")

    assert response.status_code == 200
    html = response.content.decode()
    added = WebhookEndpoint.objects.get(description="CI")
    assert webhooks.signing_secret(added) == secret_in(html)
    assert ">Engineering<" in html and ">Webhooks</a>" in html and ">Queues</a>" not in html
    theirs = f"{LIST}{endpoint_with_log.endpoint.pk}/"  # a lead's endpoint
    assert ">Engineering<" in client.get(theirs).content.decode()
    assert secret_in(client.post(f"{theirs}rotate").content.decode())
    delivery = WebhookDelivery.objects.filter(endpoint=endpoint_with_log.endpoint).first()
    assert client.post(f"{theirs}deliveries/{delivery.pk}/redeliver").status_code == 302
    assert client.post(f"{theirs}enable", {"enabled": "0"}).status_code == 302
    assert client.post(f"{LIST}{added.pk}/delete").status_code == 302
    actions = AuditEvent.objects.filter(actor=engineer).values_list("action", flat=True)
    assert set(actions) >= {"webhook.created", "webhook.secret_rotated", "webhook.disabled", "webhook.deleted"}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"url": "http://hooks.example.com/x"}, "url", "Only https:// URLs may receive webhooks."),
        ({"url": "https://127.0.0.1/x"}, "url", "127.0.0.1 is a loopback address"),
        ({"url": "https://localhost:8000/x"}, "url", "localhost is this machine"),
        ({"url": "https://169.254.169.254/latest"}, "url", "a link-local address"),
        ({"url": f"https://{socket.gethostname()}/x"}, "url", f"{socket.gethostname()} resolves to"),
        ({"url": "hooks.example.com/x"}, "url", "Only https://"),
        ({"url": "https://hooks.example.com/a b"}, "url", "no spaces"),
        ({"events": ["output.flagged", "label.created"]}, "events", "Unknown event &#x27;label.created&#x27;"),
        ({"events": []}, "events", "Choose at least one event."),
        ({"kind": "slack"}, "url", "incoming-webhook URL"),
        ({"kind": "pager"}, "kind", "Select a valid choice"),
    ],
)
def test_bad_input_is_a_form_error_and_adds_nothing(lead_client, project, data, field, message):
    form = {"url": "https://hooks.example.com/x", "kind": "standard", "events": ["output.flagged"], **data}

    response = lead_client.post(LIST, form)

    assert response.status_code == 400
    html = response.content.decode()
    assert "No endpoint was added." in html and message in html
    assert f'has-error" id="field-{field}"' in html  # the error sits on the field it is about
    assert not WebhookEndpoint.objects.exists() and "whsec_" not in html


@pytest.mark.parametrize(
    ("url", "refused_for"),
    [
        ("http://127.0.0.1:8000/hooks", "Only https:// URLs may receive webhooks."),
        ("http://hooks.example.com/x", "Only https:// URLs may receive webhooks."),
        ("https://127.0.0.1:8000/hooks", "127.0.0.1 is a loopback address"),
        ("https://localhost:8000/x", "localhost is this machine"),
        ("https://192.168.1.20/x", "192.168.1.20 is a private address"),
        (f"https://{socket.gethostname()}/x", f"{socket.gethostname()} resolves to"),
    ],
)
def test_a_local_receiver_is_refused_naming_the_setting_that_allows_it_in_development(
    lead_client, project, url, refused_for, settings
):
    """A developer pointing an endpoint at a receiver on their machine (the walkthrough, under DEBUG) was told only
    https:// URLs are taken, not how to allow theirs."""
    settings.DEBUG = True
    response = add(lead_client, url=url)

    assert response.status_code == 400
    html = response.content.decode()
    assert refused_for in html
    assert "set WEBHOOKS_ALLOW_PRIVATE=true (never in production)" in html
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/hooks", "https://localhost:8000/x", "https://192.168.1.20/x", "http://example.com/x"]
)
def test_a_production_server_refuses_a_local_receiver_without_the_development_hint(lead_client, project, url, settings):
    """The hint says "never in production", and showed on every server: a lead of a production server was told of a
    setting that is not for them. Without DEBUG the refusal stands alone."""
    settings.DEBUG = False

    response = add(lead_client, url=url)

    assert response.status_code == 400
    html = response.content.decode()
    assert "public addresses only" in html or "Only https:// URLs may receive webhooks." in html
    assert "WEBHOOKS_ALLOW_PRIVATE" not in html and "never in production" not in html
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.com/x", "https://hooks.example.com/a b", "https://hooks.example.com/x#frag"]
)
def test_a_url_the_setting_would_not_allow_either_is_refused_without_naming_it(lead_client, project, url):
    html = add(lead_client, url=url).content.decode()

    assert "No endpoint was added." in html and "WEBHOOKS_ALLOW_PRIVATE" not in html


def test_an_endpoint_with_the_url_and_events_of_another_is_refused_naming_it(lead_client, project):
    """A double click (or the form sent again) added the same URL twice: every event went out twice, and the page
    showed the second secret only. Now a 400 names the endpoint it would repeat and nothing is added; the same URL
    with other events (another consumer there) is added as before."""
    add(lead_client, description="CI")
    endpoint = WebhookEndpoint.objects.get()

    twin = add(lead_client, description="CI")

    assert twin.status_code == 400
    html = twin.content.decode()
    assert "No endpoint was added." in html
    assert f"Endpoint {endpoint.pk} (CI) already sends these events to https://hooks.example.com/expertloop" in html
    assert "whsec_" not in html
    assert WebhookEndpoint.objects.count() == 1
    assert AuditEvent.objects.filter(action="webhook.created").count() == 1
    assert add(lead_client, events=("cycle.closed",)).status_code == 200
    assert WebhookEndpoint.objects.count() == 2


def test_a_slack_endpoint_takes_a_slack_url_and_the_weekly_events(lead_client, project):
    response = lead_client.post(
        LIST,
        {
            "url": "https://hooks.slack.com/services/T0/B0/abc",
            "kind": "slack",
            "events": ["cycle.closed", "cycle.digest"],
        },
    )

    assert response.status_code == 200 and "Slack endpoint added" in response.content.decode()
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.kind == "slack" and endpoint.secret_sealed == ""
    event = AuditEvent.objects.get(action="webhook.created")
    assert "abc" not in event.details["url"]  # a Slack URL is its own secret: the audit log keeps its start only


@pytest.fixture
def endpoint_with_log(project, lead, expert):
    """An endpoint with one succeeded and one failed delivery."""
    made = webhooks.create_endpoint(
        project=project, created_by=lead, url="https://hooks.example.com/in", events=["output.flagged"]
    )
    for item in label_outputs(project, 2, answers=AGREE[:1]):
        flag_item(expert=expert, item=item, note="odd")
    ok, bad = WebhookDelivery.objects.order_by("pk")
    ok.status, ok.response_code, ok.attempts = DeliveryStatus.SUCCEEDED, 200, 1
    ok.attempt_log = [{"at": "2026-11-20T10:00:00+00:00", "ms": 41, "code": 200, "error": ""}]
    ok.save()
    bad.status, bad.response_code, bad.attempts, bad.last_error = DeliveryStatus.FAILED, 500, 10, "HTTP 500: boom"
    bad.save()
    return made


def test_the_delivery_log_shows_status_code_attempts_and_timing(lead_client, endpoint_with_log):
    response = lead_client.get(f"{LIST}{endpoint_with_log.endpoint.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    for delivery in WebhookDelivery.objects.all():
        assert delivery.message_id in html
    assert "succeeded" in html and "failed" in html and "HTTP 500: boom" in html and "41 ms" in html
    assert html.count(">Redeliver</button>") == 2


@pytest.mark.parametrize(
    ("schedule", "said"),
    [
        (
            [5, 30, 120, 600, 3600, 10800, 21600, 21600, 28800],
            "after 5 s, 30 s, 2 min, 10 min, 1 h, 3 h, 6 h, 6 h and 8 h;",
        ),
        ([1, 90, 7200], "after 1 s, 90 s and 2 h;"),
        ([45], "after 45 s;"),
    ],
)
def test_the_page_states_the_retry_schedule_in_force(lead_client, endpoint_with_log, settings, schedule, said):
    settings.WEBHOOK_RETRY_SCHEDULE = schedule

    html = lead_client.get(f"{LIST}{endpoint_with_log.endpoint.pk}/").content.decode()

    assert f"A failed attempt is tried again {said} then the delivery is failed." in html


def test_redeliver_sends_the_same_message_again(lead_client, endpoint_with_log):
    endpoint = endpoint_with_log.endpoint
    failed = WebhookDelivery.objects.get(status=DeliveryStatus.FAILED)

    response = lead_client.post(f"{LIST}{endpoint.pk}/deliveries/{failed.pk}/redeliver")

    assert response.status_code == 302
    again = WebhookDelivery.objects.get(redelivery_of=failed)
    assert (again.message_id, again.body, again.status) == (failed.message_id, failed.body, DeliveryStatus.PENDING)
    assert AuditEvent.objects.filter(action="webhook.redelivered").count() == 1


def test_rotating_shows_the_new_secret_once(lead_client, endpoint_with_log):
    endpoint = endpoint_with_log.endpoint

    response = lead_client.post(f"{LIST}{endpoint.pk}/rotate")

    secret = secret_in(response.content.decode())
    assert secret != endpoint_with_log.secret and response.headers["Cache-Control"] == "no-store"
    assert webhooks.signing_secret(WebhookEndpoint.objects.get()) == secret
    assert "whsec_" not in lead_client.get(f"{LIST}{endpoint.pk}/").content.decode()
    assert AuditEvent.objects.filter(action="webhook.secret_rotated").count() == 1


def test_disable_enable_and_delete(lead_client, endpoint_with_log, lead):
    endpoint = endpoint_with_log.endpoint
    url = f"{LIST}{endpoint.pk}/"

    lead_client.post(f"{url}enable", {"enabled": "0"})
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_reason == "Disabled by lena."
    html = lead_client.get(url).content.decode()
    assert "Disabled by lena." in html and ">Redeliver</button>" not in html
    lead_client.post(f"{url}enable", {"enabled": "1"})
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.disabled_reason == ""

    assert lead_client.get(f"{url}delete").status_code == 200
    assert lead_client.post(f"{url}delete").status_code == 302
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"webhook.disabled", "webhook.enabled", "webhook.deleted"} <= actions


@pytest.mark.parametrize("value", ["maybe", "", "true", None])
def test_an_enabled_value_other_than_0_or_1_is_a_400_and_changes_nothing(lead_client, endpoint_with_log, value):
    endpoint = endpoint_with_log.endpoint

    answer = lead_client.post(f"{LIST}{endpoint.pk}/enable", {} if value is None else {"enabled": value})

    assert answer.status_code == 400 and "enabled is 0 or 1" in answer.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.enabled and not AuditEvent.objects.filter(action="webhook.disabled").exists()


def test_an_endpoint_disabled_after_failures_is_announced_on_the_page(lead_client, endpoint_with_log):
    WebhookEndpoint.objects.update(
        enabled=False, disabled_reason=f"{AUTO_DISABLED} all 5 attempts since 2026-11-20 10:00 UTC failed."
    )

    html = lead_client.get(LIST).content.decode()

    assert "An endpoint was disabled:" in html and "all 5 attempts since" in html


def test_others_get_a_404_and_change_nothing(client, project, endpoint_with_log, expert, outsider, other_lead):
    endpoint = endpoint_with_log.endpoint
    delivery = WebhookDelivery.objects.first()
    base = f"{LIST}{endpoint.pk}/"
    client.force_login(expert)
    assert "Only the project&#x27;s engineers, leads and admins open" in client.get(LIST).content.decode()
    for user in (expert, outsider, other_lead):
        client.force_login(user)
        assert client.get(LIST).status_code == 404
        assert add(client).status_code == 404
        assert client.get(base).status_code == 404
        assert client.post(f"{base}rotate").status_code == 404
        assert client.post(f"{base}enable", {"enabled": "0"}).status_code == 404
        assert client.post(f"{base}delete").status_code == 404
        assert client.post(f"{base}deliveries/{delivery.pk}/redeliver").status_code == 404
    # Another project's lead, on their own project's pages, asking for this project's endpoint by id.
    client.force_login(other_lead)
    theirs = "/p/sql-assistant/manage/webhooks/"
    assert client.get(theirs).status_code == 200
    assert client.get(f"{theirs}{endpoint.pk}/").status_code == 404
    assert client.post(f"{theirs}{endpoint.pk}/delete").status_code == 404
    assert client.post(f"{theirs}{endpoint.pk}/deliveries/{delivery.pk}/redeliver").status_code == 404
    endpoint.refresh_from_db()
    assert endpoint.enabled and WebhookDelivery.objects.count() == 2
    assert webhooks.signing_secret(endpoint) == endpoint_with_log.secret


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_click_on_rotate_makes_one_secret_and_both_answers_show_it(project, lead):
    """The browser shows the answer to the second click; had each click made its own secret, the one it showed
    could be the one the other click replaced, and every delivery signed with the secret kept would fail."""
    endpoint = webhooks.create_endpoint(project=project, created_by=lead, url="https://hooks.example.com/x",
                                        events=["cycle.closed"]).endpoint  # fmt: skip
    page = Client()
    page.force_login(lead)
    form = dict(re.findall(r'name="(rotated)" value="([^"]*)"', page.get(f"{LIST}{endpoint.pk}/").content.decode()))

    def rotate():
        tab = Client()
        tab.force_login(lead)
        return tab.post(f"{LIST}{endpoint.pk}/rotate", form)

    results, errors = run_at_once(rotate, [(), ()])

    assert errors == [] and [response.status_code for response in results] == [200, 200]
    kept = webhooks.signing_secret(WebhookEndpoint.objects.get())
    assert [secret_in(response.content.decode()) for response in results] == [kept, kept]
    assert AuditEvent.objects.filter(action="webhook.secret_rotated").count() == 1


def test_the_page_says_slack_endpoints_take_alerts_too_and_names_what_one_will_post(lead_client, project):
    """Slack endpoints take alert.opened and alert.resolved besides the week's close and digest."""
    page = lead_client.get(LIST).content.decode()

    assert "posts the week&#x27;s close and digest, and alerts as they open and resolve" in page
    assert "the week's close and digest, and alerts. Standard endpoints" in page

    added = lead_client.post(
        LIST,
        {"url": "https://hooks.slack.com/services/T0/B0/abc", "kind": "slack",
         "events": ["alert.opened", "alert.resolved"]},
    ).content.decode()  # fmt: skip

    assert "Its events, alert.opened and alert.resolved, will be posted to it." in added
    assert "The week&#x27;s close and digest will be posted" not in added


def test_each_events_choice_says_all_the_event_is_sent_for(lead_client, project, lead):
    """A lead's flag is sent as `output.flagged` as an expert's is, and `cycle.compared_again` is also sent when a
    week's retention by verdict is restated (services.cycles._tell_restated_headlines): the form's choices say both."""
    webhooks.create_endpoint(
        project=project, created_by=lead, url="https://hooks.example.com/in", events=["output.flagged"]
    )
    [item] = label_outputs(project, 1, answers=AGREE[:1], experts=[lead])
    flag_item(expert=lead, item=item, note="odd")
    assert WebhookDelivery.objects.filter(event="output.flagged").count() == 1

    page = lead_client.get(LIST).content.decode()

    assert "output.flagged — An expert or a lead flags an item for the meeting" in page
    assert (
        "cycle.compared_again — A closed week&#x27;s headline is restated when an earlier week closes after it: its "
        "comparison with the week before, or its retention by verdict"
    ) in page
