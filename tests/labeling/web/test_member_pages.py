"""The members page (leads and admins: roles, removal, invitations) and the public invitation page.

Everyone else gets a 404 and changes nothing; every form needs its CSRF token; sending too many
invitations is a 429 with a message; a bad invitation link says why and creates nothing.
"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labeling.models import AuditEvent, Invitation, Membership, Queue, Slot, SlotState
from labeling.selectors.invitations import was_replaced
from labeling.services.invitations import invite_member, resend_invitation
from labeling.services.signin import create_invited_account
from tests.factories import MembershipFactory, UserFactory
from tests.helpers.labeling import label_outputs, make_items, take

User = get_user_model()
PASSWORD = "a-long-unusual-passphrase-42"


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


@pytest.fixture
def other_lead(other_project):
    return MembershipFactory(project=other_project, role="lead", user=UserFactory(username="olga")).user


def members_url(project, rest=""):
    return f"/p/{project.slug}/manage/members/{rest}"


def invitation_url(project, invitation, action):
    return f"/p/{project.slug}/manage/invitations/{invitation.pk}/{action}"


def invited(project, lead, email="nora@example.com", role="expert"):
    return invite_member(project=project, email=email, role=role, invited_by=lead)


def emailed_link(message) -> str:
    return re.search(r"http://127\.0\.0\.1:8000(/invitations/\S+)", message.body).group(1)


# The members page --------------------------------------------------------------------------------------------


def test_the_page_lists_every_member_with_role_activity_and_this_weeks_labels(lead_client, project, lead, expert):
    label_outputs(project, 2, answers=({"correct": True},), experts=[expert])
    response = lead_client.get(members_url(project))
    assert response.status_code == 200
    rows = {row.user.username: row for row in response.context["rows"]}
    assert set(rows) == {"lena", "erin"}
    assert rows["erin"].labels_this_week == 2 and rows["erin"].last_active is not None
    assert rows["lena"].labels_this_week == 0
    html = response.content.decode()
    assert 'data-member="erin"' in html and "Members</a>" in html and "Send invitation" in html


def test_the_member_list_runs_a_fixed_number_of_queries(lead_client, project, lead, expert, django_assert_num_queries):
    """Session, user, membership, the members (one query, counts annotated), the queues' named experts, who may label
    in a queue that names nobody, the invitations."""
    for n in range(5):
        MembershipFactory(project=project, role="expert", user=UserFactory(username=f"extra{n}"))
    invited(project, lead)
    invited(project, lead, email="omar@example.com")
    with django_assert_num_queries(7):
        assert lead_client.get(members_url(project)).status_code == 200


def test_an_admin_member_may_manage_members(client, project):
    admin = MembershipFactory(project=project, role="admin", user=UserFactory(username="ada")).user
    client.force_login(admin)
    assert client.get(members_url(project)).status_code == 200


@pytest.mark.parametrize("persona", ["expert", "engineer", "outsider", "other_lead"])
def test_it_validates_ownership(client, project, lead, expert, persona, request, django_capture_on_commit_callbacks):
    """Experts, engineers, outsiders and another project's lead get 404 everywhere and change nothing."""
    user = request.getfixturevalue(persona)
    invitation = invited(project, lead).invitation
    target = Membership.objects.get(user=expert, project=project)
    client.force_login(user)
    assert client.get(members_url(project)).status_code == 404
    with django_capture_on_commit_callbacks() as callbacks:
        posts = {
            members_url(project, "invite"): {"email": "mallory@example.com", "role": "lead"},
            members_url(project, f"{target.pk}/role"): {"role": "lead"},
            members_url(project, f"{target.pk}/remove"): {},
            invitation_url(project, invitation, "resend"): {},
            invitation_url(project, invitation, "revoke"): {},
        }
        for url, data in posts.items():
            assert client.post(url, data).status_code == 404, url
    assert callbacks == []
    assert Invitation.objects.get().revoked_at is None and Invitation.objects.get().send_count == 1
    assert Membership.objects.get(pk=target.pk).role == "expert"
    assert AuditEvent.objects.filter(action__startswith="member.").count() == 1  # the invitation above


