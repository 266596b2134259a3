"""A lead demoted by another lead at the same moment does not act once more: the manager check of role changes,
removals and invitations is asked after the project's row lock, so it reads the membership the demotion left."""

import threading
import time

import pytest
from django.db import connection, transaction

from labeling.exceptions import NotFound
from labeling.models import AuditEvent, Invitation, Membership
from labeling.services.invitations import invite_member
from labeling.services.members import change_role, remove_member
from tests.factories import MembershipFactory, UserFactory
from tests.helpers.concurrency import run_at_once


def membership_of(user, project):
    return Membership.objects.get(user=user, project=project)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def waits_on_a_lock(pid: int) -> bool:
    # pg_locks is read live (pg_stat_activity would be a snapshot for the rest of this transaction).
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", [pid])
        return cursor.fetchone()[0]


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
