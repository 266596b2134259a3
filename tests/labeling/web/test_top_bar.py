"""The top bar offers the API docs to those who may use the API: not to a person who is only ever an expert (every
membership of theirs is `expert`), for whom "API" is a link to a page of no use."""

import pytest
from django.urls import reverse

from tests.factories import MembershipFactory

pytestmark = [pytest.mark.django_db]


def api_link_shown(client, user) -> bool:
    client.force_login(user)  # the top bar's links are worked out at sign-in (labeling.web.navigation)
    return f'href="{reverse("api:docs")}"' in client.get("/", follow=True).content.decode()


def test_an_expert_sees_no_api_link(client, expert):
    assert not api_link_shown(client, expert)


def test_a_lead_an_engineer_or_an_expert_who_is_an_engineer_elsewhere_sees_it(
    client, lead, engineer, expert, other_project
):
    assert api_link_shown(client, lead)
    assert api_link_shown(client, engineer)
    MembershipFactory(project=other_project, user=expert, role="engineer")
    assert api_link_shown(client, expert)
