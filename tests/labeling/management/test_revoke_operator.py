"""`manage.py revoke_operator`: take the operator permission away again, audited as `create_operator`'s grant is."""

import io
import logging

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command

from labeling.models import AuditEvent
from labeling.rules.access import operates_all_projects
from labeling.services.operator_tokens import issue_operator_token
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("revoke_operator", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def account(username: str):
    return get_user_model().objects.get(username=username)


def operator_permission() -> Permission:
    return Permission.objects.get(content_type__app_label="labeling", codename="operate_all_projects")


def test_an_operator_made_by_the_command_is_no_longer_one_and_every_project_of_theirs_audits_it(
    project, other_project, lead, client, caplog
):
    call_command("create_operator", lead.username, stdout=io.StringIO())
    client.force_login(lead)
    assert client.get("/platform/").status_code == 200

    with caplog.at_level(logging.WARNING, logger="labeling.services.operators"):
        out = run(lead.username)

    assert f"{lead.username!r} is no longer an operator: they see only the projects they are a member of." in out
    assert not operates_all_projects(account(lead.username))
    assert client.get("/platform/").status_code == 404  # the next request asks again
    assert f"Operator {lead.username!r} revoked by a command (manage.py revoke_operator)" in caplog.text
    event = AuditEvent.objects.get(project=project, action="member.operator_revoked")
    assert event.actor is None
    assert event.details == {
        "username": lead.username, "permission": True, "tokens_revoked": 0, "command": "revoke_operator",
    }  # fmt: skip
    assert not AuditEvent.objects.filter(project=other_project).exists()  # not theirs
    row = client.get(f"/p/{project.slug}/manage/audit/").context["rows"][0]
    assert row["who"] == "a command (manage.py revoke_operator)"
    assert row["sentence"] == "Took the operator permission from lena: they see only the projects they are a member of"


def test_running_it_again_changes_nothing_and_audits_nothing(project, lead):
    call_command("create_operator", lead.username, stdout=io.StringIO())
    run(lead.username)

    out = run(lead.username)

    assert f"{lead.username!r} is not an operator: nothing to do." in out
    assert AuditEvent.objects.filter(action="member.operator_revoked").count() == 1


def test_an_account_that_never_was_one_changes_nothing(project, expert):
    assert f"{expert.username!r} is not an operator: nothing to do." in run(expert.username)
    assert not AuditEvent.objects.exists()


def test_a_deactivated_operators_permission_is_taken_too():
    """Deactivated is not gone: reactivated in the admin, the account would operate every project again."""
    user = UserFactory(username="olga", is_active=False)
    user.user_permissions.add(operator_permission())

    run("olga")

    assert not account("olga").user_permissions.exists()


def test_an_unknown_username_is_an_error_naming_it():
    with pytest.raises(CommandError, match="No account 'nobody'"):
        run("nobody")


def test_a_superuser_is_refused_and_keeps_everything_since_they_hold_every_permission(project, lead):
    call_command("create_operator", lead.username, "--superuser", stdout=io.StringIO())

    with pytest.raises(CommandError, match="is a superuser, who holds every permission"):
        run(lead.username)

    user = account(lead.username)
    assert user.is_superuser and user.user_permissions.filter(pk=operator_permission().pk).exists()
    assert not AuditEvent.objects.filter(action="member.operator_revoked").exists()


def test_an_operator_through_a_group_is_refused_naming_the_group_and_changes_nothing(project, lead):
    group = Group.objects.create(name="platform team")
    group.permissions.add(operator_permission())
    lead.groups.add(group)
    lead.user_permissions.add(operator_permission())

    with pytest.raises(CommandError, match="through the group 'platform team'"):
        run(lead.username)

    assert account(lead.username).user_permissions.filter(pk=operator_permission().pk).exists()
    assert not AuditEvent.objects.filter(action="member.operator_revoked").exists()


def test_the_operators_tokens_are_revoked_with_the_permission_and_stay_so_if_made_an_operator_again(lead, client):
    """A token left alone would only fail while the permission is missing: made an operator again, the account would
    find every old token working again, the leaked one behind the revocation too."""
    call_command("create_operator", lead.username, stdout=io.StringIO())
    secret = issue_operator_token(user=account(lead.username), name="nightly report").secret
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert client.get("/api/v1/platform/usage", **bearer).status_code == 200

    out = run(lead.username)
    call_command("create_operator", lead.username, stdout=io.StringIO())

    assert "Revoked their 1 operator token too." in out
    refused = client.get("/api/v1/platform/usage", **bearer)
    assert refused.status_code == 401 and "revoked" in refused.json()["errors"][0]["message"]


def test_tokens_left_after_the_permission_was_taken_in_the_admin_are_revoked_by_the_command(lead, client):
    """The README also has the permission taken away in the admin, which leaves the tokens active: the command finds
    them and revokes them, saying so, where it answered "not an operator: nothing to do"."""
    call_command("create_operator", lead.username, stdout=io.StringIO())
    secret = issue_operator_token(user=account(lead.username), name="nightly report").secret
    account(lead.username).user_permissions.remove(operator_permission())  # as the admin's user form does

    out = run(lead.username)
    call_command("create_operator", lead.username, stdout=io.StringIO())

    assert "'lena' is not an operator; revoked the 1 operator token left from when they were." in out
    refused = client.get("/api/v1/platform/usage", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert refused.status_code == 401
    client.force_login(lead)
    log = client.get(f"/p/{lead.memberships.first().project.slug}/manage/audit/").content.decode()
    assert "Revoked 1 operator token of theirs, left from when" in log
