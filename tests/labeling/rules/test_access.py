"""The one door to a project named in a URL: members with the right role get in, everyone else sees 'not found'."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser, Permission

from labeling.exceptions import InvalidInput, NotFound
from labeling.models import Membership, Role
from labeling.rules.access import (
    DATASET_ROLES,
    MANAGING_ROLES,
    managed_project,
    member_project,
    overview_project,
    project_for_caller,
    sees_alerts,
    visible_project,
)
from labeling.services.api_keys import create_api_key
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[3]


def test_a_member_gets_the_project_and_membership_in_one_query(project, expert, django_assert_num_queries):
    with django_assert_num_queries(1):
        found, membership = member_project(expert, "support-bot")

    assert found == project and membership.role == "expert" and membership.project is found


@pytest.mark.parametrize("persona", ["expert", "engineer"])
def test_it_validates_the_role(request, project, persona):
    """Still a NotFound (a 404), but a member, who knows the project, is told the true reason."""
    user = request.getfixturevalue(persona)
    with pytest.raises(NotFound, match="Only the project's leads and admins open this page"):
        managed_project(user, "support-bot")
    assert member_project(request.getfixturevalue("lead"), "support-bot", MANAGING_ROLES)[0] == project


def test_a_non_member_of_a_managed_project_learns_nothing(outsider, project):
    with pytest.raises(NotFound, match="No such project"):
        managed_project(outsider, "support-bot")


def test_it_validates_ownership(project, outsider, other_project):
    with pytest.raises(NotFound):
        member_project(outsider, "support-bot")
    with pytest.raises(NotFound):
        member_project(AnonymousUser(), "support-bot")
    with pytest.raises(NotFound):
        member_project(outsider, "no-such-project")
    assert member_project(outsider, other_project.slug)[0] == other_project


def test_an_operator_sees_a_project_without_a_membership(project, outsider):
    with pytest.raises(NotFound):
        visible_project(outsider, "support-bot")
    operator = UserFactory(username="olga")
    operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))

    assert visible_project(operator, "support-bot") == (project, None)
    with pytest.raises(NotFound):
        member_project(operator, "support-bot")  # only the overview is for operators; items stay for members


@pytest.mark.parametrize(
    ("role", "operator", "sees"),
    [
        (None, True, True),  # an operator without a membership
        (Role.EXPERT, True, True),  # an operator who is also one of its experts
        (Role.ENGINEER, True, True),
        (Role.LEAD, False, True),
        (Role.ADMIN, False, True),
        (Role.EXPERT, False, False),
        (Role.ENGINEER, False, False),
        (None, False, False),
    ],
)
def test_alerts_are_for_leads_admins_and_operators_whatever_their_role(role, operator, sees):
    membership = Membership(role=role) if role else None
    assert sees_alerts(membership, operator=operator) is sees


def test_the_overview_tells_a_member_operator_in_the_membership_query(
    project, expert, lead, outsider, django_assert_num_queries
):
    expert.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    membership = expert.memberships.get()

    with django_assert_num_queries(1):
        assert overview_project(expert, "support-bot")[1:] == (membership, True)
    with django_assert_num_queries(1):
        assert overview_project(lead, "support-bot")[2] is False
    with pytest.raises(NotFound):
        overview_project(outsider, "support-bot")


def test_an_api_key_reads_its_own_project_only(project, other_project, engineer, expert):
    key = create_api_key(project=project, name="ci", scopes=["read"]).api_key

    assert project_for_caller(slug=None, api_key=key, roles=DATASET_ROLES) == project
    assert project_for_caller(slug="support-bot", api_key=key, roles=DATASET_ROLES) == project
    with pytest.raises(NotFound):
        project_for_caller(slug=other_project.slug, api_key=key, roles=DATASET_ROLES)
    assert project_for_caller(slug="support-bot", user=engineer, roles=DATASET_ROLES) == project
    with pytest.raises(NotFound):
        project_for_caller(slug="support-bot", user=expert, roles=DATASET_ROLES)
    with pytest.raises(InvalidInput, match=r"\?project="):
        project_for_caller(slug=None, user=engineer, roles=DATASET_ROLES)


def test_no_view_or_selector_looks_a_project_up_by_its_slug_itself():
    """Every web view and API view reaches a URL's project through `labeling.rules.access`."""
    lookup = re.compile(r"Project\.objects\.(?:filter|get)\(slug=|get_object_or_404\(Project\b")
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("labeling/web", "labeling/selectors", "api")
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if lookup.search(line)
    ]
    assert found == []
