"""Whom single sign-on signs in (labeling/web/sso.py), case by case; the whole flow against a real provider is
tests/integration/test_oidc_sign_in.py."""

from unittest import mock

import pytest
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client, RequestFactory, override_settings

from labeling.models import Invitation, Membership
from labeling.services.invitations import invite_member, revoke_invitation
from labeling.web.sso import SingleSignOnAdapter, verified_email
from tests.factories import UserFactory

SSO_SETTINGS = {
    "OIDC_ISSUER": "https://idp.example.com",
    "OIDC_NAME": "Acme sign-in",
    "SOCIALACCOUNT_PROVIDERS": {
        "openid_connect": {
            "APPS": [
                {
                    "provider_id": "sso",
                    "name": "Acme sign-in",
                    "client_id": "expertloop",
                    "secret": "secret",
                    "settings": {"server_url": "https://idp.example.com"},
                }
            ]
        }
    },
}


@pytest.fixture(autouse=True)
def sso_configured(settings):
    for name, value in SSO_SETTINGS.items():
        setattr(settings, name, value)


def provider_says(email: str, verified=True, **claims) -> SocialLogin:
    """A sign-in allauth has completed at the provider, not yet matched to an account."""
    userinfo = {"sub": "idp-user-1", "email": email, "email_verified": verified, **claims}
    account = SocialAccount(provider="sso", uid="idp-user-1", extra_data={"userinfo": userinfo})
    return SocialLogin(account=account, user=get_user_model()())


def pre_social_login(sociallogin: SocialLogin):
    """Run the adapter's decision; the refusal response if it refused, else the account it will sign in."""
    request = RequestFactory().get("/accounts/oidc/sso/login/callback/")
    request.user, request.session = AnonymousUser(), SessionStore()
    try:
        SingleSignOnAdapter().pre_social_login(request, sociallogin)
    except ImmediateHttpResponse as refusal:
        return refusal.response
    return sociallogin.user


@pytest.mark.parametrize(
    "claim, counts",
    [(True, True), ("true", True), ("TRUE", True), (False, False), ("false", False), (None, False), (1, False)],
)
def test_only_an_email_the_provider_verified_counts(claim, counts):
    claims = {"email": " Erin@Example.com ", "email_verified": claim}

    assert verified_email(claims) == ("erin@example.com" if counts else None)


def test_an_override_in_a_refused_email_claim_reverses_nothing_after_it():
    """The provider's claims are any text: an address with a right-to-left override (U+202E) is isolated in the
    refusal's sentence, so "is yours, so expertloop…" after it reads as written."""
    refusal = pre_social_login(provider_says("nina\u202e@example.com", verified=None))

    assert "the email address \u2068nina\u202e@example.com\u2069 is yours" in refusal.content.decode()


def test_an_email_without_a_verified_claim_is_refused_and_nothing_created(project):
    invite_member(project=project, email="nina@example.com", role="expert", invited_by=None)

    refusal = pre_social_login(provider_says("nina@example.com", verified=None))

    assert refusal.status_code == 403
    assert "did not confirm that the email address nina@example.com is yours" in refusal.content.decode()
    assert not get_user_model().objects.exists() and not SocialAccount.objects.exists()


@override_settings(OIDC_NAME="Acme <b>sign-in</b>")
def test_the_refusal_page_escapes_what_the_provider_and_settings_say(db):
    refusal = pre_social_login(provider_says("<script>x</script>@example.com", verified=False))

    page = refusal.content.decode()
    assert "<script>x" not in page and "&lt;script&gt;x" in page
    assert "<b>sign-in" not in page


def test_an_existing_account_is_linked_and_accepts_the_invitations_to_its_email(expert, other_project):
    invite_member(project=other_project, email="erin@example.com", role="lead", invited_by=None)

    signed_in = pre_social_login(provider_says("ERIN@example.com"))

    assert signed_in == expert
    assert SocialAccount.objects.get(uid="idp-user-1").user == expert
    assert Membership.objects.get(user=expert, project=other_project).role == "lead"


