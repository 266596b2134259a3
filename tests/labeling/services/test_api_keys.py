"""API keys: who may issue which scopes and revoke which keys. An engineer issues ingest and read keys but no
privacy key (it erases end users' data) and revokes only their own keys; leads and admins do both for any key of
their project; commands (no acting user) are unchecked; a refusal issues, revokes and audits nothing."""

import pytest
from django.contrib.auth import get_user_model

from labeling.exceptions import Forbidden, NotFound
from labeling.models import ApiKey, AuditEvent
from labeling.services.api_keys import create_api_key, revoke_api_key
from tests.factories import MembershipFactory, UserFactory


def key_state():
    return sorted(ApiKey.objects.values_list("prefix", "scopes", "revoked_at"))


@pytest.mark.parametrize("scopes", [["privacy"], ["ingest", "privacy"]])
def test_an_engineer_may_not_issue_a_privacy_key(project, engineer, scopes):
    with pytest.raises(Forbidden, match="Only the project's leads and admins may issue a key with the privacy scope"):
        create_api_key(project=project, name="eraser", scopes=scopes, created_by=engineer)
    assert not ApiKey.objects.exists() and not AuditEvent.objects.exists()


def test_an_engineer_issues_ingest_and_read_keys(project, engineer):
    issued = create_api_key(project=project, name="pull", scopes=["ingest", "read"], created_by=engineer)
    assert issued.api_key.scopes == ["ingest", "read"] and issued.api_key.created_by == engineer


@pytest.mark.parametrize("role", ["lead", "admin"])
def test_leads_and_admins_issue_privacy_keys(project, role):
    manager = MembershipFactory(project=project, role=role, user=UserFactory(username=f"m-{role}")).user
    issued = create_api_key(project=project, name="eraser", scopes=["privacy"], created_by=manager)
    assert issued.api_key.scopes == ["privacy"]


def test_a_command_issues_a_privacy_key_unchecked(project):
    assert create_api_key(project=project, name="ops", scopes=["privacy"]).api_key.created_by is None


def test_an_expert_or_another_projects_lead_issues_nothing(project, expert, other_project):
    other_lead = MembershipFactory(project=other_project, role="lead", user=UserFactory(username="olga")).user
    for user in (expert, other_lead):
        with pytest.raises(NotFound):
            create_api_key(project=project, name="k", scopes=["ingest"], created_by=user)
    assert not ApiKey.objects.exists()


def test_an_engineer_revokes_their_own_key_but_not_anothers(project, engineer, lead):
    own = create_api_key(project=project, name="mine", scopes=["read"], created_by=engineer).api_key
    leads = create_api_key(project=project, name="app", scopes=["ingest"], created_by=lead).api_key
    commands = create_api_key(project=project, name="seeded", scopes=["ingest"]).api_key

    for key in (leads, commands):
        with pytest.raises(Forbidden, match="Engineers revoke only the keys they issued"):
            revoke_api_key(api_key=key, revoked_by=engineer)
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 0
    assert not AuditEvent.objects.filter(action="api_key.revoked").exists()

    revoke_api_key(api_key=own, revoked_by=engineer)
    assert own.revoked_at is not None


def test_a_lead_revokes_any_key_of_the_project(project, engineer, lead):
    engineers = create_api_key(project=project, name="pull", scopes=["read"], created_by=engineer).api_key
    revoke_api_key(api_key=engineers, revoked_by=lead)
    assert engineers.revoked_at is not None
    assert AuditEvent.objects.get(action="api_key.revoked").actor == lead


def test_an_expert_or_another_projects_lead_revokes_nothing(project, expert, other_project):
    other_lead = MembershipFactory(project=other_project, role="lead", user=UserFactory(username="olga")).user
    key = create_api_key(project=project, name="app", scopes=["ingest"]).api_key
    for user in (expert, other_lead):
        with pytest.raises(NotFound):
            revoke_api_key(api_key=key, revoked_by=user)
    key.refresh_from_db()
    assert key.revoked_at is None


def test_an_operator_revokes_any_key(project):
    """The admin's revoke action acts as an operator, who need not be a member."""
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    key = create_api_key(project=project, name="app", scopes=["ingest"]).api_key
    revoke_api_key(api_key=key, revoked_by=root)
    assert key.revoked_at is not None
