"""Sign-in throttling at the door: the authentication backend and the middleware that answers 429.

Every sign-in (the login page, the admin login, anything calling `authenticate` with a request) goes
through `ThrottledModelBackend`, which in this order:
1. refuses a locked account or client address without hashing anything (one indexed query);
2. hashes at most SIGNIN_MAX_CONCURRENT_CHECKS passwords at once per process: PBKDF2 costs ~0.3 s of CPU,
   so a flood of wrong passwords would otherwise take every core from people using the site; an attempt
   over the cap is refused at once ("try again in a moment") instead of queueing;
3. counts a failure (services/signin.py), or clears the account's failures on success.
A refusal is left on the request; `SignInThrottleMiddleware` turns the view's answer into a 429 page
with `Retry-After`.
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
from django.shortcuts import render

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
    """The client's IP: REMOTE_ADDR, or with SIGNIN_PROXY_COUNT trusted proxies in front, the address the
    outermost of them saw (X-Forwarded-For is written by the client too, so only the proxies' entries count)."""
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.SIGNIN_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return ""


@cache
def _hashing_slots(size: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(size)


class ThrottledModelBackend(ModelBackend):
    """Django's ModelBackend behind the lockout check and a cap on concurrent password checks."""

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
        cap = settings.SIGNIN_MAX_CONCURRENT_CHECKS
        slots = _hashing_slots(cap) if cap else None
        if slots is not None and not slots.acquire(blocking=False):
            request.sign_in_refusal = BUSY
            raise PermissionDenied
        try:
            user = super().authenticate(request, username, password, **kwargs)
        finally:
            if slots is not None:
                slots.release()
        if user is not None:
            record_success(username=username)
        elif username is not None and password is not None:
            caused = record_failure(username=username, address=address)
            if caused is not None:
                request.sign_in_refusal = locked_refusal(caused.kind, caused.seconds_left())
        return user


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
