"""Stage timers, cProfile listings, and requests through Django's WSGI handler in this process."""

from __future__ import annotations

import functools
import io
import pstats
import statistics
import sys
import time
from collections import defaultdict


class StageTimer:
    """Inclusive time per call path of wrapped functions; exclusive = inclusive - wrapped children."""

    def __init__(self):
        self.stack: list[str] = []
        self.inclusive: dict[tuple, float] = defaultdict(float)
        self.active = False

    def wrap(self, owner, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)
        timer = self

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            if not timer.active:
                return original(*args, **kwargs)
            timer.stack.append(name)
            path = tuple(timer.stack)
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timer.inclusive[path] += time.perf_counter() - began
                timer.stack.pop()

        setattr(owner, attribute, wrapper)

    def time_root(self, name: str, call):
        """Call `call()` as the root stage `name`: its result, wall and thread CPU seconds, and take()."""
        self.active = True
        self.stack.append(name)
        cpu, began = time.thread_time(), time.perf_counter()
        try:
            result = call()
        finally:
            wall, cpu = time.perf_counter() - began, time.thread_time() - cpu
            self.inclusive[(name,)] += wall
            self.stack.pop()
            self.active = False
        return result, wall, cpu, self.take()

    def take(self) -> dict[tuple, tuple[float, float]]:
        """{path: (inclusive, exclusive)} of the calls since the last take()."""
        inclusive = dict(self.inclusive)
        self.inclusive.clear()
        result = {}
        for path, total in inclusive.items():
            children = sum(t for p, t in inclusive.items() if len(p) == len(path) + 1 and p[: len(path)] == path)
            result[path] = (total, total - children)
        return result


def stage_medians(samples: list[dict[tuple, tuple[float, float]]]) -> list[dict]:
    """Every call path of StageTimer.take() samples, depth first (children in first-seen order), with the
    median inclusive and exclusive ms over the samples and the median presence (1: in most of them)."""
    first_seen: dict[tuple, int] = {}
    for sample in samples:
        for path in sample:
            first_seen.setdefault(path, len(first_seen))
    paths = sorted(first_seen, key=lambda p: tuple(first_seen.get(p[:i], 0) for i in range(1, len(p) + 1)))
    return [
        {
            "path": path,
            "inclusive_ms": statistics.median(sample.get(path, (0, 0))[0] for sample in samples) * 1000,
            "exclusive_ms": statistics.median(sample.get(path, (0, 0))[1] for sample in samples) * 1000,
            "present": statistics.median(1 if path in sample else 0 for sample in samples),
        }
        for path in paths
    ]


def cprofile_text(source, sort: str = "tottime", count: int = 25) -> str:
    """pstats' listing of a profile (a cProfile.Profile or a .prof path), `count` functions by `sort`."""
    stream = io.StringIO()
    pstats.Stats(source, stream=stream).sort_stats(sort).print_stats(count)
    return stream.getvalue()


def wsgi_environ(
    method: str, path: str, *, query: str = "", body: bytes = b"", content_type: str = "", authorization: str = ""
) -> dict:
    """The WSGI environ of a request from 127.0.0.1, as gunicorn's sync worker would pass it."""
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
        "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }  # fmt: skip
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    if content_type:
        environ["CONTENT_TYPE"] = content_type
    if authorization:
        environ["HTTP_AUTHORIZATION"] = authorization
    return environ
