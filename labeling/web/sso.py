"""Single sign-on through OpenID Connect: allauth runs the provider's code flow, this adapter decides whom it signs in.

Only an email the provider says it verified (`email_verified`) counts:
- an account already linked to the provider's user signs in;
- else the one account with that email is linked and signs in, if it is a member of some project or its email
  has a pending invitation (an inactive account or a shared email is refused). An operator's account (staff or
  superuser) is never linked by its email: only a link an operator made lets it sign in through the provider;
- else, if the email has a pending invitation, an account without a password is created and every pending
  invitation to that email is accepted;
- else the person is refused ("ask a lead of your project to invite …") and nothing is created.
An account that signs in also accepts the invitations pending for its own email. Refusals are a 403 page.
allauth never signs anyone up by itself (`is_open_for_signup` is False): every account is made here.
"""

import logging

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import render
from django.urls import reverse

from labeling.exceptions import Conflict
from labeling.rules.access import is_operator
from labeling.rules.emails import normalize_email
from labeling.rules.text import isolated
from labeling.selectors.invitations import has_pending_invitation
from labeling.selectors.signin import accounts_with_email, belongs_to_a_project
from labeling.services.invitations import accept_invitations_for_email
from labeling.services.signin import create_invited_account

log = logging.getLogger(__name__)


def provider_claims(sociallogin) -> dict:
    """What the provider said about the person: the userinfo answer, else the ID token's claims."""
    data = sociallogin.account.extra_data or {}
    return data.get("userinfo") or data.get("id_token") or data


def verified_email(claims: dict) -> str | None:
    """The email if the provider vouches for it (`email_verified` true; some providers send the string)."""
    email = normalize_email(claims.get("email"))
    verified = claims.get("email_verified")
    if isinstance(verified, str):
        verified = verified.strip().lower() == "true"
    return email if email and verified is True else None


def refuse(request: HttpRequest, message: str) -> ImmediateHttpResponse:
    log.info("Single sign-on refused: %s", message)
    context = {"message": message, "sign_in_url": reverse("login")}
    return ImmediateHttpResponse(render(request, "registration/sign_in_refused.html", context, status=403))


class SingleSignOnAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        return False  # accounts are created by pre_social_login, for invited emails only

    def pre_social_login(self, request, sociallogin) -> None:
        claims = provider_claims(sociallogin)
        email = verified_email(claims)
        if email is None:
            shown = isolated(str(claims.get("email") or "").strip())  # the claims are any text: isolated in a sentence
            raise refuse(
                request,
                f"{settings.OIDC_NAME} did not confirm that the email address {shown} is yours, so expertloop "
                "cannot tell which account to sign you in to. Ask your company's IT to verify the address."
                if shown
                else f"{settings.OIDC_NAME} did not share your email address, so expertloop cannot tell which "
                "account to sign you in to. Ask your company's IT to allow the email scope.",
            )
        if sociallogin.is_existing:
            user = sociallogin.user
        else:
            user = self._account_for(request, sociallogin, email, claims)
        if not user.is_active:
            address = isolated(email)
            raise refuse(request, f"The account for {address} is deactivated. Ask an operator to reactivate it.")
        if normalize_email(user.email) == email:
            accept_invitations_for_email(user=user)

    def _account_for(self, request, sociallogin, email: str, claims: dict):
        """Link the provider's user to the account with this email, creating it for an invited email."""
        accounts, address = accounts_with_email(email), isolated(email)
        if len(accounts) > 1:
            raise refuse(request, f"Several accounts here use {address}. Ask an operator to give each its own address.")
        uninvited = f"Ask a lead of your project to invite {address}."
        if accounts:
            user = accounts[0]
            if user.is_active:
                self._check_may_link(request, user, email, uninvited)
        elif not has_pending_invitation(email):
            raise refuse(request, f"There is no account or invitation for {address} here. {uninvited}")
        else:
            try:
                user = create_invited_account(
                    email=email,
                    username=str(claims.get("preferred_username") or email.partition("@")[0]),
                    first_name=str(claims.get("given_name") or ""),
                    last_name=str(claims.get("family_name") or ""),
                )
            except Conflict as exc:
                raise refuse(request, f"{exc.message} {uninvited}") from None
        if user.is_active:
            sociallogin.connect(request, user)  # the next sign-in finds the account by the provider's user id
        return user

    def _check_may_link(self, request, user, email: str, uninvited: str) -> None:
        """Refuse to link an account by its email alone unless it is a member here or invited; an operator's never
        (whoever controls the provider's emails must not become staff by asserting one)."""
        address = isolated(email)
        if is_operator(user):
            raise refuse(
                request,
                f"The account for {address} is an operator's account, so signing in through {settings.OIDC_NAME} "
                "does not link it by its email: an operator links this account in the admin.",
            )
        if not (belongs_to_a_project(user) or has_pending_invitation(email)):
            raise refuse(request, f"The account for {address} is not a member of any project here. {uninvited}")
