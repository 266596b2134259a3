"""Processes the tests start (manage.py, Celery workers) and how they wait for them; gunicorn is in servers.py."""

import os
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def settings_free_environment() -> dict:
    """This process's environment without the settings variables a test run sets (tests/settings.py, CI)."""
    own = {
        "SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "ALLOWED_HOSTS", "MEDIA_ROOT",
        "EMAIL_URL",
    }  # fmt: skip
    return {k: v for k, v in os.environ.items() if k not in own and not k.startswith("CELERY_")}


def manage_check(**env) -> subprocess.CompletedProcess:
    """Run `manage.py check` with production settings and only the given settings variables."""
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--settings=expertloop.settings"],
        cwd=ROOT, env={**settings_free_environment(), **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def stop(process: subprocess.Popen, timeout: float = 15) -> None:
    """Ask a child process to stop (SIGTERM) and kill it if it has not within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def env_for_test_database(**extra) -> dict:
    """The environment of this test run, pointed at the test database pytest-django made."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings", **extra}


def start_worker(**env: str) -> subprocess.Popen:
    """A real Celery worker process on this run's Redis queue (emptied first) and test database; `env`: settings
    of its own (DB_TASK_STATEMENT_TIMEOUT, …)."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "expertloop", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env_for_test_database(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def wait_for(predicate, timeout=30.0) -> bool:
    """Poll `predicate` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
