import time

import pybreaker
from django.core.cache import caches
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from labeling.models import ApiKey
from labeling.resilience import cache_breaker


class ApiKeyRateThrottle(BaseThrottle):
    """A fixed-window request budget per API key (or per signed-in user).

    One atomic `incr` per request: DRF's SimpleRateThrottle rewrites a list of every request
    timestamp in the window, a read-modify-write that races and grows with the rate.
    With Redis unreachable the budget is counted in this process instead (each web process then
    allows up to the limit): an API that answers, a little less strictly throttled, rather than 500s.
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
        try:
            count = cache_breaker.call(self._count, caches["default"], key)
        except (pybreaker.CircuitBreakerError, RedisError, OSError):
            count = self._count(caches["local"], key)
        return count <= self.limit

    def _count(self, cache, key: str) -> int:
        cache.add(key, 0, timeout=self.period + 1)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            return 0

    def wait(self) -> float:
        # At least a second: a window that ended since allow_request gives 0, and DRF sends no Retry-After for 0.
        return max(1.0, self.window_end - time.time())
