"""Sign-in throttling at the door: a gate on concurrent sign-ins, the authentication backend, the 429 page.

- `SignInGateMiddleware` (near the top of MIDDLEWARE): at most SIGNIN_MAX_CONCURRENT_CHECKS sign-in
  POSTs (the login page, the admin login, the password change) run at once per process. PBKDF2 costs
  ~0.3 s of CPU, so a flood of wrong passwords would otherwise take every core from people using the
  site; a sign-in over the cap is answered 429 at once ("try again in a moment"), before sessions, CSRF or the database
  (a browser that loaded the form, naming text/html and holding its CSRF cookie, gets the sign-in form back, after the
  cookie middleware and before the view; a flood that only names text/html still gets the plain answer).
- `ThrottledModelBackend` (AUTHENTICATION_BACKENDS): refuses a locked account or client address before
  hashing anything (one indexed query), then counts a failure (services/signin.py) or, on success,
  clears the account's failures.
- `SignInThrottleMiddleware` (innermost): turns a sign-in the backend refused into a 429 page saying
  why and for how long, with `Retry-After` (or a 403 when password sign-in is turned off).
- The login page (`SignInView`, with the single sign-on button when OIDC_ISSUER is set) and password reset
  by email (`PasswordResetRequestView` and Django's other reset views): a reset request counts against the
  client address like a failed sign-in and is refused while the address is locked. With PASSWORD_SIGN_IN
  off, no password is checked anywhere and the reset pages are 404.
"""

import ipaddress
import threading
from dataclasses import dataclass, replace
from functools import cache

from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH, CSRF_TOKEN_LENGTH
from django.shortcuts import render, resolve_url
from django.urls import reverse

from labeling.models import ThrottleKind
from labeling.rules.client_addresses import counted_address
from labeling.rules.prepared import Prepared
from labeling.rules.text import duration_in_words
from labeling.selectors.signin import accounts_for_password_reset, active_lock
from labeling.services.signin import record_failure, record_reset_request, record_success

# allauth's id for the one OpenID Connect provider: it names the URLs /accounts/oidc/sso/login/(callback/).
SSO_PROVIDER_ID = "sso"


@dataclass(frozen=True, slots=True)
class Refusal:
    message: str
    retry_after: int | None  # seconds
    status: int = 429
    # The page's heading and its link back: what was refused, in the words of the form the person used.
    title: str = "Sign-in refused"
    back: str = "Back to sign in"


# What Django's CSRF middleware takes in its cookie (django.middleware.csrf._check_token_format).
CSRF_COOKIE_CHARS = frozenset(CSRF_ALLOWED_CHARS)
BUSY = Refusal("Too many sign-in attempts right now. Try again in a moment.", retry_after=1)


def _wait(seconds: int) -> str:
    return f"{seconds} seconds" if seconds < 120 else f"{(seconds + 59) // 60} minutes"


def locked_refusal(kind: str, seconds: int) -> Refusal:
    what = "this account" if kind == ThrottleKind.ACCOUNT else "your network address"
    return Refusal(
        f"Too many failed sign-ins for {what}: sign-in is locked for {_wait(seconds)}. "
        "Try again then, or ask an operator to unlock it.",
        retry_after=seconds,
    )


def password_change_refusal(kind: str, seconds: int) -> Refusal:
    """The sign-in's lock, told to someone changing their password on /me/ (they tried no sign-in)."""
    return replace(locked_refusal(kind, seconds), title="Password change refused", back="Back to the password change")


def reset_refusal(seconds: int) -> Refusal:
    return Refusal(
        "Too many failed sign-ins and password reset requests from your network address: password reset is "
        f"locked for {_wait(seconds)}. Try again then, or ask an operator to unlock it.",
        retry_after=seconds,
    )


def passwords_off_refusal() -> Refusal:
    return Refusal(f"Password sign-in is turned off here: use {settings.OIDC_NAME}.", retry_after=None, status=403)


def refused(request: HttpRequest, refusal: Refusal) -> HttpResponse:
    """The page that says why a sign-in (or a reset request) was refused and for how long."""
    context = {
        "title": refusal.title,
        "message": refusal.message,
        "back": refusal.back,
        "sign_in_url": request.get_full_path(),
    }
    response = render(request, "registration/sign_in_refused.html", context, status=refusal.status)
    if refusal.retry_after is not None:
        response["Retry-After"] = str(refusal.retry_after)
    return response


def client_address(request: HttpRequest) -> str:
    """The client's IP (an IPv6 client's /64): REMOTE_ADDR, or with SIGNIN_PROXY_COUNT trusted proxies in front,
    the address the outermost of them saw (X-Forwarded-For is written by the client too, so only the proxies'
    entries count). Empty if it is not an IP address."""
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.SIGNIN_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    return counted_address(ip)


