"""kombu's Redis transport with two repairs: it survives losing Redis, and it keeps running tasks visible.

Selected by `CELERY_BROKER_TRANSPORT` in settings (only when REDIS_URL is set).

1. Surviving broker loss. On a lost connection Celery's consumer first `collect()`s the connection, which
   clears `transport.client`, then `close()`s it. Closing the default channel restores its unacked
   messages; the restore needs a Redis client, the channel's pool was already dropped, and rebuilding it
   reads `self.connection.client.hostname` — None by then. The resulting
   `AttributeError: 'NoneType' object has no attribute 'hostname'` is not a connection error, so nothing
   catches it and the worker process exits ("Unrecoverable error"). A late ack of a task that finishes
   after the loss goes through the same path. Here a channel whose connection is gone raises a Redis
   `ConnectionError` instead: kombu and Celery treat that as "connection lost", log it, and reconnect.
   The unacked messages stay in Redis and come back after the visibility timeout, as for a lost worker.

2. Visibility heartbeat. A message taken by a worker stays in Redis's `unacked_index` (scored by delivery
   time) until acked; any worker puts it back in the queue once it is older than the visibility timeout.
   With a short timeout, so that a lost worker's task is retried within minutes, a long task (a dataset
   build, a weekly close) would be handed to a second worker while the first still runs it. The worker's
   event loop therefore re-stamps the messages it holds every `visibility_heartbeat` seconds: only the
   messages of a worker that stopped beating (killed, machine lost) age past the timeout.
"""

import logging
from time import time

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)


class QoS(kombu_redis.QoS):
    def refresh_unacked(self) -> None:
        """Re-stamp the messages this channel holds, so no other worker restores them while they run."""
        tags = list(self._delivered)
        if not tags:
            return
        with self.channel.conn_or_acquire() as client:
            # XX: never re-add a message that was acked (removed) meanwhile.
            client.zadd(self.unacked_index_key, dict.fromkeys(tags, time()), xx=True)


class Channel(kombu_redis.Channel):
    QoS = QoS

    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise RedisConnectionError("The broker connection of this channel is closed.")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel

    def register_with_event_loop(self, connection, loop):
        super().register_with_event_loop(connection, loop)
        cycle = self.cycle
        old = getattr(cycle, "_visibility_heartbeat_tref", None)
        if old is not None:  # one timer per cycle, as kombu does for its own timers across reconnects
            old.cancel()
        options = connection.client.transport_options
        interval = options.get("visibility_heartbeat") or options.get("visibility_timeout", 3600) / 4
        cycle._visibility_heartbeat_tref = loop.call_repeatedly(interval, self._visibility_heartbeat)

    def _visibility_heartbeat(self) -> None:
        for channel in list(self.cycle._channels):
            if channel.qos is None or channel.closed:
                continue
            try:
                channel.qos.refresh_unacked()
            except channel.connection_errors:
                logger.debug("Visibility heartbeat skipped: the broker is unreachable.", exc_info=True)
