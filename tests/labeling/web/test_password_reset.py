"""Password reset by email (Django's views, our pages), throttled like the login page; and passwords off."""

import re
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import mail
from django.test import Client, override_settings
from django.utils.http import urlsafe_base64_encode

from labeling.services.projects import create_project
from labeling.services.rubric_templates import first_rubric
from tests.factories import PASSWORD, UserFactory

NEW_PASSWORD = "a brand new passphrase 42"
SSO_ON = {"OIDC_ISSUER": "https://idp.example.com", "OIDC_NAME": "Acme sign-in"}
SPEC = {"slug": "faq-bot", "name": "FAQ bot", "rubric": first_rubric("answer-quality")}
RESET_PAGES = ["/password-reset/", "/password-reset/sent/", "/password-reset/done/", "/password-reset/MQ/set-password/"]


def ask_reset(client, email, address="198.51.100.1"):
    return client.post("/password-reset/", {"email": email}, REMOTE_ADDR=address)


def sign_in(client, username, password, address="198.51.100.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def link_in(message) -> str:
    """The path of the reset link in a reset email."""
    url = re.search(r"^(https?://\S+)$", message.body, re.MULTILINE).group(1)
    assert url.startswith(settings.SITE_URL.rstrip("/") + "/password-reset/")
    return url.removeprefix(settings.SITE_URL.rstrip("/"))


def set_password(client, link, password=NEW_PASSWORD):
    form_page = client.get(link)  # Django moves the token into the session and redirects to a token-free URL
    assert form_page.status_code == 302
    return client.post(form_page["Location"], {"new_password1": password, "new_password2": password})


def test_the_login_page_links_to_password_reset_and_shows_no_sso_without_an_issuer(client, db):
    page = client.get("/login/").content.decode()

    assert 'href="/password-reset/"' in page and "Forgot your password?" in page
    assert "/accounts/oidc/" not in page and 'name="password"' in page


def test_the_reset_pages_look_like_the_login_page(client, db):
    page = client.get("/password-reset/").content.decode()

    assert '<section class="card narrow">' in page and "csrfmiddlewaretoken" in page


def test_an_expert_resets_a_forgotten_password_by_email_and_the_old_one_stops_working(client, expert):
    answer = ask_reset(client, "ERIN@example.com")  # an address matches whatever its case

    assert answer.status_code == 302 and answer["Location"] == "/password-reset/sent/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["erin@example.com"]
    assert "expertloop" in message.subject and "expertloop" in message.body
    assert "within 24 hours" in message.body  # PASSWORD_RESET_TIMEOUT's default, said in words

    done = set_password(client, link_in(message))

    assert done.status_code == 302 and done["Location"] == "/password-reset/done/"
    assert "Your new password is set" in client.get(done["Location"]).content.decode()
    assert sign_in(Client(), "erin", PASSWORD).status_code == 200  # the old password: "didn't match"
    assert sign_in(Client(), "erin", NEW_PASSWORD).status_code == 302


@override_settings(PASSWORD_RESET_TIMEOUT=2 * 3600)
def test_the_email_names_the_configured_expiry(client, expert):
    ask_reset(client, "erin@example.com")

    assert "within 2 hours" in mail.outbox[0].body


@override_settings(SIGNIN_ACCOUNT_FAILURE_LIMIT=3, SIGNIN_ADDRESS_FAILURE_LIMIT=100, SIGNIN_LOCKOUT_SECONDS=600)
def test_a_password_reset_lifts_the_account_s_sign_in_lock(client, expert):
    for _ in range(3):
        sign_in(Client(), "erin", "forgotten", address="203.0.113.9")
    assert sign_in(Client(), "erin", PASSWORD).status_code == 429  # the account is locked, from anywhere

    ask_reset(client, "erin@example.com")
    set_password(client, link_in(mail.outbox[0]))

    assert sign_in(Client(), "erin", NEW_PASSWORD).status_code == 302


def test_a_reset_link_works_once(client, expert):
    ask_reset(client, "erin@example.com")
    link = link_in(mail.outbox[0])
    set_password(client, link)

    again = Client().get(link)

    assert again.status_code == 200 and "This link does not work" in again.content.decode()
    assert sign_in(Client(), "erin", NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize("link", ["/password-reset/MQ/not-a-token/", "/password-reset/%%%/x-y/"])
def test_a_tampered_link_is_refused_clearly_and_changes_nothing(client, expert, link):
    answer = client.get(link)

    assert answer.status_code == 200 and "This link does not work" in answer.content.decode()
    assert sign_in(Client(), "erin", PASSWORD).status_code == 302


def test_a_link_is_refused_once_it_has_expired(client, expert):
    ask_reset(client, "erin@example.com")
    link = link_in(mail.outbox[0])

    later = datetime.now() + timedelta(seconds=61)
    with override_settings(PASSWORD_RESET_TIMEOUT=60), mock.patch.object(PasswordResetTokenGenerator, "_now") as now:
        now.return_value = later
        expired = client.get(link)

    assert "This link does not work" in expired.content.decode()


def test_an_unknown_email_gets_the_same_answer_and_no_mail(client, expert):
    known = ask_reset(client, "erin@example.com")
    mail.outbox.clear()

    unknown = ask_reset(client, "nobody@example.com")

    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    assert mail.outbox == []


def test_a_member_a_project_spec_created_without_a_password_chooses_one_by_email(client, db):
    """`create_project` makes members without a usable password, and inviting them is refused ("a member
    already"): the reset mail is their way in, the link proving the email."""
    create_project(spec={**SPEC, "members": [{"username": "dana", "role": "expert", "email": "dana@example.com"}]})
    assert not get_user_model().objects.get(username="dana").has_usable_password()

    answer = ask_reset(client, "Dana@example.com")

    assert (answer.status_code, answer["Location"]) == (302, "/password-reset/sent/")  # as for any email
    assert [message.to for message in mail.outbox] == [["dana@example.com"]]
    assert set_password(client, link_in(mail.outbox[0]))["Location"] == "/password-reset/done/"
    assert sign_in(Client(), "dana", NEW_PASSWORD).status_code == 302


def test_a_deactivated_account_gets_no_mail_with_or_without_a_password(client, expert):
    without = UserFactory(username="sso-only", email="sso@example.com", is_active=False)
    without.set_unusable_password()
    without.save()
    get_user_model().objects.filter(pk=expert.pk).update(is_active=False)

    assert ask_reset(client, "sso@example.com").status_code == 302
    assert ask_reset(client, "erin@example.com").status_code == 302
    assert mail.outbox == []


def test_a_look_alike_address_gets_no_other_account_s_link(client, db):
    """Django's Unicode check, kept: the database matches "ı" (dotless) with "I" in any case; the mail does not go."""
    UserFactory(username="mike", email="mike@example.org")

    assert ask_reset(client, "mıke@example.org").status_code == 302
    assert mail.outbox == []


def test_a_malformed_email_is_a_message_on_the_form(client, db):
    answer = ask_reset(client, "not an address")

    assert answer.status_code == 200
    assert "Enter a valid email address." in answer.content.decode()
    assert mail.outbox == []


@override_settings(SIGNIN_ADDRESS_FAILURE_LIMIT=3, SIGNIN_LOCKOUT_SECONDS=600)
def test_reset_requests_count_against_the_address_and_over_the_limit_get_429(client, expert, other_expert):
    """Someone who asks twice is served twice; the third request from the address locks it."""
    assert ask_reset(client, "erin@example.com").status_code == 302
    assert ask_reset(client, "erin@example.com").status_code == 302
    refused = ask_reset(client, "ezra@example.com")

    assert refused.status_code == 429
    assert "password reset is locked for 10 minutes" in refused.content.decode()
    assert refused["Retry-After"] == "600"
    assert len(mail.outbox) == 2  # nothing sent for the refused request
    # The address is locked for sign-in too (the same row), but the accounts are not: another address works.
    assert sign_in(client, "erin", PASSWORD).status_code == 429
    assert ask_reset(client, "ezra@example.com", address="203.0.113.9").status_code == 302
    assert sign_in(Client(), "erin", PASSWORD, address="203.0.113.9").status_code == 302


@override_settings(SIGNIN_ADDRESS_FAILURE_LIMIT=2, SIGNIN_ACCOUNT_FAILURE_LIMIT=100, SIGNIN_LOCKOUT_SECONDS=60)
def test_an_address_locked_by_failed_sign_ins_cannot_ask_for_resets(client, expert):
    sign_in(client, "guess1", "wrong")
    sign_in(client, "guess2", "wrong")

    refused = ask_reset(client, "erin@example.com")

    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    assert "Too many failed sign-ins and password reset requests" in refused.content.decode()
    assert mail.outbox == []


def test_the_reset_forms_need_the_csrf_token(expert):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/password-reset/", {"email": "erin@example.com"}).status_code == 403
    assert mail.outbox == []

    ask_reset(Client(), "erin@example.com")
    form_page = strict.get(link_in(mail.outbox[0]))
    refused = strict.post(form_page["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert refused.status_code == 403
    assert get_user_model().objects.get(username="erin").check_password(PASSWORD)


def test_a_too_short_new_password_is_a_message_and_nothing_changes(client, expert):
    ask_reset(client, "erin@example.com")
    answer = set_password(client, link_in(mail.outbox[0]), password="short")

    assert answer.status_code == 200 and "This password is too short" in answer.content.decode()
    assert get_user_model().objects.get(username="erin").check_password(PASSWORD)


# Passwords off: single sign-on only -----------------------------------------------------------------------


@override_settings(**SSO_ON)
def test_with_sso_on_the_login_page_offers_both(client, db):
    page = client.get("/login/?next=/p/support-bot/").content.decode()

    assert 'action="/accounts/oidc/sso/login/"' in page and "Acme sign-in" in page
    assert 'name="next" value="/p/support-bot/"' in page
    assert 'name="password"' in page and "Forgot your password?" in page


@override_settings(**SSO_ON, PASSWORD_SIGN_IN=False)
def test_with_passwords_off_the_login_page_shows_only_the_sso_button(client, db):
    page = client.get("/login/").content.decode()

    assert "Acme sign-in" in page
    assert 'name="password"' not in page and "Forgot your password?" not in page


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
@override_settings(**SSO_ON, PASSWORD_SIGN_IN=False)
def test_with_passwords_off_a_password_is_refused_before_it_is_checked(client, expert, path):
    expert.is_staff = True
    expert.save(update_fields=["is_staff"])
    with mock.patch.object(ModelBackend, "authenticate", return_value=None) as password_check:
        answer = client.post(path, {"username": "erin", "password": PASSWORD})

    assert answer.status_code == 403
    assert "Password sign-in is turned off here: use Acme sign-in." in answer.content.decode()
    assert password_check.call_count == 0
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("path", RESET_PAGES)
@override_settings(**SSO_ON, PASSWORD_SIGN_IN=False)
def test_with_passwords_off_password_reset_is_404(client, expert, path):
    assert client.get(path).status_code == 404
    assert client.post(path, {"email": "erin@example.com"}).status_code == 404
    assert mail.outbox == []


@pytest.mark.parametrize(
    "uid",
    [
        urlsafe_base64_encode(str(10**30).encode()),  # beyond a bigint
        urlsafe_base64_encode(b"1\x00"),
        urlsafe_base64_encode(b"\xff\xfe"),
        "not-base64!",
    ],
)
def test_a_hostile_link_is_the_clear_refusal_not_an_error(client, expert, uid):
    answer = client.get(f"/password-reset/{uid}/set-password/")

    assert answer.status_code == 200 and "This link does not work" in answer.content.decode()


@pytest.mark.parametrize("email", ["erin@example.com\x00", "a" * 250 + "@example.com"])
def test_a_hostile_email_is_a_message_on_the_form(client, expert, email):
    answer = ask_reset(client, email)

    assert answer.status_code in {200, 400} and mail.outbox == []


@pytest.mark.parametrize("kind", ["superuser", "operator by group", "linked to the identity provider"])
def test_an_account_without_a_password_that_is_an_operator_s_or_signs_in_by_sso_gets_no_first_password(
    client, db, kind
):
    """A first password by email is for "no password yet" accounts only: an operator's account, or one that signs
    in through the provider, would get a way past the provider's checks (its MFA, its offboarding)."""
    from allauth.socialaccount.models import SocialAccount
    from django.contrib.auth.models import Group, Permission

    boss = UserFactory(username="boss", email="boss@example.com", is_superuser=kind == "superuser")
    boss.set_unusable_password()
    boss.save()
    if kind == "operator by group":
        operators = Group.objects.create(name="operators")
        operators.permissions.add(Permission.objects.get(codename="operate_all_projects"))
        boss.groups.add(operators)
    if kind == "linked to the identity provider":
        SocialAccount.objects.create(user=boss, provider="sso", uid="sub-boss")

    assert ask_reset(client, "boss@example.com").status_code == 302  # the same answer as for anyone

    assert mail.outbox == []
