"""A lead demoted by another lead at the same moment does not act once more: the manager check of role changes,
removals and invitations is asked after the project's row lock, so it reads the membership the demotion left."""

import threading
import time
from unittest import mock

import pytest
from django.db import transaction

from labeling.exceptions import NotFound
from labeling.models import AuditEvent, Invitation, Membership
from labeling.services.invitations import accept_invitation, invite_member, revoke_invitation
from labeling.services.members import change_role, remove_member
from tests.factories import MembershipFactory, UserFactory
from tests.helpers.concurrency import backend_pid, run_at_once, waits_on_a_lock


def membership_of(user, project):
    return Membership.objects.get(user=user, project=project)


ACTS = {
    "change a role": lambda project, leo, expert: change_role(
        membership=membership_of(expert, project), role="engineer", changed_by=leo
    ),
    "remove a member": lambda project, leo, expert: remove_member(
        membership=membership_of(expert, project), removed_by=leo
    ),
    "invite": lambda project, leo, expert: invite_member(
        project=project, email="nora@example.com", role="lead", invited_by=leo
    ),
}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("act", ACTS)
def test_a_lead_demoted_while_waiting_for_the_project_lock_is_refused(project, lead, expert, act):
    """Lena demotes Leo and holds the project lock until Leo's request waits on it; once Lena commits, Leo's
    request is refused and changes nothing. (Checked before the lock, Leo passed while still a lead.)"""
    leo = MembershipFactory(project=project, role="lead", user=UserFactory(username="leo")).user
    demoted, leo_pid = threading.Event(), []

    def lena_demotes_leo():
        with transaction.atomic():
            change_role(membership=membership_of(leo, project), role="expert", changed_by=lead)
            demoted.set()
            deadline = time.monotonic() + 20
            while not (leo_pid and waits_on_a_lock(leo_pid[0])):
                assert time.monotonic() < deadline, "Leo's request never waited for the project lock"
                time.sleep(0.02)
        return "demoted"

    def leo_acts():
        assert demoted.wait(20)
        leo_pid.append(backend_pid())
        return ACTS[act](project, leo, expert)

    results, errors = run_at_once(lambda step: step(), [(lena_demotes_leo,), (leo_acts,)])

    assert results == ["demoted"] and [type(error) for error in errors] == [NotFound]
    assert membership_of(leo, project).role == "expert" and membership_of(expert, project).role == "expert"
    assert not Invitation.objects.exists()
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["member.role_changed"]


AGAINST_AN_ACCEPT = {
    "remove the sender": lambda project, lena, leo, invitation: remove_member(
        membership=membership_of(leo, project), removed_by=lena
    ),
    "demote the sender": lambda project, lena, leo, invitation: change_role(
        membership=membership_of(leo, project), role="expert", changed_by=lena
    ),
    "revoke the invitation": lambda project, lena, leo, invitation: revoke_invitation(
        invitation=Invitation.objects.get(pk=invitation.pk), revoked_by=lena
    ),
}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("act", AGAINST_AN_ACCEPT)
def test_an_invitation_accepted_while_a_lead_revokes_it_is_no_deadlock(project, lead, act):
    """Nora accepts Leo's invitation (holding its row, about to insert her membership) while Lena removes Leo,
    demotes him or revokes the invitation (project lock, then the invitation's row). The project lock must not
    block Nora's insert, or each waits for the other: PostgreSQL aborts one with "deadlock detected", a 500."""
    leo = MembershipFactory(project=project, role="lead", user=UserFactory(username="leo")).user
    nora = UserFactory(username="nora", email="nora@example.com")
    issued = invite_member(project=project, email="nora@example.com", role="expert", invited_by=leo)
    claimed, lena_pid = threading.Event(), []
    get_or_create = Membership.objects.get_or_create

    def insert_once_lena_waits(*args, **kwargs):
        claimed.set()  # Nora's UPDATE of the invitation row is done: Lena's request now waits for it
        deadline = time.monotonic() + 20
        while not (lena_pid and waits_on_a_lock(lena_pid[0])):
            assert time.monotonic() < deadline, "Lena's request never waited"
            time.sleep(0.02)
        return get_or_create(*args, **kwargs)

    def nora_accepts():
        return accept_invitation(token=issued.token, user=nora).role

    def lena_acts():
        assert claimed.wait(20)
        lena_pid.append(backend_pid())
        AGAINST_AN_ACCEPT[act](project, lead, leo, issued.invitation)
        return "acted"

    with mock.patch.object(Membership.objects, "get_or_create", insert_once_lena_waits):
        results, errors = run_at_once(lambda step: step(), [(nora_accepts,), (lena_acts,)])

    assert errors == [] and sorted(results) == ["acted", "expert"]  # the accept came first and stands
    assert membership_of(nora, project).role == "expert"
