"""A lead in America/Los_Angeles reads every time on a page in the project's zone, and the page says so once ("Times
in the project's time zone, …", as the keys and audit pages do); in the hour the clocks go back, when one local time
is two moments, the time carries its UTC offset so the two never read alike (Django test client)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from labeling.models import (
    ApiKey,
    CycleStatus,
    Dataset,
    DatasetVersion,
    DeliveryStatus,
    OperatorToken,
    Output,
    Queue,
    RedactionRuleSet,
    ReviewCycle,
    WebhookDelivery,
)
from labeling.rules import calendar
from labeling.services import webhooks
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import build_version, create_dataset
from labeling.services.operator_tokens import issue_operator_token
from labeling.services.redaction import save_rule_set
from labeling.services.rubrics import publish_rubric
from tests.factories import UserFactory, created_weeks_ago
from tests.helpers.labeling import TIE, label_outputs, make_items, take
from tests.helpers.platform import plant_projects
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

NOTE = "Times in the project's time zone, America/Los_Angeles."
# 01:30 on the night Los Angeles goes back from PDT to PST: once at UTC−07:00, an hour later at UTC−08:00.
FIRST_0130, SECOND_0130 = datetime(2026, 11, 1, 8, 30, tzinfo=UTC), datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def url(name, project, *args):
    return reverse(f"labeling:{name}", args=[project.slug, *args])


@pytest.fixture
def in_los_angeles(project):
    project.__class__.objects.filter(pk=project.pk).update(time_zone="America/Los_Angeles")
    project.refresh_from_db()
    created_weeks_ago(project, 52)
    return project


def test_the_lead_pages_listing_times_say_their_zone_and_tell_the_two_0130s_of_the_fall_back_apart(
    client, in_los_angeles, lead, expert, other_expert
):
    project = in_los_angeles
    first, second = label_outputs(project, 2, answers=TIE, experts=[expert, other_expert])
    Output.objects.filter(pk=first.output_id).update(occurred_at=FIRST_0130)
    Output.objects.filter(pk=second.output_id).update(occurred_at=SECOND_0130)
    client.force_login(lead)

    explore = client.get(url("explore", project)).content.decode()
    assert "2026-11-01 01:30 UTC−07:00" in explore and "2026-11-01 01:30 UTC−08:00" in explore
    home = client.get(url("project", project)).content.decode()
    assert "2026-11-01 01:30 UTC−07:00" in home and "2026-11-01 01:30 UTC−08:00" in home
    pages = {
        "home": home,
        "explore": explore,
        "adjudication list": client.get(url("adjudication", project)).content.decode(),
        "adjudication item": client.get(url("adjudicate", project, first.pk)).content.decode(),
        "meeting": client.get(url("meeting", project), follow=True).content.decode(),
    }
    assert [page for page, html in pages.items() if NOTE not in html] == []


def test_the_labeling_screen_says_the_zone_of_its_times(client, in_los_angeles, expert):
    project = in_los_angeles
    publish_rubric(project=project, questions=QUESTIONS)
    queue = Queue.objects.create(project=project, slug="all", name="All", weekly_quota=10)
    make_items(project, 1)
    client.force_login(expert)
    item = take(client, queue)
    Output.objects.filter(pk=item.output_id).update(occurred_at=SECOND_0130)

    html = client.get(url("item", project, item.pk)).content.decode()

    assert "<dt>When</dt><dd>2026-11-01 01:30 UTC−08:00</dd>" in html and NOTE in html


def test_the_dashboard_datasets_redaction_and_webhook_pages_say_their_zone_and_tell_the_fall_back_0130s_apart(
    client, in_los_angeles, lead, expert, other_expert
):
    """These pages wrote their times with no zone and no offset: the dashboard's "as of" (the running week's figures),
    a dataset's versions, requests and creation, the redaction rules' versions and a webhook's deliveries (its
    attempts even in UTC, beside the rest in the project's zone)."""
    project = in_los_angeles
    ReviewCycle.objects.create(project=project, week=calendar.current_week(project), figures_refreshed_at=FIRST_0130)
    label_outputs(project, 1, experts=[expert, other_expert])
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    version = build_version(dataset_id=dataset.pk)
    DatasetVersion.objects.filter(pk=version.pk).update(built_at=SECOND_0130)
    Dataset.objects.filter(pk=dataset.pk).update(created_at=FIRST_0130, build_requested_at=SECOND_0130)
    rule_set = save_rule_set(project=project, builtins=["email"], custom=[], phone_region="US")
    RedactionRuleSet.objects.filter(pk=rule_set.pk).update(created_at=SECOND_0130)
    endpoint = webhooks.create_endpoint(
        project=project, created_by=lead, url="https://hooks.example.com/in", events=["output.flagged"]
    ).endpoint
    WebhookDelivery.objects.create(
        endpoint=endpoint, event="output.flagged", message_id="msg_fall_back", body="{}", attempts=1,
        status=DeliveryStatus.PENDING, created_at=FIRST_0130, next_attempt_at=SECOND_0130,
        attempt_log=[{"at": FIRST_0130.isoformat(), "ms": 41, "code": 500, "error": "HTTP 500"}],
    )  # fmt: skip
    client.force_login(lead)

    dashboard = client.get(url("dashboard", project)).content.decode()
    assert "as of 2026-11-01 01:30 UTC−07:00" in dashboard.split('id="running-week-note"')[1].split("</p>")[0]
    assert (
        '<td class="nowrap muted small">2026-11-01 01:30 UTC−08:00</td>'
        in client.get(url("datasets", project)).content.decode()
    )
    detail = client.get(url("dataset", project, dataset.slug)).content.decode()
    assert "<dt>Created</dt><dd>2026-11-01 01:30 UTC−07:00</dd>" in detail
    assert '<td class="nowrap muted small">2026-11-01 01:30 UTC−08:00' in detail
    redaction = client.get(url("redaction", project)).content.decode()
    assert "<td>2026-11-01 01:30 UTC−08:00</td>" in redaction
    webhook = client.get(url("webhook", project, endpoint.pk)).content.decode()
    assert '<div class="muted small">2026-11-01 01:30:00 UTC−07:00</div>' in webhook  # the delivery made
    assert "next try 2026-11-01 01:30:00 UTC−08:00" in webhook
    assert "<div>2026-11-01 01:30:00 UTC−07:00 · 41 ms · 500</div>" in webhook  # the attempt, no longer in UTC
    pages = {
        "dashboard": dashboard,
        "datasets": client.get(url("datasets", project)).content.decode(),
        "dataset": detail,
        "redaction": redaction,
        "webhook": webhook,
    }
    assert [page for page, html in pages.items() if NOTE not in html] == []
    assert "in UTC" not in webhook