def test_ids_of_another_project_are_not_found(lead_client, project, other_project, other_lead, outsider):
    foreign_member = Membership.objects.get(user=outsider)
    foreign_invitation = invited(other_project, other_lead).invitation
    assert lead_client.post(members_url(project, f"{foreign_member.pk}/role"), {"role": "lead"}).status_code == 404
    assert lead_client.post(members_url(project, f"{foreign_member.pk}/remove")).status_code == 404
    assert lead_client.post(invitation_url(project, foreign_invitation, "revoke")).status_code == 404
    assert lead_client.post(invitation_url(project, foreign_invitation, "resend")).status_code == 404
    assert Membership.objects.get(pk=foreign_member.pk).role == "expert"
    assert Invitation.objects.get().revoked_at is None


def test_forms_are_protected_against_csrf(project, lead, expert):
    invitation = invited(project, lead).invitation
    target = Membership.objects.get(user=expert, project=project)
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    assert client.post(members_url(project, "invite"), {"email": "x@example.com", "role": "expert"}).status_code == 403
    assert client.post(members_url(project, f"{target.pk}/role"), {"role": "lead"}).status_code == 403
    assert client.post(members_url(project, f"{target.pk}/remove")).status_code == 403
    assert client.post(invitation_url(project, invitation, "resend")).status_code == 403
    assert client.post(invitation_url(project, invitation, "revoke")).status_code == 403
    assert Invitation.objects.count() == 1 and Invitation.objects.get().revoked_at is None
    assert Membership.objects.get(pk=target.pk).role == "expert"
    page = client.get(members_url(project)).content.decode()
    assert page.count('name="csrfmiddlewaretoken"') >= 6  # invite, role, remove, resend, revoke, sign out


# Invitations on the page -------------------------------------------------------------------------------------