def test_an_account_with_an_invitation_but_no_project_yet_is_linked_and_joins(other_project):
    nora = UserFactory(username="nora", email="nora@example.com")
    invite_member(project=other_project, email="nora@example.com", role="expert", invited_by=None)

    assert pre_social_login(provider_says("nora@example.com")) == nora
    assert SocialAccount.objects.get().user == nora
    assert Membership.objects.get(user=nora).project == other_project


def test_an_account_in_no_project_and_without_an_invitation_is_refused_and_not_linked(db):
    UserFactory(username="nora", email="nora@example.com")

    refusal = pre_social_login(provider_says("nora@example.com"))

    assert refusal.status_code == 403
    assert "not a member of any project here. Ask a lead of your project to invite nora@example.com." in (
        refusal.content.decode()
    )
    assert not SocialAccount.objects.exists()


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
def test_an_operator_s_account_is_never_linked_by_its_email(expert, other_project, flag):
    """Whoever controls the provider's emails must not become staff by asserting one: refused even as a member
    with a pending invitation, and the invitation stays pending."""
    setattr(expert, flag, True)
    expert.save(update_fields=[flag])
    invite_member(project=other_project, email="erin@example.com", role="lead", invited_by=None)

    refusal = pre_social_login(provider_says("erin@example.com"))

    assert refusal.status_code == 403
    assert "an operator links this account in the admin" in refusal.content.decode()
    assert not SocialAccount.objects.exists()
    assert Invitation.objects.get().accepted_at is None
    assert not Membership.objects.filter(user=expert, project=other_project).exists()


def test_an_operator_s_account_an_operator_linked_signs_in_normally(expert):
    expert.is_staff = expert.is_superuser = True
    expert.save(update_fields=["is_staff", "is_superuser"])
    SocialAccount.objects.create(user=expert, provider="sso", uid="idp-user-1")
    login = provider_says("erin@example.com")
    login.user = expert  # what allauth's lookup by the provider's user id found

    assert pre_social_login(login) == expert
    assert SocialAccount.objects.get().user == expert


def test_an_operator_links_an_operator_s_account_in_the_admin_and_may_not_edit_the_link(admin_client, expert):
    """The way in for staff that the adapter refuses to link by email: the admin's add form, then read-only."""
    page = admin_client.get("/admin/socialaccount/socialaccount/add/").content.decode()
    assert 'value="sso"' in page and "Acme sign-in" in page

    response = admin_client.post(
        "/admin/socialaccount/socialaccount/add/", {"user": expert.pk, "provider": "sso", "uid": "idp-user-1"}
    )

    assert response.status_code == 302, response.content.decode()[:500]
    link = SocialAccount.objects.get()
    assert (link.user, link.provider, link.uid) == (expert, "sso", "idp-user-1")
    edit = admin_client.post(
        f"/admin/socialaccount/socialaccount/{link.pk}/change/", {"user": expert.pk, "provider": "sso", "uid": "x"}
    )
    assert edit.status_code == 302
    link.refresh_from_db()
    assert link.uid == "idp-user-1"
    refused = admin_client.post(
        "/admin/socialaccount/socialaccount/add/", {"user": expert.pk, "provider": "google", "uid": "idp-user-2"}
    )
    assert refused.status_code == 200 and SocialAccount.objects.count() == 1


def test_an_operator_by_group_is_never_linked_by_email(expert):
    """The operator permission can come from a group, without is_staff: such an account sees every project."""
    from django.contrib.auth.models import Group, Permission

    operators = Group.objects.create(name="operators")
    operators.permissions.add(Permission.objects.get(codename="operate_all_projects"))
    expert.groups.add(operators)

    refusal = pre_social_login(provider_says("erin@example.com"))

    assert refusal.status_code == 403 and "an operator links this account in the admin" in refusal.content.decode()
    assert not SocialAccount.objects.exists()


def test_a_look_alike_email_does_not_sign_in_as_another_account(expert):
    """PostgreSQL upper-cases a dotless ı to I, so a case-insensitive match pairs erın@ with erin@: not a match."""
    refusal = pre_social_login(provider_says("erın@example.com"))

    assert refusal.status_code == 403
    assert not SocialAccount.objects.exists()