def test_the_platform_pages_say_their_zone_the_servers_and_tell_the_fall_back_0130s_apart(client, settings):
    """The platform's pages list every project, each in its own zone: they show times in the server's zone
    (TIME_ZONE) and now say so, with the offset in the hour the clocks go back (an operator's token, a failed close)."""
    settings.TIME_ZONE = "America/Los_Angeles"
    operator = UserFactory(username="opal")
    operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    (project,) = plant_projects(1)
    ReviewCycle.objects.filter(project=project, week=calendar.current_week(project) - timedelta(days=7)).update(
        status=CycleStatus.OPEN, failure_kind="close", last_error="OperationalError: disk full", failed_at=SECOND_0130
    )
    token = issue_operator_token(user=operator, name="usage export").token
    OperatorToken.objects.filter(pk=token.pk).update(created_at=FIRST_0130)
    client.force_login(operator)

    platform = client.get(reverse("labeling:platform")).content.decode()
    tokens = client.get(reverse("labeling:platform-tokens")).content.decode()

    assert "since 2026-11-01 01:30 UTC−08:00" in platform
    assert '<td class="nowrap">2026-11-01 01:30 UTC−07:00</td>' in tokens
    note = "Times in the server's time zone, America/Los_Angeles."
    assert note in platform and note in tokens


def test_the_api_keys_page_tells_the_fall_back_0130s_apart(client, in_los_angeles, lead):
    """The keys page named its zone already but wrote its times without the offset: a key issued at the first 01:30
    and used at the second read as issued and used at the same minute."""
    project = in_los_angeles
    key = create_api_key(project=project, name="prod", scopes=["ingest"], created_by=lead).api_key
    ApiKey.objects.filter(pk=key.pk).update(created_at=FIRST_0130, last_used_at=SECOND_0130)
    client.force_login(lead)

    html = client.get(url("api-keys", project)).content.decode()

    assert '<td class="nowrap">2026-11-01 01:30 UTC−07:00<div class="muted small">' in html
    assert '<td class="nowrap last-used">2026-11-01 01:30 UTC−08:00<div class="muted small">' in html
    assert NOTE in html