@cache
def _hashing_slots(size: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(size)


class ThrottledModelBackend(ModelBackend):
    """Django's ModelBackend behind the lockout check; failures are counted, success clears them."""

    def get_user(self, user_id):
        """ModelBackend.get_user (every request asks it, AuthenticationMiddleware), its query compiled once."""
        users = _USER(user_id=get_user_model()._meta.pk.get_prep_value(user_id))
        return users[0] if users and self.user_can_authenticate(users[0]) else None

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not settings.PASSWORD_SIGN_IN:
            # Single sign-on only: no password is checked, not even the admin's (README "Sign-in").
            if request is not None:
                request.sign_in_refusal = passwords_off_refusal()
            raise PermissionDenied
        if request is None:  # not a client's sign-in (a command, a test helper): nothing to throttle
            return super().authenticate(request, username, password, **kwargs)
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        address = client_address(request)
        lock = active_lock(username=username, address=address)
        if lock is not None:
            request.sign_in_refusal = locked_refusal(lock.kind, lock.seconds_left())
            raise PermissionDenied  # stops authenticate() here: no other backend, no hashing
        user = super().authenticate(request, username, password, **kwargs)
        if user is not None:
            record_success(username=username)
        elif username is not None and password is not None:
            caused = record_failure(username=username, address=address)
            if caused is not None:
                request.sign_in_refusal = locked_refusal(caused.kind, caused.seconds_left())
        return user


def throttled_password_check(request: HttpRequest, user, password: str) -> bool:
    """Is this the signed-in person's password? Asked as the sign-in asks it: refused unhashed while the account or
    the client address is locked, a wrong one counted (it may lock), a right one clearing the account's failures.
    A refusal is left on the request for SignInThrottleMiddleware to answer, as the sign-in's is."""
    username = user.get_username()
    address = client_address(request)
    lock = active_lock(username=username, address=address)
    if lock is not None:
        request.sign_in_refusal = password_change_refusal(lock.kind, lock.seconds_left())
        return False
    if user.check_password(password):
        record_success(username=username)
        return True
    caused = record_failure(username=username, address=address)
    if caused is not None:
        request.sign_in_refusal = password_change_refusal(caused.kind, caused.seconds_left())
    return False


_USER = Prepared(lambda *, user_id: get_user_model()._default_manager.filter(pk=user_id), user_id=-7_000_001)


@cache
def _sign_in_paths() -> frozenset[str]:
    # The password change checks the old password as a sign-in does (`ThrottledPasswordChangeForm`).
    return frozenset([resolve_url(settings.LOGIN_URL), reverse("admin:login"), reverse("labeling:password-change")])


class SignInGateMiddleware:
    """Refuse a sign-in POST at once while SIGNIN_MAX_CONCURRENT_CHECKS others run in this process."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cap = settings.SIGNIN_MAX_CONCURRENT_CHECKS
        if not cap or request.method != "POST" or request.path not in _sign_in_paths():
            return self.get_response(request)
        slots = _hashing_slots(cap)
        if not slots.acquire(blocking=False):
            if _asks_for_html(request):
                # A person at a browser gets the form back. It is answered in process_view, once the session and
                # CSRF middleware have read their cookies (the form's token must match the browser's cookie), and
                # before the view checks any password; no slot is held meanwhile.
                request.sign_in_busy = True
                return self.get_response(request)
            # Plain text for scripts: this answer must cost next to nothing while a flood goes on.
            response = HttpResponse(BUSY.message, status=429, content_type="text/plain; charset=utf-8")
            response["Retry-After"] = str(BUSY.retry_after)
            return response
        try:
            return self.get_response(request)
        finally:
            slots.release()

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        if not getattr(request, "sign_in_busy", False):
            return None
        if request.path == resolve_url(settings.LOGIN_URL):
            return _busy_sign_in_page(request)
        if request.path == reverse("labeling:password-change"):
            return refused(request, replace(BUSY, title="Password change refused", back="Back to the password change"))
        return refused(request, BUSY)


def _asks_for_html(request: HttpRequest) -> bool:
    """Whether a sign-in turned away at the gate gets the form back rather than the plain-text 429.

    Named, not matched by */*: curl and API clients send */* (or nothing) and keep the plain-text answer. And from a
    browser that loaded the form, its CSRF cookie as Django sets it (32 letters and digits; 64, masked, from before
    Django 4.1): a flood adding the header, or the header and `csrftoken=x`, keeps the cheap answer. A bar, not a
    proof: a flood that loads the form once, or writes 32 letters, gets the form back; that costs a template, never
    a password hash (no slot is taken for it)."""
    cookie = request.COOKIES.get(settings.CSRF_COOKIE_NAME, "")
    browser_cookie = len(cookie) in (CSRF_SECRET_LENGTH, CSRF_TOKEN_LENGTH) and set(cookie) <= CSRF_COOKIE_CHARS
    return "text/html" in request.headers.get("Accept", "") and browser_cookie


def _busy_sign_in_page(request: HttpRequest) -> HttpResponse:
    """The login page again, its username and `next` kept, saying to try again in a moment (429, Retry-After)."""
    context = {
        **sign_in_choices(request),
        "busy": BUSY.message,
        "username": request.POST.get("username", "")[:150],
        "next": request.POST.get("next", ""),
    }
    response = render(request, "registration/login.html", context, status=BUSY.status)
    response["Retry-After"] = str(BUSY.retry_after)
    return response


class SignInThrottleMiddleware:
    """Answer a sign-in the backend refused with a page saying why (429 and for how long, or 403)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        refusal = getattr(request, "sign_in_refusal", None)
        if refusal is None:
            return response
        return refused(request, refusal)


def sign_in_choices(request: HttpRequest) -> dict:
    """What the login page offers: the password form (and its reset link) and/or the single sign-on button."""
    sso = bool(settings.OIDC_ISSUER)
    return {
        "password_sign_in": settings.PASSWORD_SIGN_IN,
        "sso_name": settings.OIDC_NAME if sso else "",
        "sso_url": reverse("openid_connect_login", kwargs={"provider_id": SSO_PROVIDER_ID}) if sso else "",
    }


class SignInView(auth_views.LoginView):
    """Django's login page; with PASSWORD_SIGN_IN off only its single sign-on button (a password POST is 403)."""

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **sign_in_choices(self.request)}


