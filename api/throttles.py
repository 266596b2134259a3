import time

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from labeling.models import ApiKey


class ApiKeyRateThrottle(BaseThrottle):
    """A fixed-window request budget per API key (or per signed-in user).

    One atomic `incr` per request: DRF's SimpleRateThrottle rewrites a list of every request
    timestamp in the window, a read-modify-write that races and grows with the rate.
    """

    scope = "api_key"

    def __init__(self):
        from rest_framework.settings import api_settings

        rate = api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        count, period = rate.split("/")
        self.limit = int(count)
        self.period = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
        self.window_end = 0.0

    def allow_request(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            ident = f"key:{request.auth.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            return True  # the request is refused by authentication anyway
        now = time.time()
        window = int(now // self.period)
        self.window_end = (window + 1) * self.period
        key = f"throttle:{ident}:{window}"
        cache.add(key, 0, timeout=self.period + 1)
        try:
            return cache.incr(key) <= self.limit
        except ValueError:  # expired between add and incr
            return True

    def wait(self) -> float:
        return max(0.0, self.window_end - time.time())
