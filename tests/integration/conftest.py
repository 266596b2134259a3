"""Fixtures of the integration tests: real worker processes."""

import subprocess
import sys

import pytest
from django.conf import settings

from tests.helpers.processes import ROOT, env_for_test_database, stop


@pytest.fixture
def worker():
    """A real Celery worker process on this run's Redis queue and test database."""
    import redis

    redis.Redis.from_url(settings.REDIS_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "expertloop", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env_for_test_database(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    yield process
    stop(process)
