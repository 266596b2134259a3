"""The Celery app. Workers: `celery -A expertloop worker`; beat: `celery -A expertloop beat`."""

import logging
import os

from celery import Celery
from celery.signals import beat_init, celeryd_init

from expertloop.db import use_task_statement_timeout

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "expertloop.settings")

app = Celery("expertloop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


@celeryd_init.connect
@beat_init.connect
def refuse_to_start_without_broker(sender=None, **kwargs):
    """A worker or beat with no REDIS_URL would consume from, or send to, an in-memory broker of its own."""
    if app.conf.task_always_eager:
        # SystemExit, not an Exception: Celery logs a signal handler's Exception and starts the process anyway.
        raise SystemExit("REDIS_URL is not set: tasks run eagerly in the web process; no worker or beat is needed.")


@celeryd_init.connect
def longer_statement_timeout(**kwargs):
    """Tasks (a weekly close, a dataset build) may run statements longer than a web request may wait."""
    use_task_statement_timeout()