class PasswordsOnlyMixin:
    """The password reset pages exist only while passwords sign in."""

    def dispatch(self, request, *args, **kwargs):
        if not settings.PASSWORD_SIGN_IN:
            raise Http404("Password sign-in is turned off.")
        return super().dispatch(request, *args, **kwargs)


class PasswordResetRequestForm(auth_forms.PasswordResetForm):
    """Django's form, except that an active account without a usable password gets the link too: an account
    `create_project` or single sign-on made has no password yet, and this is how its owner chooses one."""

    def get_users(self, email):
        return accounts_for_password_reset(email)


class ThrottledPasswordChangeForm(auth_forms.PasswordChangeForm):
    """Django's form, its old password checked through the sign-in lockout (`throttled_password_check`): someone
    holding a stolen session cannot guess it without limit."""

    def __init__(self, user, *args, request: HttpRequest, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        if not throttled_password_check(self.request, self.user, old_password):
            refusal = getattr(self.request, "sign_in_refusal", None)
            if refusal is not None:
                raise ValidationError(refusal.message, code="locked")
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password


class PasswordResetRequestView(PasswordsOnlyMixin, auth_views.PasswordResetView):
    """Ask for a reset link by email. Answers the same whether or not an account has that address (mail goes
    to the active accounts with it); each request counts against the client address as a failed sign-in
    does, and a locked address is refused with the 429 page, nothing sent."""

    form_class = PasswordResetRequestForm
    template_name = "registration/reset_request.html"
    email_template_name = "registration/reset_email.txt"
    subject_template_name = "registration/reset_subject.txt"

    def form_valid(self, form):
        address = client_address(self.request)
        lock = active_lock(username=None, address=address) or record_reset_request(address=address)
        if lock is not None:
            return refused(self.request, reset_refusal(lock.seconds_left()))
        # Links start with SITE_URL, as the digests' do, not with whatever Host the request named.
        self.extra_email_context = {
            "site_url": settings.SITE_URL.rstrip("/"),
            "expires_in": duration_in_words(settings.PASSWORD_RESET_TIMEOUT),
        }
        return super().form_valid(form)


class PasswordResetSentView(PasswordsOnlyMixin, auth_views.PasswordResetDoneView):
    template_name = "registration/reset_sent.html"


class PasswordResetConfirmView(PasswordsOnlyMixin, auth_views.PasswordResetConfirmView):
    """Set a new password from a reset link; the account's sign-in lock goes as after a successful sign-in (the
    link proved the email, and the lock was most likely the forgotten password)."""

    template_name = "registration/reset_confirm.html"

    def form_valid(self, form):
        response = super().form_valid(form)
        record_success(username=form.user.get_username())
        return response


class PasswordResetCompleteView(PasswordsOnlyMixin, auth_views.PasswordResetCompleteView):
    template_name = "registration/reset_complete.html"
