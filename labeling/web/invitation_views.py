"""The page an invitation link opens: who invited whom to what, and the one way to accept that fits the visitor.

- signed in with the invited email: an Accept button;
- signed in as someone else: refused, "sign out and open the link again";
- not signed in, an account has the email: a link to sign in and come back (`next=`);
- not signed in, no account has it: a form for a username and password that creates the account and accepts;
  with PASSWORD_SIGN_IN off, the single sign-on button instead (it creates the account and accepts, then comes
  back here), and a posted form is refused.
An unusable link (unknown or tampered, used, expired, revoked) gets a page saying which, and nothing happens;
except that someone signed in who accepted it themselves (single sign-on does, on the way back) goes to the project.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from labeling.exceptions import Conflict, InvalidAccount, InvitationUnusable, InvitationUsed
from labeling.rules.text import isolated
from labeling.selectors.invitations import account_exists_for_email, account_without_password, project_joined_through
from labeling.services import invitations as invitation_services

from .member_forms import AccountForm
from .signin import passwords_off_refusal, sign_in_choices


@never_cache
@require_http_methods(["GET", "POST"])
def invitation(request, token: str):
    try:
        invited = invitation_services.check_invitation(token)
    except InvitationUsed as exc:
        joined = project_joined_through(token, request.user) if request.user.is_authenticated else None
        if joined is not None:
            return redirect("labeling:project", slug=joined.slug)
        return _refused(request, exc)
    except InvitationUnusable as exc:
        return _refused(request, exc)
    user = request.user
    context = {"invitation": invited, "project": invited.project, "token": token, "form": None}
    if user.is_authenticated:
        if not invitation_services.email_matches(invited, user):
            context["wrong_account"] = invitation_services.masked_email(invited.email)
            return render(request, "labeling/members/invitation.html", context, status=403)
        if request.method == "POST":
            try:
                membership = invitation_services.accept_invitation(token=token, user=user)
            except InvitationUnusable as exc:
                return _refused(request, exc)
            messages.success(
                request,
                f"Welcome to {isolated(invited.project.name)}: you are {membership.get_role_display().lower()}.",
            )
            return redirect("labeling:project", slug=invited.project.slug)
        context["can_accept"] = True
        return render(request, "labeling/members/invitation.html", context)
    here = reverse("labeling:invitation", args=[token])
    if account_exists_for_email(invited.email):
        context["sign_in_url"] = reverse(settings.LOGIN_URL) + "?" + urlencode({"next": here})
        # An account made by create_project has no password yet: its owner chooses one through the reset mail.
        context["needs_password"] = settings.PASSWORD_SIGN_IN and account_without_password(invited.email)
        return render(request, "labeling/members/invitation.html", context)
    if not settings.PASSWORD_SIGN_IN:
        # Only the provider signs people in: it creates the account and accepts, then `next` comes back here.
        context.update(sign_in_choices(request), next=here)
        if request.method == "POST":
            context["refusal"] = passwords_off_refusal().message
            return render(request, "labeling/members/invitation.html", context, status=403)
        return render(request, "labeling/members/invitation.html", context)
    form = AccountForm(request.POST or None)
    context["form"] = form
    if request.method == "POST" and form.is_valid():
        try:
            new_user = invitation_services.create_account_and_accept(
                token=token, username=form.cleaned_data["username"], password=form.cleaned_data["password"]
            )
        except InvalidAccount as exc:
            form.add_problems(exc.problems)
        except Conflict as exc:
            form.add_error(None, exc.message)
        except InvitationUnusable as exc:
            return _refused(request, exc)
        else:
            login(request, new_user, backend=settings.AUTHENTICATION_BACKENDS[0])
            messages.success(
                request,
                f"Welcome to {isolated(invited.project.name)}. Your account {isolated(new_user.username)} is ready.",
            )
            return redirect("labeling:project", slug=invited.project.slug)
    status = 400 if form.is_bound else 200
    return render(request, "labeling/members/invitation.html", context, status=status)


def _refused(request, exc: InvitationUnusable):
    return render(request, "labeling/members/invitation_refused.html", {"message": exc.message}, status=exc.status_code)
