"""Members: a lead changes roles and removes members; a project always keeps a lead; removal (and a role that
cannot label) frees leases; removal (and a role that cannot manage) revokes the invitations the member sent."""

import pytest

from labeling.exceptions import Conflict, InvalidInput, InvitationRevoked, NotFound
from labeling.models import AuditEvent, Invitation, Label, Membership, Queue, Slot, SlotState
from labeling.services.assignment import next_item
from labeling.services.invitations import accept_invitation, invite_member
from labeling.services.members import change_role, remove_member
from labeling.web import audit_sentences
from tests.factories import MembershipFactory, UserFactory
from tests.helpers.labeling import label_outputs, make_items


def membership_of(user, project):
    return Membership.objects.get(user=user, project=project)


def test_a_lead_changes_a_role_and_it_is_audited_with_from_and_to(project, lead, expert):
    changed = change_role(membership=membership_of(expert, project), role="engineer", changed_by=lead)
    assert changed.role == "engineer" and membership_of(expert, project).role == "engineer"
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.details == {"user": "erin", "from": "expert", "to": "engineer", "leases_released": 0}
    assert event.actor == lead


def test_the_same_role_again_changes_and_audits_nothing(project, lead, expert):
    change_role(membership=membership_of(expert, project), role="expert", changed_by=lead)
    assert not AuditEvent.objects.filter(action="member.role_changed").exists()


def test_an_unknown_role_is_refused(project, lead, expert):
    with pytest.raises(InvalidInput):
        change_role(membership=membership_of(expert, project), role="owner", changed_by=lead)
    assert membership_of(expert, project).role == "expert"


def test_the_last_lead_cannot_be_demoted_or_removed(project, lead):
    with pytest.raises(Conflict, match="last lead of Support bot"):
        change_role(membership=membership_of(lead, project), role="expert", changed_by=lead)
    with pytest.raises(Conflict, match="last lead"):
        remove_member(membership=membership_of(lead, project), removed_by=lead)
    assert membership_of(lead, project).role == "lead"
    assert not AuditEvent.objects.filter(action__startswith="member.").exists()


def test_with_a_second_lead_one_may_step_down(project, lead):
    second = MembershipFactory(project=project, role="lead", user=UserFactory(username="leo")).user
    change_role(membership=membership_of(lead, project), role="expert", changed_by=lead)
    with pytest.raises(Conflict, match="leo is the last lead"):
        remove_member(membership=membership_of(second, project), removed_by=second)


def test_an_expert_or_another_projects_lead_changes_nothing(project, expert, other_expert, other_project):
    other_lead = MembershipFactory(project=other_project, role="lead", user=UserFactory(username="olga")).user
    for user in (expert, other_lead):
        with pytest.raises(NotFound):
            change_role(membership=membership_of(other_expert, project), role="lead", changed_by=user)
        with pytest.raises(NotFound):
            remove_member(membership=membership_of(other_expert, project), removed_by=user)
    assert membership_of(other_expert, project).role == "expert"


def test_removal_frees_the_members_leases_at_once_and_keeps_their_labels(project, lead, expert, other_project):
    label_outputs(project, 1, answers=({"correct": True},), experts=[expert])
    queue = Queue.objects.get(project=project)
    make_items(project, 2)
    held = Slot.objects.get(item=next_item(expert=expert, queue=queue), expert=expert)
    assert held.state == SlotState.LEASED
    # A lease in another project stays: removal is from this project only.
    MembershipFactory(project=other_project, role="expert", user=expert)
    label_outputs(other_project, 1, answers=({"correct": True},), experts=[expert], resolve=False)
    make_items(other_project, 1)
    elsewhere = next_item(expert=expert, queue=Queue.objects.get(project=other_project))

    released = remove_member(membership=membership_of(expert, project), removed_by=lead)

    assert released == 1
    held.refresh_from_db()
    assert (held.state, held.expert, held.lease_expires_at) == (SlotState.FREE, None, None)
    assert Slot.objects.filter(item=elsewhere, expert=expert, state=SlotState.LEASED).exists()
    assert Label.objects.filter(expert=expert, item__project=project).count() == 1
    assert not Membership.objects.filter(user=expert, project=project).exists()
    event = AuditEvent.objects.get(action="member.removed")
    assert event.details == {"user": "erin", "role": "expert", "leases_released": 1}


def test_removing_someone_removed_meanwhile_is_a_clear_conflict(project, lead, expert):
    membership = membership_of(expert, project)
    remove_member(membership=membership, removed_by=lead)
    with pytest.raises(Conflict, match="no longer a member"):
        remove_member(membership=membership, removed_by=lead)


def hold_a_lease(project, expert, resolve=True):
    label_outputs(project, 1, answers=({"correct": True},), experts=[expert], resolve=resolve)
    make_items(project, 2)
    held = Slot.objects.get(item=next_item(expert=expert, queue=Queue.objects.get(project=project)), expert=expert)
    assert held.state == SlotState.LEASED
    return held


