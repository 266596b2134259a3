"""The getting-started checklist on a project's overview (issue 18, point 3): its leads see it, each step ticks
itself when its fact appears in the data, the first one shows how to send an output until one arrives, and the
list is gone once every step is done. Experts never see it. One query, however much data."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Invitation
from labeling.rules.calendar import current_week
from labeling.selectors.onboarding import getting_started
from labeling.services.cycles import close_week
from labeling.services.invitations import invite_member, revoke_invitation
from labeling.services.queues import QueueValues, create_queue
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, OutputFactory, UserFactory, created_weeks_ago
from tests.helpers.labeling import label_outputs
from tests.helpers.rubrics import QUESTIONS

STEPS = ["output", "rubric", "queue", "expert", "label", "closed"]


def done_steps(client, project) -> list[str]:
    """The steps the page shows ticked, in the page's order (asserting every step is listed)."""
    page = client.get(f"/p/{project.slug}/").content.decode()
    listed = re.findall(r'<li class="step( done)?" data-step="([a-z]+)">', page)
    assert [key for _, key in listed] == STEPS
    return [key for done, key in listed if done]


def test_each_step_ticks_when_its_fact_appears_and_the_list_goes_when_all_are_done(client, project, lead):
    client.force_login(lead)
    page = client.get(f"/p/{project.slug}/").content.decode()
    assert "Getting started" in page and "0 of 6 done" in page
    assert done_steps(client, project) == []

    OutputFactory(project=project)
    assert done_steps(client, project) == ["output"]

    publish_rubric(project=project, questions=QUESTIONS, published_by=lead)
    assert done_steps(client, project) == ["output", "rubric"]

    create_queue(project=project, values=QueueValues(slug="sample", name="Sample", overlap=1))
    assert done_steps(client, project) == ["output", "rubric", "queue"]

    invite_member(project=project, email="erin@example.com", role="expert", invited_by=lead)
    assert done_steps(client, project) == ["output", "rubric", "queue", "expert"]

    label_outputs(project, 1, answers=[{"correct": True, "helpful": 4}], queue="sample")
    assert done_steps(client, project) == STEPS[:5]

    close_week(project_id=project.pk, week=current_week(created_weeks_ago(project, 2)) - timedelta(days=7))
    page = client.get(f"/p/{project.slug}/").content.decode()
    assert "Getting started" not in page and 'data-step="' not in page


def test_until_an_output_arrives_it_shows_the_curl_line_the_otel_variables_and_a_key_link(client, project, lead):
    client.force_login(lead)

    page = client.get(f"/p/{project.slug}/").content.decode()

    assert "curl -sS http://testserver/api/v1/outputs" in page
    assert "support-bot:first-1" in page  # the project's slug, in the output's external id
    assert "export OTEL_EXPORTER_OTLP_ENDPOINT=http://testserver/api/v1/otel" in page
    assert "OTEL_EXPORTER_OTLP_HEADERS=&quot;Authorization=Bearer%20$EXPERTLOOP_API_KEY&quot;" in page
    assert f'href="/p/{project.slug}/keys/"' in page

    OutputFactory(project=project)
    page = client.get(f"/p/{project.slug}/").content.decode()
    assert "Getting started" in page and "curl -sS" not in page and "OTEL_EXPORTER" not in page


def test_an_expert_member_ticks_the_expert_step_and_a_revoked_invitation_does_not(project, lead):
    invitation = invite_member(project=project, email="erin@example.com", role="expert", invited_by=lead).invitation
    assert getting_started(project).is_done("expert")

    revoke_invitation(invitation=invitation, revoked_by=lead)
    invite_member(project=project, email="eng@example.com", role="engineer", invited_by=lead)
    assert not getting_started(project).is_done("expert")

    MembershipFactory(project=project, user=UserFactory(username="erin"), role="expert")
    assert getting_started(project).is_done("expert")
    assert Invitation.objects.filter(project=project).count() == 2


@pytest.mark.parametrize("role", ["expert", "engineer"])
def test_it_is_not_shown_to_experts_nor_engineers(client, project, role):
    client.force_login(MembershipFactory(project=project, user=UserFactory(username="mo"), role=role).user)

    page = client.get(f"/p/{project.slug}/").content.decode()

    assert "Getting started" not in page and "OTEL_EXPORTER" not in page


def test_admins_see_it_like_leads(client, project):
    client.force_login(MembershipFactory(project=project, user=UserFactory(username="ada"), role="admin").user)

    assert "Getting started" in client.get(f"/p/{project.slug}/").content.decode()


def test_it_costs_one_query_however_much_data(client, project, lead, django_assert_num_queries):
    client.force_login(lead)
    with django_assert_num_queries(1):
        getting_started(project)
    # session, user, project with membership, queues, outputs, saved explore views, the alerts, the rubric versions of
    # the running week, the latest closed and failed cycles (which weeks beat leaves open), the weeks beat leaves open
    # holding items no close reads, the checklist
    with django_assert_num_queries(11):
        client.get(f"/p/{project.slug}/")

    label_outputs(project, 3, queue="sample")
    OutputFactory.create_batch(5, project=project)
    with django_assert_num_queries(1):
        assert getting_started(project).done_count == 5  # all but a closed week
    with django_assert_num_queries(11):
        client.get(f"/p/{project.slug}/")


def test_a_closed_week_alone_is_not_every_step(project, lead):
    """Each step reads its own fact: a week closed with nothing in it ticks only that step."""
    close_week(
        project_id=project.pk, week=current_week(created_weeks_ago(project, 2), timezone.now()) - timedelta(days=7)
    )

    checklist = getting_started(project)

    assert [step.key for step in checklist.steps if step.done] == ["closed"] and not checklist.complete


def test_the_curl_line_sends_neutral_example_text_not_a_support_bots(client, project, lead):
    """A meeting-notes summarizer's lead reads an example that fits any product, not an order-tracking chat."""
    client.force_login(lead)

    page = client.get(f"/p/{project.slug}/").content.decode()

    assert "Where is my order" not in page and "It ships tomorrow" not in page
    assert "What your app sent to the model" in page
