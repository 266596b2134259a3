"""Invitations: a lead invites an email; the link adds that person once, and only while it is usable."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from labeling.exceptions import (
    Conflict,
    InvalidAccount,
    InvalidInput,
    InvitationExpired,
    InvitationForAnotherEmail,
    InvitationNotValid,
    InvitationRevoked,
    InvitationUsed,
    NotFound,
    TooManyRequests,
)
from labeling.models import AuditEvent, Invitation, Membership
from labeling.selectors.invitations import has_pending_invitation, invitation_for_token
from labeling.services.invitations import (
    accept_invitation,
    accept_invitations_for_email,
    create_account_and_accept,
    invite_member,
    resend_invitation,
    revoke_invitation,
)
from tests.factories import UserFactory
from tests.helpers.concurrency import run_at_once

User = get_user_model()
PASSWORD = "a-long-unusual-passphrase-42"


@pytest.fixture
def invite(project, lead, django_capture_on_commit_callbacks):
    def invite(email="Nora@Example.com", role="expert", **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return invite_member(project=project, email=email, role=role, invited_by=lead, **kwargs)

    return invite


def tampered(token: str) -> str:
    return token[:10] + ("A" if token[10] != "A" else "B") + token[11:]


def test_a_lead_invites_an_email_the_token_is_stored_only_as_a_hash_and_the_mail_names_it_all(invite, project):
    issued = invite()
    invitation = Invitation.objects.get()
    assert invitation.email == "nora@example.com"  # lowercased
    assert issued.token not in invitation.token_hash and len(invitation.token_hash) == 64
    assert invitation.expires_at - invitation.created_at == pytest.approx(timedelta(days=7), abs=timedelta(seconds=5))
    (message,) = mail.outbox
    assert message.to == ["nora@example.com"]
    assert "Support bot" in message.subject
    assert f"http://127.0.0.1:8000/invitations/{issued.token}" in message.body
    assert "lena invited you to join Support bot" in message.body and "as expert" in message.body
    assert "expires on" in message.body
    event = AuditEvent.objects.get(action="member.invited")
    assert event.details["email"] == "nora@example.com" and event.details["role"] == "expert"


def test_the_email_is_sent_only_when_the_invitation_commits(project, lead, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invite_member(project=project, email="nora@example.com", role="expert", invited_by=lead)
    assert mail.outbox == [] and len(callbacks) == 1


@pytest.mark.parametrize(
    "email", ["", "nora", "nora@", "no ra@example.com", "nora@example.com\x00", "a" * 250 + "@x.io"]
)
def test_an_invalid_email_is_refused_and_nothing_is_stored(invite, email):
    with pytest.raises(InvalidInput, match="valid email"):
        invite(email=email)
    assert not Invitation.objects.exists() and mail.outbox == []


def test_an_unknown_role_is_refused(invite):
    with pytest.raises(InvalidInput, match="Role"):
        invite(role="owner")
    assert not Invitation.objects.exists()


def test_a_member_already_in_the_project_is_not_invited(invite, expert):
    with pytest.raises(Conflict, match="member of Support bot already"):
        invite(email=expert.email.upper())
    assert not Invitation.objects.exists()


def test_an_expert_or_another_projects_lead_cannot_invite(project, expert, other_project):
    other_lead = UserFactory(username="olga")
    other_project.memberships.create(user=other_lead, role="lead")
    for user in (expert, other_lead):
        with pytest.raises(NotFound):
            invite_member(project=project, email="nora@example.com", role="lead", invited_by=user)
    assert not Invitation.objects.exists()


def test_inviting_a_pending_email_again_renews_it_and_the_first_link_stops_working(invite):
    first = invite(role="expert")
    second = invite(role="engineer")
    invitation = Invitation.objects.get()
    assert invitation.role == "engineer" and invitation.send_count == 2
    assert invitation_for_token(first.token) is None
    assert invitation_for_token(second.token) == invitation
    assert len(mail.outbox) == 2


def test_resend_gives_a_new_token_and_expiry_and_is_audited(invite, lead, django_capture_on_commit_callbacks):
    issued = invite()
    Invitation.objects.update(expires_at=timezone.now() - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        token = resend_invitation(invitation=issued.invitation, resent_by=lead)
    invitation = Invitation.objects.get()
    assert token != issued.token and invitation.expires_at > timezone.now() + timedelta(days=6)
    assert invitation_for_token(issued.token) is None
    assert token in mail.outbox[-1].body
    assert AuditEvent.objects.filter(action="member.invitation_resent").count() == 1


def test_accepting_adds_the_member_with_the_role_once(invite, project):
    issued = invite(role="engineer")
    nora = UserFactory(username="nora", email="NORA@example.com")
    membership = accept_invitation(token=issued.token, user=nora)
    assert (membership.project, membership.user, membership.role) == (project, nora, "engineer")
    event = AuditEvent.objects.get(action="member.added")
    assert event.details["via"] == "invitation" and event.actor == nora
    with pytest.raises(InvitationUsed, match="used already"):
        accept_invitation(token=issued.token, user=nora)
    assert Membership.objects.filter(user=nora).count() == 1


def test_an_expired_invitation_is_refused(invite):
    issued = invite()
    Invitation.objects.update(expires_at=timezone.now())
    nora = UserFactory(username="nora", email="nora@example.com")
    with pytest.raises(InvitationExpired, match="expired"):
        accept_invitation(token=issued.token, user=nora)
    assert not Membership.objects.filter(user=nora).exists()
    assert not has_pending_invitation("nora@example.com")


def test_a_revoked_invitation_is_refused_and_revoking_is_audited_once(invite, lead):
    issued = invite()
    revoke_invitation(invitation=issued.invitation, revoked_by=lead)
    revoke_invitation(invitation=issued.invitation, revoked_by=lead)
    assert AuditEvent.objects.filter(action="member.invitation_revoked").count() == 1
    nora = UserFactory(username="nora", email="nora@example.com")
    with pytest.raises(InvitationRevoked, match="withdrawn"):
        accept_invitation(token=issued.token, user=nora)
    assert not Membership.objects.filter(user=nora).exists()


def test_a_tampered_or_unknown_token_is_not_valid(invite):
    issued = invite()
    nora = UserFactory(username="nora", email="nora@example.com")
    for token in (tampered(issued.token), "nonsense", "", "x" * 5000):
        with pytest.raises(InvitationNotValid, match="not valid"):
            accept_invitation(token=token, user=nora)
        with pytest.raises(InvitationNotValid):
            create_account_and_accept(token=token, username="nora2", password=PASSWORD)
    assert not Membership.objects.filter(user=nora).exists()
    assert not User.objects.filter(username="nora2").exists()
    assert Invitation.objects.get().accepted_at is None


def test_an_account_with_another_email_is_refused_with_a_hint(invite, outsider):
    issued = invite()
    with pytest.raises(InvitationForAnotherEmail, match=r"for n…@example.com.*Sign out and open the link again"):
        accept_invitation(token=issued.token, user=outsider)
    assert Invitation.objects.get().accepted_at is None
    assert not Membership.objects.filter(user=outsider, project=issued.invitation.project).exists()


def test_a_new_person_creates_an_account_with_the_invited_email_and_joins(invite, project):
    issued = invite(role="expert")
    user = create_account_and_accept(token=issued.token, username="nora", password=PASSWORD)
    assert user.email == "nora@example.com" and user.check_password(PASSWORD)
    assert Membership.objects.get(user=user).project == project
    with pytest.raises(InvitationUsed):
        create_account_and_accept(token=issued.token, username="nora3", password=PASSWORD)


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [
        ("nora", "short", "password"),
        ("nora", "password123", "password"),
        ("no ra!", PASSWORD, "username"),
        ("", PASSWORD, "username"),
        ("lena", PASSWORD, "username"),  # taken by the lead
    ],
)
def test_a_bad_username_or_password_creates_nothing(invite, username, password, field):
    issued = invite()
    with pytest.raises(InvalidAccount) as refused:
        create_account_and_accept(token=issued.token, username=username, password=password)
    assert field in refused.value.problems
    assert not User.objects.filter(email="nora@example.com").exists()
    assert Invitation.objects.get().accepted_at is None


def test_no_second_account_for_an_email_that_has_one(invite):
    issued = invite()
    UserFactory(username="nora", email="Nora@example.com")
    with pytest.raises(Conflict, match="sign in to accept"):
        create_account_and_accept(token=issued.token, username="nora2", password=PASSWORD)
    assert not User.objects.filter(username="nora2").exists()


def test_a_look_alike_address_is_another_address_for_members_and_accounts(invite, expert, project):
    """PostgreSQL's case-insensitive match pairs a dotless ı with i: erın@ is neither erin@'s membership nor account,
    the same rule single sign-on and password reset follow."""
    assert expert.email == "erin@example.com"

    issued = invite(email="erın@example.com")
    user = create_account_and_accept(token=issued.token, username="eron", password=PASSWORD)

    assert user.email == "erın@example.com" and Membership.objects.get(user=user).project == project


def test_single_sign_on_accepts_every_usable_invitation_for_the_email(
    invite, project, other_project, django_capture_on_commit_callbacks
):
    invite(role="expert")
    with django_capture_on_commit_callbacks(execute=True):
        invite_member(project=other_project, email="nora@example.com", role="lead", invited_by=None)
    assert has_pending_invitation("NORA@example.com")
    nora = UserFactory(username="nora", email="Nora@Example.com")
    memberships = accept_invitations_for_email(user=nora)
    assert {(m.project, m.role) for m in memberships} == {(project, "expert"), (other_project, "lead")}
    assert not has_pending_invitation("nora@example.com")
    assert accept_invitations_for_email(user=nora) == []


def test_sending_is_throttled_per_project_with_a_retry_after(invite, settings):
    settings.INVITATIONS_PER_PROJECT_PER_HOUR = 3
    for n in range(3):
        invite(email=f"person{n}@example.com")
    refusal = r"has sent 3 invitations in the last hour, the most allowed\. Try again in 60 minutes\.$"
    with pytest.raises(TooManyRequests, match=refusal) as refused:
        invite(email="one-more@example.com")
    assert 3590 < refused.value.retry_after <= 3600
    assert Invitation.objects.count() == 3 and len(mail.outbox) == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_tabs_accepting_at_once_make_one_membership(project, lead):
    issued = invite_member(project=project, email="nora@example.com", role="expert", invited_by=lead)
    nora = UserFactory(username="nora", email="nora@example.com")
    results, errors = run_at_once(lambda: accept_invitation(token=issued.token, user=nora), [(), (), ()])
    assert len(results) == 1 and len(errors) == 2
    assert all(isinstance(error, InvitationUsed) for error in errors)
    assert Membership.objects.filter(user=nora, project=project).count() == 1
    assert AuditEvent.objects.filter(action="member.added").count() == 1
