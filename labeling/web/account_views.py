"""A person's own page (linked from the top bar's name): their password, and their own figures in each project.

Everyone signed in has one; it shows only the signed-in person's figures (selectors/account.py), counted as the
leads' pages count them. The password part offers Django's change form only to an account that signs in with a
password: with PASSWORD_SIGN_IN off, or for an account without one (single sign-on, a member `create_project`
added), the page says so instead, and how such an account gets one if it may.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy
from django.views.decorators.http import require_GET

from labeling.selectors.account import own_figures
from labeling.selectors.signin import may_reset_password

from .formatting import per_label_time
from .signin import ThrottledPasswordChangeForm


def password_state(user) -> str:
    """What the page offers for the password: "change"; "first" (none yet: chosen by a reset link, as the login page
    offers); "none" (signs in through single sign-on, or an operator's: never given one by email, see
    `may_reset_password`); "off" (password sign-in is turned off)."""
    if not settings.PASSWORD_SIGN_IN:
        return "off"
    if user.has_usable_password():
        return "change"
    return "first" if may_reset_password(user) else "none"


@login_required
@require_GET
def own_page(request: HttpRequest) -> HttpResponse:
    figures = [
        {"figures": entry, "median": per_label_time(entry.progress.median_seconds)}
        for entry in own_figures(request.user)
    ]
    context = {
        "projects": figures,
        "password": password_state(request.user),
        "sso_name": settings.OIDC_NAME if settings.OIDC_ISSUER else "",
    }
    return render(request, "labeling/account/own.html", context)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's view (the old password is asked, the session stays signed in), in the site's layout; a refused form
    answers 400. Only for an account that has a password to change (`password_state`). The old password is checked
    through the sign-in lockout: while locked, or on the failure that locks, the answer is the sign-in's 429 page."""

    form_class = ThrottledPasswordChangeForm
    template_name = "labeling/account/password_change.html"
    success_url = reverse_lazy("labeling:me")

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and password_state(request.user) != "change":
            raise Http404("This account has no password to change: see your page.")
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "Your password is changed.")
        return response

    def form_invalid(self, form):
        response = super().form_invalid(form)
        response.status_code = 400
        return response
