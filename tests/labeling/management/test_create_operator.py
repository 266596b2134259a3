"""`manage.py create_operator`: the first operator of an install, or an account made one, with the app's account rules
(createsuperuser skips them), a password never typed on the command line, and an audit trail naming the command."""

import io
import logging

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from labeling.models import AuditEvent
from labeling.rules.access import is_operator, operates_all_projects
from tests.factories import PASSWORD as MEMBER_PASSWORD
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def run(*args, stdin: str | None = None) -> str:
    out = io.StringIO()
    extra = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command("create_operator", *args, stdout=out, stderr=io.StringIO(), **extra)
    return out.getvalue()


def account(username: str):
    return get_user_model().objects.get(username=username)


def test_the_first_operator_is_created_with_a_password_from_stdin_and_signs_in_to_the_platform_page(client, caplog):
    with caplog.at_level(logging.WARNING, logger="labeling.services.operators"):
        out = run("ops", "--email", " Ops@Example.com ", "--password-stdin", stdin=f"{PASSWORD}\n")

    user = account("ops")
    assert "Created 'ops', an operator." in out
    assert user.email == "ops@example.com" and user.check_password(PASSWORD)
    assert operates_all_projects(user) and not user.is_superuser
    assert "Operator 'ops' created by a command (manage.py create_operator)" in caplog.text
    assert client.post("/login/", {"username": "ops", "password": PASSWORD}).status_code == 302
    assert client.get("/platform/").status_code == 200


def test_the_password_comes_from_the_named_environment_variable(monkeypatch):
    monkeypatch.setenv("OPS_PASSWORD", PASSWORD)

    run("ops", "--email", "ops@example.com", "--password-from-env", "OPS_PASSWORD")

    assert account("ops").check_password(PASSWORD)


def test_at_a_terminal_the_password_is_asked_twice(monkeypatch):
    """Typed at a prompt, not on the command line, where it would stay in the shell's history."""
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr("labeling.management.commands.create_operator.getpass", lambda prompt: next(answers))
    terminal = io.StringIO()
    terminal.isatty = lambda: True

    call_command("create_operator", "ops", "--email", "ops@example.com", stdin=terminal, stdout=io.StringIO())

    assert account("ops").check_password(PASSWORD)


def test_superuser_also_lets_the_operator_into_the_admin_with_every_permission():
    out = run("ops", "--email", "ops@example.com", "--superuser", "--password-stdin", stdin=PASSWORD)

    assert "Created 'ops', a superuser and operator." in out
    user = account("ops")
    assert user.is_staff and user.is_superuser and operates_all_projects(user)


def test_an_existing_member_is_promoted_and_every_project_of_theirs_audits_it_as_the_command(
    project, other_project, lead, client
):
    out = run(lead.username)

    lead = account(lead.username)
    assert f"Made {lead.username!r} an operator" in out
    assert operates_all_projects(lead) and lead.check_password(MEMBER_PASSWORD)  # theirs: none was asked for
    event = AuditEvent.objects.get(project=project, action="member.made_operator")
    assert event.actor is None
    assert event.details == {
        "username": lead.username, "superuser": False, "created": False, "command": "create_operator",
    }  # fmt: skip
    assert not AuditEvent.objects.filter(project=other_project).exists()  # not theirs
    client.force_login(lead)
    row = client.get(f"/p/{project.slug}/manage/audit/").context["rows"][0]
    assert row["who"] == "a command (manage.py create_operator)"
    assert row["sentence"] == "Made lena an operator: they see every project and its outputs"


def test_running_it_again_changes_nothing_and_audits_nothing(project, lead):
    """A provisioning script runs it on every deploy, with the operator's password: the same password is no change."""
    run(lead.username, "--password-stdin", stdin=MEMBER_PASSWORD)

    out = run(lead.username, "--password-stdin", stdin=MEMBER_PASSWORD)

    assert f"{lead.username!r} is an operator already: nothing to do." in out
    assert AuditEvent.objects.filter(action="member.made_operator").count() == 1


def test_an_account_without_a_password_gets_one_since_no_reset_mail_gives_an_operator_a_first_one(project, expert):
    expert.set_unusable_password()  # as create_project and single sign-on make accounts
    expert.save()

    with pytest.raises(CommandError, match="needs a password"):
        run(expert.username, stdin="")
    assert not is_operator(account(expert.username))

    run(expert.username, "--password-stdin", stdin=PASSWORD)

    assert account(expert.username).check_password(PASSWORD)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["ops", "--password-stdin"], PASSWORD, "A new operator needs an --email"),
        (["ops", "--email", "not-an-address", "--password-stdin"], PASSWORD, "Enter a valid email address"),
        (["ops", "--email", "taken@example.com", "--password-stdin"], PASSWORD, "is the email of another account"),
        (["bad name!", "--email", "ops@example.com", "--password-stdin"], PASSWORD, "Enter a valid username"),
        (["LENA", "--email", "ops@example.com", "--password-stdin"], PASSWORD, "differs only in case"),
        (["ops", "--email", "ops@example.com", "--password-stdin"], "short", "too short"),
        (["ops", "--email", "ops@example.com", "--password-stdin"], "password123", "too common"),
        (["ops", "--email", "ops@example.com", "--password-stdin"], "", "The password is empty"),
        (["ops", "--email", "ops@example.com", "--password-from-env", "NO_SUCH_VARIABLE"], None, "is not set"),
        (["ops", "--email", "ops@example.com"], "", "give it with --password-from-env VAR or --password-stdin"),
        (["lena", "--email", "other@example.com"], None, "Its email is lena@example.com"),
        (["lena", "--password-stdin"], "another password entirely", "has a password already"),
        (["gone"], None, "is deactivated"),
    ],
)
def test_bad_input_is_refused_saying_what_is_wrong_and_changes_nothing(args, stdin, message):
    UserFactory(username="taken", email="taken@example.com")
    lena = UserFactory(username="lena", email="lena@example.com")
    lena.set_password(PASSWORD)
    lena.save()
    UserFactory(username="gone", is_active=False)

    with pytest.raises(CommandError, match=message):
        run(*args, stdin=stdin if stdin is not None else "")

    assert not get_user_model().objects.filter(username="ops").exists()
    assert not any(is_operator(user) for user in get_user_model().objects.all())
    assert not AuditEvent.objects.exists()


def test_a_password_on_the_command_line_is_not_an_option():
    with pytest.raises(CommandError, match="--password"):
        run("ops", "--email", "ops@example.com", "--password", PASSWORD)
    assert not get_user_model().objects.filter(username="ops").exists()
