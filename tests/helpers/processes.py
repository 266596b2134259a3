"""Processes the tests start (manage.py, Celery workers) and how they wait for them; gunicorn is in servers.py."""

import json
import os
import signal
import subprocess
import sys
import tempfile
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


def manage_many(argv: list[str], envs: list[dict]) -> list[subprocess.CompletedProcess]:
    """`manage.py *argv` once per environment (each the whole environment of its run), as `subprocess.run` would
    answer each, but all forked from one process that imports the libraries once (tests/helpers/forked_manage.py):
    a tenth of the CPU of a process each for a value refused at start-up, half for a whole check."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "helpers" / "forked_manage.py")],
        cwd=ROOT, env=settings_free_environment(), input=json.dumps({"argv": argv, "envs": envs}),
        capture_output=True, text=True, timeout=60 + 15 * len(envs), check=True,
    )  # fmt: skip
    command = [sys.executable, "manage.py", *argv]
    return [subprocess.CompletedProcess(command, **result) for result in json.loads(done.stdout)]


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


def start_worker(*options: str, log: Path | None = None, empty_queue: bool = True, **env: str) -> subprocess.Popen:
    """A real Celery worker process on the test database and this run's Redis queue, in a process group of its own
    so that `stop_worker` ends the children a prefork pool forks too.

    `options`: worker options besides the solo pool (`"--pool=prefork", "--concurrency=2"`, `"--queues=…"`,
    `"-B"`); `env`: settings of its own (REDIS_URL, DB_TASK_STATEMENT_TIMEOUT, …). The queue is emptied first of
    what earlier tests left, unless `empty_queue=False`: a worker that takes over what a killed one held. It logs to
    `log` (a temporary file when None, which the caller removes), kept as `process.log`: a pipe nobody reads would
    fill after a few hundred tasks and stall it.
    """
    import redis
    from django.conf import settings

    if empty_queue:
        redis.Redis.from_url(env.get("REDIS_URL", settings.REDIS_URL)).delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    if log is None:
        with tempfile.NamedTemporaryFile(prefix="celery-worker-", suffix=".log", delete=False) as file:
            log = Path(file.name)
    pool = [] if any(option.startswith("--pool") for option in options) else ["--pool=solo"]
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "expertloop", "worker", *pool, *options, "--loglevel=INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env_for_test_database(**env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    process.log = log
    return process


def worker_ready(process: subprocess.Popen) -> bool:
    """Whether the worker said it is ready (Celery logs `celery@<host> ready.` once it consumes)."""
    return " ready." in process.log.read_text(errors="replace")


def worker_log(process: subprocess.Popen, tail: int = 3000) -> str:
    """The end of what the worker logged, for an assertion's message."""
    return process.log.read_text(errors="replace")[-tail:]


def stop_worker(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Send `sig` to the worker's process group and wait for it; SIGKILL the group if it outlives `timeout`."""
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_for(predicate, timeout=30.0) -> bool:
    """Poll `predicate` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
