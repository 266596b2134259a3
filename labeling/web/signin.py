"""Sign-in throttling at the door: a gate on concurrent sign-ins, the authentication backend, the 429 page.

- `SignInGateMiddleware` (near the top of MIDDLEWARE): at most SIGNIN_MAX_CONCURRENT_CHECKS sign-in
  POSTs (the login page, the admin login) run at once per process. PBKDF2 costs ~0.3 s of CPU, so a
  flood of wrong passwords would otherwise take every core from people using the site; a sign-in over
  the cap is answered 429 at once ("try again in a moment"), before sessions, CSRF or the database.
- `ThrottledModelBackend` (AUTHENTICATION_BACKENDS): refuses a locked account or client address before
  hashing anything (one indexed query), then counts a failure (services/signin.py) or, on success,
  clears the account's failures.
- `SignInThrottleMiddleware` (innermost): turns a sign-in the backend refused into a 429 page saying
  why and for how long, with `Retry-After`.
"""

import ipaddress
import threading
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.urls import reverse

from labeling.models import ThrottleKind
from labeling.selectors.signin import active_lock
from labeling.services.signin import record_failure, record_success


@dataclass(frozen=True, slots=True)
class Refusal:
    message: str
    retry_after: int  # seconds


BUSY = Refusal("Too many sign-in attempts right now. Try again in a moment.", retry_after=1)


def locked_refusal(kind: str, seconds: int) -> Refusal:
    what = "this account" if kind == ThrottleKind.ACCOUNT else "your network address"
    minutes = (seconds + 59) // 60
    wait = f"{seconds} seconds" if seconds < 120 else f"{minutes} minutes"
    return Refusal(
        f"Too many failed sign-ins for {what}: sign-in is locked for {wait}. "
        "Try again then, or ask an operator to unlock it.",
        retry_after=seconds,
    )


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
    if ip.version == 6 and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        # One client usually holds a whole /64: count it as one address, or it could rotate through them.
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@cache
def _hashing_slots(size: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(size)


class ThrottledModelBackend(ModelBackend):
    """Django's ModelBackend behind the lockout check; failures are counted, success clears them."""

    def authenticate(self, request, username=None, password=None, **kwargs):
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


@cache
def _sign_in_paths() -> frozenset[str]:
    return frozenset([resolve_url(settings.LOGIN_URL), reverse("admin:login")])


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
            # Plain text on purpose: this answer must cost next to nothing while a flood goes on.
            response = HttpResponse(BUSY.message, status=429, content_type="text/plain; charset=utf-8")
            response["Retry-After"] = str(BUSY.retry_after)
            return response
        try:
            return self.get_response(request)
        finally:
            slots.release()


class SignInThrottleMiddleware:
    """Answer a sign-in the backend refused with a 429 page saying why and for how long."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        refusal = getattr(request, "sign_in_refusal", None)
        if refusal is None:
            return response
        context = {"message": refusal.message, "sign_in_url": request.get_full_path()}
        response = render(request, "registration/sign_in_refused.html", context, status=429)
        response["Retry-After"] = str(refusal.retry_after)
        return response
