"""The Celery app's own start-up rules (expertloop/celery.py), in real worker processes."""

import subprocess
import sys

import pytest

from tests.helpers.processes import ROOT, settings_free_environment


@pytest.mark.parametrize(
    "command", [["worker", "--pool=solo", "--without-mingle"], ["beat", "--schedule", "{tmp}/celerybeat-schedule"]]
)
def test_a_worker_or_beat_started_without_redis_url_exits_saying_why(tmp_path, command):
    # A process whose environment lacks REDIS_URL (a service unit that forgot it) used an in-memory broker of its own:
    # the worker logged the refusal (as Celery logs any error of a signal handler), then ran for ever, idle; beat sent
    # every sweep, close and heartbeat into it.
    try:
        result = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "expertloop", *(part.format(tmp=tmp_path) for part in command)],
            cwd=ROOT, capture_output=True, text=True, timeout=30,
            env={**settings_free_environment(), "DJANGO_SETTINGS_MODULE": "expertloop.settings",
                 "SECRET_KEY": "s3cret", "DATABASE_URL": "sqlite:///:memory:", "REDIS_URL": ""},
        )  # fmt: skip
    except subprocess.TimeoutExpired as still_running:
        raise AssertionError(f"celery {command[0]} did not exit") from still_running

    assert result.returncode != 0
    assert "REDIS_URL is not set" in result.stderr
