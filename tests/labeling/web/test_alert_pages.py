"""Alerts on the project page (the page a lead opens first): leads, admins and operators see them with their state
and an Acknowledge button (POST, CSRF); resolved ones of the last 7 days muted; experts and engineers see none and
get a 404 for the button; the page's query count does not grow with the alerts."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from labeling.models import Alert, AlertRule, AlertState, AuditEvent
from labeling.selectors.alerts import open_alerts_by_project
from tests.factories import MembershipFactory, UserFactory


def _alert(project, key="sample", state=AlertState.OPEN, rule=AlertRule.QUOTA_MISSED, **fields) -> Alert:
    now = timezone.now()
    if state == AlertState.RESOLVED:
        fields.setdefault("resolved_at", now)
    return Alert.objects.create(
        project=project,
        rule=rule,
        key=key,
        state=state,
        title=f"{key.title()} missed its quota in 2026-W47",
        detail=f"{key} completed 3 of its 10 items in 2026-W47 (quota 10): 3 of the 10 labels wanted given.",
        **fields,
    )


def _acknowledge_url(alert: Alert) -> str:
    return f"/p/{alert.project.slug}/alerts/{alert.pk}/acknowledge"


def test_a_lead_sees_the_alerts_and_acknowledges_one(client, project, lead):
    alert = _alert(project)
    client.force_login(lead)

    page = client.get(f"/p/{project.slug}/").content.decode()
    assert 'id="alerts"' in page and f'data-alert="{alert.pk}"' in page and 'data-state="open"' in page
    assert "Sample missed its quota in 2026-W47" in page and _acknowledge_url(alert) in page

    response = client.post(_acknowledge_url(alert))

    assert response.status_code == 302 and response["Location"] == f"/p/{project.slug}/#alerts"
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by) == (AlertState.ACKNOWLEDGED, lead)
    assert AuditEvent.objects.filter(project=project, action="alert.acknowledged").count() == 1
    page = client.get(f"/p/{project.slug}/").content.decode()
    assert 'data-state="acknowledged"' in page and "acknowledged by <bdi>lena</bdi>" in page
    assert _acknowledge_url(alert) not in page  # nothing left to acknowledge


def test_the_button_needs_a_csrf_token(project, lead):
    alert = _alert(project)
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)

    assert client.post(_acknowledge_url(alert)).status_code == 403
    assert Alert.objects.get(pk=alert.pk).state == AlertState.OPEN


def test_an_operator_acknowledges_without_a_membership(client, project, operator):
    alert = _alert(project)
    client.force_login(operator)

    assert f'data-alert="{alert.pk}"' in client.get(f"/p/{project.slug}/").content.decode()
    assert client.post(_acknowledge_url(alert)).status_code == 302
    assert Alert.objects.get(pk=alert.pk).state == AlertState.ACKNOWLEDGED


@pytest.mark.parametrize("role", ["expert", "engineer"])
def test_an_operator_who_is_also_an_expert_or_engineer_sees_and_acknowledges(client, project, operator, role):
    """The operator permission decides, not the role the operator happens to hold in the project."""
    MembershipFactory(project=project, user=operator, role=role)
    alert = _alert(project)
    client.force_login(operator)

    page = client.get(f"/p/{project.slug}/").content.decode()
    assert 'id="alerts"' in page and f'data-alert="{alert.pk}"' in page and _acknowledge_url(alert) in page
    assert client.post(_acknowledge_url(alert)).status_code == 302
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by) == (AlertState.ACKNOWLEDGED, operator)


@pytest.mark.parametrize("persona", ["expert", "engineer", "outsider"])
def test_it_validates_ownership(client, project, persona, request):
    """Experts and engineers see no alerts, and the button is a 404 for them as for another project's members."""
    alert = _alert(project)
    client.force_login(request.getfixturevalue(persona))

    assert client.post(_acknowledge_url(alert)).status_code == 404
    assert Alert.objects.get(pk=alert.pk).state == AlertState.OPEN
    if persona != "outsider":
        page = client.get(f"/p/{project.slug}/").content.decode()
        assert 'id="alerts"' not in page and "missed its quota" not in page


def test_another_projects_alert_is_not_found_through_this_project(client, project, other_project, lead):
    theirs = _alert(other_project)
    client.force_login(lead)

    assert client.post(f"/p/{project.slug}/alerts/{theirs.pk}/acknowledge").status_code == 404
    assert client.get(_acknowledge_url(_alert(project))).status_code == 405  # a GET changes nothing


def test_resolved_alerts_of_the_last_seven_days_are_shown_muted_and_older_ones_not(client, project, lead):
    _alert(project, key="recent", state=AlertState.RESOLVED, resolved_at=timezone.now() - timedelta(days=6))
    old = _alert(project, key="old", state=AlertState.RESOLVED, resolved_at=timezone.now() - timedelta(days=8))
    open_one = _alert(project, key="sample")
    client.force_login(lead)

    page = client.get(f"/p/{project.slug}/").content.decode()

    assert 'class="alert-entry state-resolved"' in page and "Recent missed its quota" in page
    assert f'data-alert="{old.pk}"' not in page
    assert page.index(f'data-alert="{open_one.pk}"') < page.index("Recent missed its quota")  # open ones first


def test_alert_text_is_escaped(client, project, lead):
    _alert(project, key="<script>alert(1)</script>")
    client.force_login(lead)

    page = client.get(f"/p/{project.slug}/").content.decode()

    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_the_project_page_runs_the_same_queries_however_many_alerts(client, project, lead, django_assert_num_queries):
    _alert(project)
    client.force_login(lead)
    # session, user, project with membership, the lead's queues, latest outputs, saved explore views, alerts,
    # a rubric version published this week, the latest closed and failed cycles (which weeks beat leaves open), the
    # weeks beat leaves open holding items no close reads, the getting-started checklist
    with django_assert_num_queries(11):
        client.get(f"/p/{project.slug}/")

    for index in range(8):
        _alert(project, key=f"queue-{index}", rule=AlertRule.QUEUE_IDLE)
    Alert.objects.filter(key="queue-0").update(state=AlertState.ACKNOWLEDGED, acknowledged_by=lead)
    with django_assert_num_queries(11):
        response = client.get(f"/p/{project.slug}/")
    assert len(response.context["alerts"]) == 9


def test_open_alerts_by_project_reads_many_projects_in_one_query(
    project, other_project, lead, django_assert_num_queries
):
    """The platform page's selector: each project's unresolved alerts (open first), projects without any absent."""
    acknowledged = _alert(project, key="a", state=AlertState.ACKNOWLEDGED, acknowledged_by=lead)
    opened = _alert(project, key="b")
    _alert(project, key="c", state=AlertState.RESOLVED)
    theirs = _alert(other_project)
    quiet = UserFactory(username="quiet")  # any id without alerts

    with django_assert_num_queries(1):
        found = open_alerts_by_project([project.pk, other_project.pk, quiet.pk + 10_000])
        slugs = [alert.project.slug for alerts in found.values() for alert in alerts]  # loaded with them

    assert found == {project.pk: [opened, acknowledged], other_project.pk: [theirs]}
    assert set(slugs) == {"support-bot", "sql-assistant"}