@pytest.mark.parametrize("role", ["engineer", "admin"])
def test_a_role_that_cannot_label_frees_the_members_leases_in_the_project(project, lead, expert, other_project, role):
    held = hold_a_lease(project, expert)
    MembershipFactory(project=other_project, role="expert", user=expert)
    elsewhere = hold_a_lease(other_project, expert, resolve=False)

    change_role(membership=membership_of(expert, project), role=role, changed_by=lead)

    held.refresh_from_db()
    assert (held.state, held.expert, held.leased_at, held.lease_expires_at) == (SlotState.FREE, None, None, None)
    elsewhere.refresh_from_db()
    assert (elsewhere.state, elsewhere.expert) == (SlotState.LEASED, expert)  # another project's lease stays
    event = AuditEvent.objects.get(action="member.role_changed")
    assert event.details == {"user": "erin", "from": "expert", "to": role, "leases_released": 1}


def test_a_role_that_labels_keeps_the_members_leases(project, lead, expert):
    held = hold_a_lease(project, expert)
    change_role(membership=membership_of(expert, project), role="lead", changed_by=lead)
    held.refresh_from_db()
    assert (held.state, held.expert) == (SlotState.LEASED, expert)
    assert "leases_released" not in AuditEvent.objects.get(action="member.role_changed").details


# Invitations outlive no sender ---------------------------------------------------------------------------------


@pytest.fixture
def leo(project):
    return MembershipFactory(project=project, role="lead", user=UserFactory(username="leo")).user


def invitation_by(project, sender, email):
    return invite_member(project=project, email=email, role="expert", invited_by=sender)


def pending_emails(project):
    return sorted(Invitation.objects.filter(project=project).pending().values_list("email", flat=True))


def test_removing_a_lead_revokes_the_invitations_they_sent_in_the_project(project, lead, leo, other_project):
    theirs = invitation_by(project, leo, "nora@example.com")
    invitation_by(project, lead, "kim@example.com")
    MembershipFactory(project=other_project, role="lead", user=leo)
    invitation_by(other_project, leo, "otto@example.com")

    remove_member(membership=membership_of(leo, project), removed_by=lead)

    assert pending_emails(project) == ["kim@example.com"] and pending_emails(other_project) == ["otto@example.com"]
    event = AuditEvent.objects.get(action="member.invitation_revoked")
    assert event.actor == lead and event.project == project
    assert event.details == {
        "invitation": theirs.invitation.pk,
        "email": "nora@example.com",
        "reason": "its sender leo was removed from the project",
    }
    assert audit_sentences.sentence(event.action, event.details) == (
        "Revoked the invitation of nora@example.com: its sender leo was removed from the project"
    )
    nora = UserFactory(username="nora", email="nora@example.com")
    with pytest.raises(InvitationRevoked):
        accept_invitation(token=theirs.token, user=nora)


@pytest.mark.parametrize("role", ["expert", "engineer"])
def test_a_lead_who_no_longer_manages_has_their_invitations_revoked(project, lead, leo, role):
    invitation_by(project, leo, "nora@example.com")
    invitation_by(project, leo, "noah@example.com")

    change_role(membership=membership_of(leo, project), role=role, changed_by=lead)

    assert pending_emails(project) == []
    events = AuditEvent.objects.filter(action="member.invitation_revoked")
    assert sorted(event.details["email"] for event in events) == ["noah@example.com", "nora@example.com"]
    assert {event.details["reason"] for event in events} == {
        f"its sender leo became {role} and no longer manages the project"
    }


def test_a_lead_made_admin_keeps_their_invitations_and_accepted_ones_stay_accepted(project, lead, leo):
    accepted = invitation_by(project, leo, "nora@example.com")
    accept_invitation(token=accepted.token, user=UserFactory(username="nora", email="nora@example.com"))
    invitation_by(project, leo, "noah@example.com")

    change_role(membership=membership_of(leo, project), role="admin", changed_by=lead)
    assert pending_emails(project) == ["noah@example.com"]

    change_role(membership=membership_of(leo, project), role="expert", changed_by=lead)
    accepted.invitation.refresh_from_db()
    assert accepted.invitation.revoked_at is None and accepted.invitation.accepted_at is not None
    assert AuditEvent.objects.filter(action="member.invitation_revoked").count() == 1


def test_a_refused_removal_revokes_nothing(project, lead):
    invitation_by(project, lead, "nora@example.com")
    with pytest.raises(Conflict, match="last lead"):
        remove_member(membership=membership_of(lead, project), removed_by=lead)
    assert pending_emails(project) == ["nora@example.com"]
    assert not AuditEvent.objects.filter(action="member.invitation_revoked").exists()


def test_a_lead_whose_account_is_deactivated_does_not_count_as_the_projects_lead(project, lead):
    """Deactivating an account is how an operator cuts a person off: a project whose only other lead is such an
    account would be left with nobody who can manage it, so the last active lead stays."""
    leo = MembershipFactory(project=project, role="lead", user=UserFactory(username="leo", is_active=False)).user

    with pytest.raises(Conflict, match="lena is the last lead of Support bot"):
        change_role(membership=membership_of(lead, project), role="expert", changed_by=lead)
    with pytest.raises(Conflict, match="accounts are deactivated"):
        remove_member(membership=membership_of(lead, project), removed_by=lead)
    assert membership_of(lead, project).role == "lead"
    # The deactivated lead may go: the active one stays.
    remove_member(membership=membership_of(leo, project), removed_by=lead)
    assert not Membership.objects.filter(user=leo, project=project).exists()