def test_a_lead_invites_from_the_page_and_sees_it_pending(lead_client, project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = lead_client.post(members_url(project, "invite"), {"email": "Nora@Example.com", "role": "engineer"})
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == ["nora@example.com"] and "as engineer" in message.body
    page = lead_client.get(members_url(project)).content.decode()
    assert 'data-invitation="nora@example.com"' in page and "Invitation sent to nora@example.com" in page


def test_an_override_in_an_invited_address_reverses_nothing_after_it_in_the_messages(lead_client, project):
    """A domain with a right-to-left override (EmailField takes any letters there): the messages after sending and
    sending again isolate the address, as the members page does, so the words after it read as written."""
    address = "nora@ex\u202eample.com"

    sent = lead_client.post(members_url(project, "invite"), {"email": address, "role": "expert"}, follow=True)
    again = lead_client.post(invitation_url(project, Invitation.objects.get(), "resend"), follow=True)

    assert f"Invitation sent to \u2068{address}\u2069 as expert;" in sent.content.decode()
    assert f"Invitation sent again to \u2068{address}\u2069, with a new link" in again.content.decode()


def test_the_pending_invitations_say_their_times_are_in_the_projects_zone_as_other_pages_do(lead_client, project, lead):
    """The keys, audit log and rubric pages note the zone their times are in with one sentence; the invitations
    table says it in the same words, its times in that zone."""
    project.time_zone = "Asia/Tokyo"
    project.save(update_fields=["time_zone"])
    sent = timezone.localtime(invited(project, lead).invitation.sent_at, project.tzinfo)

    page = lead_client.get(members_url(project)).content.decode()

    section = page[page.index("<h2>Pending invitations</h2>") :]
    assert '<p class="help">Times in the project\'s time zone, Asia/Tokyo.</p>' in section
    assert f"{sent:%-d %b, %H:%M}" in section


@pytest.mark.parametrize(
    ("data", "message"),
    [({"email": "not-an-email", "role": "expert"}, "valid email"), ({"email": "x@example.com", "role": "owner"}, "")],
)
def test_bad_invite_input_re_renders_with_a_message_and_stores_nothing(lead_client, project, data, message):
    response = lead_client.post(members_url(project, "invite"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Invitation.objects.exists() and mail.outbox == []


def test_inviting_a_member_is_refused_on_the_page(lead_client, project, expert):
    response = lead_client.post(members_url(project, "invite"), {"email": expert.email, "role": "lead"})
    assert response.status_code == 409
    assert "is a member of Support bot already" in response.content.decode()
    assert not Invitation.objects.exists()


def test_too_many_invitations_in_an_hour_is_a_429_with_a_message(lead_client, project, lead, settings):
    settings.INVITATIONS_PER_PROJECT_PER_HOUR = 2
    for n in range(2):
        assert (
            lead_client.post(
                members_url(project, "invite"), {"email": f"p{n}@example.com", "role": "expert"}
            ).status_code
            == 302
        )
    response = lead_client.post(members_url(project, "invite"), {"email": "p2@example.com", "role": "expert"})
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    assert "2 invitations in the last hour" in response.content.decode()
    resend = lead_client.post(invitation_url(project, Invitation.objects.first(), "resend"))
    assert resend.status_code == 429 and "Retry-After" in resend.headers
    assert Invitation.objects.count() == 2


def test_resend_and_revoke_from_the_page(lead_client, project, lead, django_capture_on_commit_callbacks):
    issued = invited(project, lead)
    with django_capture_on_commit_callbacks(execute=True):
        assert lead_client.post(invitation_url(project, issued.invitation, "resend")).status_code == 302
    new_link = emailed_link(mail.outbox[-1])
    assert issued.token not in new_link
    assert lead_client.post(invitation_url(project, issued.invitation, "revoke")).status_code == 302
    assert Invitation.objects.get().revoked_at is not None
    assert Client().get(new_link).status_code == 410
    assert 'data-invitation="nora@example.com"' not in lead_client.get(members_url(project)).content.decode()


# Roles and removal -------------------------------------------------------------------------------------------


def test_a_lead_changes_a_role_from_the_page_and_it_is_audited(lead_client, project, expert):
    target = Membership.objects.get(user=expert, project=project)
    assert lead_client.post(members_url(project, f"{target.pk}/role"), {"role": "lead"}).status_code == 302
    assert Membership.objects.get(pk=target.pk).role == "lead"
    assert AuditEvent.objects.get(action="member.role_changed").details["to"] == "lead"


def test_the_last_lead_is_kept_with_a_clear_message(lead_client, project, lead):
    own = Membership.objects.get(user=lead, project=project)
    for url, data in ((f"{own.pk}/role", {"role": "expert"}), (f"{own.pk}/remove", {})):
        response = lead_client.post(members_url(project, url), data)
        assert response.status_code == 409
        assert "lena is the last lead of Support bot" in response.content.decode()
    assert Membership.objects.get(pk=own.pk).role == "lead"


def test_a_removed_expert_loses_access_on_the_next_request_and_their_lease_is_free(client, project, lead, expert):
    label_outputs(project, 1, answers=({"correct": True},), experts=[expert])
    make_items(project, 1)
    queue = Queue.objects.get(project=project)
    expert_client = Client()
    expert_client.force_login(expert)
    item = take(expert_client, queue)
    assert expert_client.get(f"/p/{project.slug}/items/{item.pk}/").status_code == 200

    client.force_login(lead)
    target = Membership.objects.get(user=expert, project=project)
    response = client.post(members_url(project, f"{target.pk}/remove"))
    assert response.status_code == 302
    assert "1 item they held is free for others now." in client.get(response["Location"]).content.decode()

    slot = Slot.objects.get(item=item, number=1)
    assert (slot.state, slot.expert_id) == (SlotState.FREE, None)
    # The same session, still signed in: every page of the project is closed now.
    assert expert_client.get(f"/p/{project.slug}/items/{item.pk}/").status_code == 404
    assert expert_client.get(f"/p/{project.slug}/").status_code == 404
    assert expert_client.post(f"/p/{project.slug}/q/{queue.slug}/next").status_code == 404


@pytest.mark.parametrize("how", ["remove", "make engineer"])
def test_a_lead_is_told_which_queues_the_last_eligible_expert_leaves_without_anyone_to_label_them(
    lead_client, project, expert, other_expert, how
):
    """Dana is the only expert "Escalations" admits; "Shared" admits Dana and Erin. Before Dana is removed (or made an
    engineer), her row says she is the last eligible expert of "Escalations"; after, the message names that queue, and
    the queue list and the queue's page say nobody can label it, naming Dana. "Shared" is still labeled by Erin."""
    escalations = Queue.objects.create(project=project, slug="escalations", name="Escalations")
    escalations.eligible_experts.set([expert])
    shared = Queue.objects.create(project=project, slug="shared", name="Shared")
    shared.eligible_experts.set([expert, other_expert])
    name = expert.username
    target = Membership.objects.get(user=expert, project=project)

    page = lead_client.get(members_url(project)).content.decode()
    assert (
        f"<bdi>{name}</bdi> is the last eligible expert of <bdi>Escalations</bdi>: nobody will be able to label it."
        in page
    )

    if how == "remove":
        response = lead_client.post(members_url(project, f"{target.pk}/remove"), follow=True)
    else:
        response = lead_client.post(members_url(project, f"{target.pk}/role"), {"role": "engineer"}, follow=True)
    told = response.content.decode()
    assert f"{name} was the last eligible expert of “Escalations”: nobody can label it now." in told
    assert "Shared" not in told.split("was the last eligible expert of")[1].split("</p>")[0]

    listing = lead_client.get(f"/p/{project.slug}/manage/queues/").content.decode()
    assert listing.count("Nobody can label this queue.") == 1
    assert listing.count(f"<bdi>{name}</bdi> (no longer an expert)") == 2  # in both queues' lists of experts
    assert f"It names only <bdi>{name}</bdi> as eligible expert, no longer an expert of this project" in listing
    editor = lead_client.get(f"/p/{project.slug}/manage/queues/{escalations.pk}/").content.decode()
    assert "Nobody can label this queue." in editor
    assert (
        "Nobody can label this queue."
        not in lead_client.get(f"/p/{project.slug}/manage/queues/{shared.pk}/").content.decode()
    )


def _queue_pages(client, queue) -> tuple[str, str]:
    """The lead's queue list and the queue's own page, as text."""
    base = f"/p/{queue.project.slug}/manage/queues/"
    return client.get(base).content.decode(), client.get(f"{base}{queue.pk}/").content.decode()


def _deactivated_then_pages(client, user, queue) -> tuple[str, str]:
    """An operator deactivates the user's account (their membership stays); then `_queue_pages`."""
    user.is_active = False
    user.save(update_fields=["is_active"])
    return _queue_pages(client, queue)


def test_a_queue_whose_only_expert_was_deactivated_says_nobody_can_label_it(lead_client, project, expert, other_expert):
    """Escalations admits only Dana; Shared admits Dana and Erin. An operator deactivates Dana's account (her
    membership stays): the queue list and Escalations' page say nobody can label it, naming Dana; Shared does not."""
    escalations = Queue.objects.create(project=project, slug="escalations", name="Escalations")
    escalations.eligible_experts.set([expert])
    shared = Queue.objects.create(project=project, slug="shared", name="Shared")
    shared.eligible_experts.set([expert, other_expert])
    assert "Nobody can label this queue." not in _queue_pages(lead_client, escalations)[0]

    listing, editor = _deactivated_then_pages(lead_client, expert, escalations)
    assert listing.count("Nobody can label this queue.") == 1
    assert f"It names only <bdi>{expert.username}</bdi> as eligible expert" in listing
    assert "Nobody can label this queue." in editor
    assert f"{expert.username} (account deactivated)" in editor
    shared_page = lead_client.get(f"/p/{project.slug}/manage/queues/{shared.pk}/").content.decode()
    assert "Nobody can label this queue." not in shared_page


@pytest.fixture
def admin_client(client, project):
    """The project run by an admin, who does not label: its experts are the only ones who may."""
    client.force_login(MembershipFactory(project=project, role="admin", user=UserFactory(username="ada")).user)
    return client


@pytest.mark.parametrize("how", ["remove", "make engineer"])
def test_a_lead_is_told_when_the_projects_only_expert_leaves_a_queue_for_every_expert_without_anyone_to_label_it(
    admin_client, project, expert, how
):
    """Sample names no eligible experts: every expert and lead of the project may label it; Escalations names Erin.
    Erin is the project's one expert, and its admin does not label. Before she is removed (or made an engineer), her
    row says she is the last eligible expert of both; after, the message names both, and the queue list and Sample's
    page say nobody can label it, as a queue for every expert with nobody in the project who may."""
    sample = Queue.objects.create(project=project, slug="sample", name="Sample")
    Queue.objects.create(project=project, slug="escalations", name="Escalations").eligible_experts.set([expert])
    target = Membership.objects.get(user=expert, project=project)

    page = admin_client.get(members_url(project)).content.decode()
    assert (
        "<bdi>erin</bdi> is the last eligible expert of <bdi>Escalations</bdi>, <bdi>Sample</bdi>: nobody will be able "
        "to label them." in page
    )

    if how == "remove":
        response = admin_client.post(members_url(project, f"{target.pk}/remove"), follow=True)
    else:
        response = admin_client.post(members_url(project, f"{target.pk}/role"), {"role": "engineer"}, follow=True)
    told = response.content.decode()
    assert "erin was the last eligible expert of “Escalations”, “Sample”: nobody can label them now." in told

    listing = admin_client.get(f"/p/{project.slug}/manage/queues/").content.decode()
    assert listing.count("Nobody can label this queue.") == 2
    assert "It names no eligible experts, so every expert and lead of this project may label it" in listing
    editor = admin_client.get(f"/p/{project.slug}/manage/queues/{sample.pk}/").content.decode()
    assert "Nobody can label this queue." in editor and "It names no eligible experts" in editor


def test_a_queue_for_every_expert_whose_projects_only_expert_was_deactivated_says_nobody_can_label_it(
    admin_client, project, expert
):
    """Sample names no eligible experts; Erin is the project's one expert. An operator deactivates her account (her
    membership stays): the queue list and Sample's page say nobody can label it."""
    sample = Queue.objects.create(project=project, slug="sample", name="Sample")
    assert "Nobody can label this queue." not in _queue_pages(admin_client, sample)[0]

    listing, editor = _deactivated_then_pages(admin_client, expert, sample)
    assert listing.count("Nobody can label this queue.") == 1
    assert "It names no eligible experts, so every expert and lead of this project may label it" in listing
    assert "Nobody can label this queue." in editor


def test_a_queue_for_every_expert_keeps_its_labelers_while_a_lead_may_label(lead_client, project, lead, expert):
    """Leads label too: with a lead in the project, its one expert is not the last who may label a queue for every
    expert, and removing her leaves the queue to the lead, unmarked; the lead is its last eligible expert now."""
    Queue.objects.create(project=project, slug="sample", name="Sample")
    target = Membership.objects.get(user=expert, project=project)
    assert "last eligible expert" not in lead_client.get(members_url(project)).content.decode()

    told = lead_client.post(members_url(project, f"{target.pk}/remove"), follow=True).content.decode()
    assert "erin was removed" in told and "erin was the last eligible expert" not in told
    assert "<bdi>lena</bdi> is the last eligible expert of <bdi>Sample</bdi>: nobody will be able to label it." in told
    assert "Nobody can label this queue." not in lead_client.get(f"/p/{project.slug}/manage/queues/").content.decode()


# The invitation page -----------------------------------------------------------------------------------------


def test_a_new_person_sets_a_password_and_lands_on_the_project(
    client, project, lead, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invited(project, lead)
    link = emailed_link(mail.outbox[0])
    page = client.get(link)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Join <bdi>Support bot</bdi>" in html and "lena" in html and "expert" in html
    assert "Create your account" in html

    response = client.post(link, {"username": "nora", "password": PASSWORD, "password_again": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == f"/p/{project.slug}/"
    nora = User.objects.get(username="nora")
    assert nora.email == "nora@example.com"
    assert Membership.objects.get(user=nora, project=project).role == "expert"
    assert client.get(f"/p/{project.slug}/").status_code == 200  # signed in
    assert client.get(link).headers["Location"] == f"/p/{project.slug}/"  # used, by her: to the project
    assert Client().get(link).status_code == 410  # used, for anyone else


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"username": "nora", "password": "short", "password_again": "short"}, "too short"),
        ({"username": "nora", "password": PASSWORD, "password_again": PASSWORD + "x"}, "The two passwords differ"),
        ({"username": "lena", "password": PASSWORD, "password_again": PASSWORD}, "username is taken"),
    ],
)
def test_a_bad_account_form_says_why_and_creates_nothing(client, project, lead, data, message):
    issued = invited(project, lead)
    response = client.post(f"/invitations/{issued.token}", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not User.objects.filter(email="nora@example.com").exists()
    assert Invitation.objects.get().accepted_at is None


def test_an_existing_account_is_asked_to_sign_in_and_then_accepts(client, project, lead):
    nora = UserFactory(username="nora", email="nora@example.com")
    issued = invited(project, lead, role="engineer")
    link = f"/invitations/{issued.token}"
    page = client.get(link).content.decode()
    assert "Sign in to accept" in page and f"/login/?next=%2Finvitations%2F{issued.token}" in page
    assert "Create your account" not in page
    assert client.post(link, {"username": "nora2", "password": PASSWORD, "password_again": PASSWORD}).status_code == 200
    assert not User.objects.filter(username="nora2").exists()

    client.force_login(nora)
    assert "Accept and open <bdi>Support bot</bdi>" in client.get(link).content.decode()
    response = client.post(link)
    assert response.status_code == 302
    assert Membership.objects.get(user=nora, project=project).role == "engineer"


@override_settings(OIDC_ISSUER="https://idp.example.com", OIDC_NAME="Acme sign-in", PASSWORD_SIGN_IN=False)
def test_with_passwords_off_a_new_person_gets_the_sso_button_and_a_posted_form_is_refused(client, project, lead):
    issued = invited(project, lead)
    link = f"/invitations/{issued.token}"

    page = client.get(link).content.decode()
    assert 'action="/accounts/oidc/sso/login/"' in page and "Acme sign-in" in page
    assert f'name="next" value="{link}"' in page and 'name="csrfmiddlewaretoken"' in page
    assert 'name="password"' not in page and "Create your account" not in page

    response = client.post(link, {"username": "nora", "password": PASSWORD, "password_again": PASSWORD})
    assert response.status_code == 403
    assert "Password sign-in is turned off here: use Acme sign-in." in response.content.decode()
    assert not User.objects.filter(email="nora@example.com").exists()
    assert Invitation.objects.get().accepted_at is None


def test_back_from_sso_the_invitation_it_accepted_opens_the_project(client, project, lead):
    """Single sign-on accepts the person's pending invitations, then its `next=` brings them back to the link."""
    issued = invited(project, lead)
    nora = create_invited_account(email="nora@example.com", username="nora")
    client.force_login(nora)

    response = client.get(f"/invitations/{issued.token}")

    assert response.status_code == 302 and response.headers["Location"] == f"/p/{project.slug}/"


def test_an_invitation_someone_else_used_stays_used_for_a_signed_in_visitor(client, project, lead, outsider):
    issued = invited(project, lead)
    create_invited_account(email="nora@example.com", username="nora")
    client.force_login(outsider)

    response = client.get(f"/invitations/{issued.token}")

    assert response.status_code == 410 and "used already" in response.content.decode()


def test_someone_signed_in_with_another_email_is_refused(client, project, lead, outsider):
    issued = invited(project, lead)
    client.force_login(outsider)
    for response in (client.get(f"/invitations/{issued.token}"), client.post(f"/invitations/{issued.token}")):
        assert response.status_code == 403
        page = response.content.decode()
        assert "This invitation is for <bdi>n…@example.com</bdi>" in page
        assert "nora@example.com" not in page  # masked in the heading too
    assert not Membership.objects.filter(user=outsider, project=project).exists()
    assert Invitation.objects.get().accepted_at is None


def test_bad_links_say_why_and_create_nothing(client, project, lead):
    issued = invited(project, lead)
    token = issued.token
    broken = token[:5] + ("x" if token[5] != "x" else "y") + token[6:]
    data = {"username": "nora", "password": PASSWORD, "password_again": PASSWORD}
    for link in (f"/invitations/{broken}", "/invitations/unknown"):
        for response in (client.get(link), client.post(link, data)):
            assert response.status_code == 404
            assert "This invitation link is not valid" in response.content.decode()

    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.post(f"/invitations/{token}", data)
    assert response.status_code == 410 and "expired" in response.content.decode()

    Invitation.objects.update(expires_at=timezone.now() + timedelta(days=1), revoked_at=timezone.now())
    response = client.get(f"/invitations/{token}")
    assert response.status_code == 410 and "withdrawn" in response.content.decode()
    assert not User.objects.filter(username="nora").exists()
    assert not Membership.objects.exclude(user=lead).exists()


def test_the_invitation_page_needs_its_csrf_token(project, lead):
    issued = invited(project, lead)
    client = Client(enforce_csrf_checks=True)
    data = {"username": "nora", "password": PASSWORD, "password_again": PASSWORD}
    assert client.post(f"/invitations/{issued.token}", data).status_code == 403
    assert not User.objects.filter(username="nora").exists()
    assert 'name="csrfmiddlewaretoken"' in client.get(f"/invitations/{issued.token}").content.decode()


def test_a_lead_who_removes_themselves_goes_home_and_the_project_is_closed_to_them(lead_client, project, lead):
    MembershipFactory(project=project, role="lead", user=UserFactory(username="leo"))
    own = Membership.objects.get(user=lead, project=project)
    response = lead_client.post(members_url(project, f"{own.pk}/remove"))
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert lead_client.get(members_url(project)).status_code == 404


# Links replaced by newer ones, and accounts without a password ----------------------------------------------------


@pytest.mark.parametrize("how", ["invited again", "role changed", "resent"])
def test_a_link_replaced_by_a_newer_invitation_says_so(client, project, lead, how):
    first = invited(project, lead)
    if how == "resent":
        resend_invitation(invitation=first.invitation, resent_by=lead)
    else:
        Invitation.objects.update(sent_at=timezone.now() - timedelta(minutes=5))  # not the twin of a double click
        invited(project, lead, role="engineer" if how == "role changed" else "expert")

    response = client.get(f"/invitations/{first.token}")

    assert response.status_code == 410
    assert "This link was replaced by a newer invitation: use the latest e-mail." in response.content.decode()
    assert "not valid" not in response.content.decode()
    unknown = client.get(f"/invitations/{first.token[:-2]}xy").content.decode()
    assert "This invitation link is not valid. Check that you copied the whole link." in unknown


@pytest.mark.postgres
def test_an_unknown_invitation_link_is_looked_up_by_its_hash_not_by_scanning_the_audit_log(project, lead):
    """Anyone holding a link, signed in or not, asks whether it was replaced: the query is the one the partial index
    audit_replaced_invitation answers (with sequential scans off, the plan uses it)."""
    invited(project, lead)

    with CaptureQueriesContext(connection) as queries:
        assert was_replaced("el_inv_not-a-token") is False
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "audit_replaced_invitation" in plan, plan


def test_an_invited_account_without_a_password_is_pointed_to_choosing_one(client, project, lead, django_user_model):
    """An account create_project made has no usable password: "Sign in" alone left its owner stuck."""
    django_user_model.objects.create_user(username="nora", email="nora@example.com", password=None)
    issued = invited(project, lead)

    html = client.get(f"/invitations/{issued.token}").content.decode()

    assert "Your account has no password yet" in html
    assert '<a href="/password-reset/">Forgot your password?</a>' in html
    assert "Sign in to accept" in html


def test_the_invitation_confirmation_names_the_zone_of_its_expiry(lead_client, project):
    project.time_zone = "America/New_York"
    project.save(update_fields=["time_zone"])

    response = lead_client.post(members_url(project, "invite"), {"email": "nora@example.com", "role": "expert"})

    page = lead_client.get(response.headers["Location"]).content.decode()
    assert re.search(r"the link works until \d+ \w+ \d{4}, \d\d:\d\d (EST|EDT) \(America/New_York\)", page), page


def test_the_invitation_confirmation_says_a_zone_named_as_its_abbreviation_once(lead_client, project):
    """A project in UTC read "the link works until 13 Dec 2026, 22:47 UTC (UTC).": the zone twice."""
    project.time_zone = "UTC"
    project.save(update_fields=["time_zone"])

    response = lead_client.post(members_url(project, "invite"), {"email": "nora@example.com", "role": "expert"})

    page = lead_client.get(response.headers["Location"]).content.decode()
    assert re.search(r"the link works until \d+ \w+ \d{4}, \d\d:\d\d UTC\.", page), page
    assert "(UTC)" not in page
