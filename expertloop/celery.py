"""The Celery app. Workers: `celery -A expertloop worker`; beat: `celery -A expertloop beat`."""

import logging
import os

from celery import Celery
from celery.signals import celeryd_init

from expertloop.db import use_task_statement_timeout

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "expertloop.settings")

app = Celery("expertloop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


@celeryd_init.connect
def refuse_worker_without_broker(**kwargs):
    """A worker with no REDIS_URL would consume from an in-memory broker nobody publishes to."""
    if app.conf.task_always_eager:
        raise RuntimeError("REDIS_URL is not set: tasks run eagerly in the web process; no worker is needed.")


@celeryd_init.connect
def longer_statement_timeout(**kwargs):
    """Tasks (a weekly close, a dataset build) may run statements longer than a web request may wait."""
    use_task_statement_timeout()
