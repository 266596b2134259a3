"""gunicorn as the Dockerfile runs it, on 127.0.0.1, started and stopped by PID: for benchmarks and tests alike."""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import ROOT
from .sampling import children


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn serving `app` with the given environment, its log in a file (a temporary one unless given).

    Used as `with Gunicorn(env=…) as server:`, or start() and stop(). start() returns once every worker
    has been forked and the server answers: a GET of `ready_path` (any status), or without one a TCP
    connection, so that the first request of a test is still the first the app serves.
    """

    def __init__(
        self,
        *,
        env: dict[str, str],
        app: str = "expertloop.wsgi",
        port: int = 0,
        workers: int = 1,
        worker_class: str = "gthread",
        threads: int = 1,
        timeout: int = 120,
        log_path: Path | None = None,
        options: tuple[str, ...] | list[str] = (),
        ready_path: str | None = None,
    ):
        self.port = port or free_port()
        self.workers = workers
        self.env = env
        self.ready_path = ready_path
        self.args = [
            sys.executable, "-m", "gunicorn", app,
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(workers),
            "--worker-class", worker_class,
            "--threads", str(threads),
            "--timeout", str(timeout),
            "--graceful-timeout", "10",
            "--no-control-socket",  # gunicorn ≥ 25 shares ~/.gunicorn/gunicorn.ctl between servers otherwise
            *options,
        ]  # fmt: skip
        self.temporary_log = log_path is None
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="gunicorn-", suffix=".log")
            os.close(handle)
            log_path = Path(name)
        self.log_path = Path(log_path)
        self.log = ""  # everything it logged, once stopped
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self, wait: float = 60) -> Gunicorn:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - the server writes to it until stop()
        self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log[-3000:]}")
            if len(children(self.pid)) >= self.workers and self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {wait} s:\n{self.log[-3000:]}")

    def _answers(self) -> bool:
        try:
            if self.ready_path is None:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", self.ready_path)
                conn.getresponse().read()
            finally:
                conn.close()
            return True
        except (OSError, http.client.HTTPException):
            return False

    def output(self) -> str:
        """What the server has logged so far."""
        if self._log is None or self._log.closed:
            return self.log
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 20 s); keep what it logged in `log`."""
        if self._log is None or self._log.closed:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        self.log = self.log_path.read_text(errors="replace")
        if self.temporary_log:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def add_server_options(parser: argparse.ArgumentParser, *, workers: int, workers_help: str = "") -> None:
    """The options of a workload measured through gunicorn."""
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument(
        "--workers", type=int, default=workers, help=workers_help or f"gunicorn workers (default {workers})"
    )
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (default sync)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker, for gthread (default 1)")
    parser.add_argument(
        "--app",
        default="expertloop.wsgi",
        help="WSGI app for gunicorn (default expertloop.wsgi); e.g. a patched copy on PYTHONPATH to try a change",
    )
    parser.add_argument("--rss-interval", type=float, default=0.05, help="RSS sampling interval, s (default 0.05)")
