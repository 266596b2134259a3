"""The project's Celery app plus one slow task, for worker fault tests (`-A tests.integration.slow_task_app`).

The task only records when and in which process it started and finished, in files, so a test sees each run
of it (a redelivery shows as a second start) without depending on the broker or the database.
"""

import os
import time
from pathlib import Path

from expertloop.celery import app

__all__ = ["app", "slow"]


@app.task(name="tests.slow", acks_late=True)
def slow(seconds: float, marker: str) -> None:
    Path(f"{marker}.start").open("a").write(f"{os.getpid()} {time.time()}\n")
    time.sleep(seconds)
    Path(f"{marker}.done").open("a").write(f"{os.getpid()} {time.time()}\n")
