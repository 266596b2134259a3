"""Run calls at the same time, as concurrent requests or tasks would, each on its own database connection."""

import threading
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection


def run_at_once(target: Callable[..., Any], calls: Iterable[tuple]) -> tuple[list[Any], list[Exception]]:
    """Call `target(*args)` for each args in `calls`, one thread each, released together; return the results
    and the exceptions (a thread's exception is otherwise lost). Needs `django_db(transaction=True)`."""
    calls = list(calls)
    start = threading.Barrier(len(calls))
    results, errors = [], []

    def run(args: tuple) -> None:
        try:
            start.wait()
            results.append(target(*args))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread opened its own connection

    threads = [threading.Thread(target=run, args=(args,)) for args in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors
