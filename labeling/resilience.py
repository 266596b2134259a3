"""Degraded, not down: when Redis fails, stop asking it for a few seconds instead of waiting on it per request.

One circuit breaker (pybreaker) per use of Redis, per process: the first failure opens it, calls then
fail at once for `REDIS_BREAKER_RESET_SECONDS`, after which one call tries Redis again (and closes the
circuit if it answers). The database stays the source of truth, so what is skipped meanwhile is caught up
later: queued tasks by the outbox sweep (labeling/services/outbox.py), throttling by a per-process count.
"""

import logging

import pybreaker
from django.conf import settings

logger = logging.getLogger(__name__)


class _LogStateChanges(pybreaker.CircuitBreakerListener):
    def state_change(self, cb, old_state, new_state) -> None:
        if new_state.name == pybreaker.STATE_OPEN:
            logger.warning("Redis (%s) is unreachable: falling back for %s s.", cb.name, cb.reset_timeout)
        elif new_state.name == pybreaker.STATE_CLOSED and old_state is not None:
            logger.info("Redis (%s) answers again.", cb.name)


def _breaker(name: str) -> pybreaker.CircuitBreaker:
    # throw_new_error_on_trip=False: the call that opens the circuit raises Redis's own error, which is logged.
    return pybreaker.CircuitBreaker(
        fail_max=1,
        reset_timeout=settings.REDIS_BREAKER_RESET_SECONDS,
        name=name,
        listeners=[_LogStateChanges()],
        throw_new_error_on_trip=False,
    )


cache_breaker = _breaker("cache")
broker_breaker = _breaker("broker")