def test_only_a_superuser_may_link_an_account_in_the_admin(client, expert):
    from django.contrib.auth.models import Permission

    staff = UserFactory(username="ops", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["add_socialaccount", "view_socialaccount"]))
    client.force_login(staff)

    response = client.post(
        "/admin/socialaccount/socialaccount/add/", {"user": expert.pk, "provider": "sso", "uid": "idp-user-1"}
    )

    assert response.status_code == 403 and not SocialAccount.objects.exists()


def test_an_email_two_accounts_share_is_refused(expert):
    UserFactory(username="erin2", email="Erin@example.com")

    refusal = pre_social_login(provider_says("erin@example.com"))

    assert refusal.status_code == 403 and "Several accounts here use erin@example.com" in refusal.content.decode()
    assert not SocialAccount.objects.exists()


def test_a_deactivated_account_is_refused_and_not_linked(expert):
    expert.is_active = False
    expert.save(update_fields=["is_active"])

    refusal = pre_social_login(provider_says("erin@example.com"))

    assert refusal.status_code == 403 and "deactivated" in refusal.content.decode()
    assert not SocialAccount.objects.exists()


def test_an_invited_email_gets_an_account_named_after_the_provider_username_made_free(project):
    UserFactory(username="nina", email="another-nina@example.com")
    invite_member(project=project, email="nina@example.com", role="engineer", invited_by=None)

    created = pre_social_login(provider_says("nina@example.com", preferred_username="nina", given_name="Nina"))

    assert (created.username, created.email, created.first_name) == ("nina-2", "nina@example.com", "Nina")
    assert not created.has_usable_password()
    assert Membership.objects.get(user=created, project=project).role == "engineer"
    assert SocialAccount.objects.get().user == created


def test_an_uninvited_email_is_refused_and_nothing_created(project):
    refusal = pre_social_login(provider_says("uma@example.com"))

    assert refusal.status_code == 403
    assert "Ask a lead of your project to invite uma@example.com." in refusal.content.decode()
    assert not get_user_model().objects.exists()


def test_an_invitation_revoked_during_the_sign_in_leaves_nothing_behind(project):
    issued = invite_member(project=project, email="nina@example.com", role="expert", invited_by=None)
    revoke_invitation(invitation=issued.invitation, revoked_by=None)

    # The pending check saw the invitation; the account's creation finds it revoked: all of it rolls back.
    with mock.patch("labeling.web.sso.has_pending_invitation", return_value=True):
        refusal = pre_social_login(provider_says("nina@example.com"))

    assert refusal.status_code == 403 and "invite nina@example.com" in refusal.content.decode()
    assert not get_user_model().objects.exists() and not SocialAccount.objects.exists()
    assert Invitation.objects.get().accepted_at is None


# The pages -------------------------------------------------------------------------------------------------


@override_settings(OIDC_ISSUER="", SOCIALACCOUNT_PROVIDERS={"openid_connect": {"APPS": []}})
def test_without_an_issuer_the_sso_urls_are_404(client, db):
    assert client.get("/accounts/oidc/sso/login/").status_code == 404
    assert client.post("/accounts/oidc/sso/login/").status_code == 404
    assert client.get("/accounts/oidc/sso/login/callback/?code=x&state=y").status_code == 404


def test_the_sso_button_needs_the_csrf_token(db):
    strict = Client(enforce_csrf_checks=True)

    assert strict.post("/accounts/oidc/sso/login/", {"process": "login"}).status_code == 403


def test_a_callback_without_a_started_sign_in_is_a_clear_page_not_a_500(client, db):
    answer = client.get("/accounts/oidc/sso/login/callback/?code=forged&state=forged")

    assert answer.status_code == 401
    assert "Signing in through Acme sign-in did not complete" in answer.content.decode()
    assert not get_user_model().objects.exists()


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"])
def test_allauth_s_own_account_pages_are_not_served(client, db, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/accounts/3rdparty/login/cancelled/", 200),
        ("/accounts/3rdparty/login/error/", 401),
        ("/accounts/inactive/", 200),
    ],
)
def test_the_pages_a_single_sign_on_may_end_on_render_with_a_way_back_to_sign_in(db, path, status):
    """allauth renders these with a link to its sign-in page by name (`account_login`): ours (a 500 before)."""
    response = Client(raise_request_exception=False).get(path)

    assert response.status_code == status
    assert 'href="/login/"' in response.content.decode()
