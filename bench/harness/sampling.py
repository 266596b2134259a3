"""RSS and CPU of a server's process tree and of PostgreSQL, read from /proc (Linux)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def self_rss_mb() -> float:
    return rss_kb(os.getpid()) / 1024


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (a PostgreSQL backend, a worker)."""
    return cpu_ticks(pid) / TICK


def tree_cpu_seconds(master: int) -> float:
    return sum(cpu_ticks(pid) for pid in [master, *children(master)]) / TICK


def postgres_cpu_ticks() -> dict[int, int]:
    """CPU ticks of every `postgres` process on the machine, by pid."""
    ticks = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if Path(entry.path, "comm").read_text().strip() == "postgres":
                    ticks[int(entry.name)] = cpu_ticks(int(entry.name))
            except OSError:
                continue
    return ticks


def postgres_cpu_since(before: dict[int, int]) -> float:
    """CPU seconds used by postgres processes since `before` (approximate: a process that exited in
    between is missed, and other users' queries on the same server count too)."""
    after = postgres_cpu_ticks()
    return sum(max(0, ticks - before.get(pid, 0)) for pid, ticks in after.items()) / TICK


def pss_mb(master: int) -> float:
    """Proportional set size of master + workers: shared pages (libraries, copy-on-write memory from the
    fork) counted once in total rather than once per process, as the VmRSS sum does."""
    total = 0
    for pid in [master, *children(master)]:
        try:
            for text in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if text.startswith("Pss:"):
                    total += int(text.split()[1])
                    break
        except OSError:
            continue
    return total / 1024


class CpuMeter:
    """CPU seconds used since it was made: by a server's process tree, by every postgres process, by this one."""

    def __init__(self, server_pid: int | None = None):
        self.server_pid = server_pid
        self.server = tree_cpu_seconds(server_pid) if server_pid else 0.0
        self.postgres = postgres_cpu_ticks()
        self.client = time.process_time()

    def used(self) -> dict[str, float]:
        """{"server", "postgres", "client"}: seconds so far ("server" is 0 without a server)."""
        server = tree_cpu_seconds(self.server_pid) - self.server if self.server_pid else 0.0
        return {
            "server": server,
            "postgres": postgres_cpu_since(self.postgres),
            "client": time.process_time() - self.client,
        }


class RssSampler(threading.Thread):
    """Sum of VmRSS of a process and its children every `interval` seconds: `peak_kb` since reset(), and
    each process's own highest RSS in `per_pid` (to tell which worker served)."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = self.last_kb = 0
        self.samples = 0
        self.per_pid: dict[int, int] = {}
        self._stop_event = threading.Event()

    def current(self) -> dict[int, int]:
        """RSS (kB) of the process and each child, now."""
        return {pid: rss_kb(pid) for pid in [self.pid, *children(self.pid)]}

    def sample(self) -> int:
        now = self.current()
        for pid, kb in now.items():
            if kb > self.per_pid.get(pid, 0):
                self.per_pid[pid] = kb
        return sum(now.values())

    def reset(self) -> None:
        self.per_pid = {}
        self.peak_kb, self.samples = self.sample(), 0

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.last_kb = self.sample()
            self.peak_kb = max(self.peak_kb, self.last_kb)
            self.samples += 1

    def peak_mb(self) -> float:
        """The highest sum since reset(), this moment's included."""
        return max(self.peak_kb, self.sample()) / 1024

    def stop(self) -> None:
        self._stop_event.set()


class LockWaitSampler(threading.Thread):
    """The lock waits of one database's sessions, seen every `interval` seconds in `pg_stat_activity` (on a
    connection of its own, in autocommit: each look is a fresh snapshot). A wait is one statement of one session
    seen waiting on a lock; its length is from the first look that saw it to the last, so waits shorter than
    `interval` may be missed and each is at most `interval` short. What a step's time hides (one lane waiting for
    the other's transaction) shows here."""

    LOOK = (
        "SELECT pid, query_start, left(query, 300) FROM pg_stat_activity "
        "WHERE datname = %s AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )

    def __init__(self, conninfo: str, database: str, interval: float = 0.02):
        super().__init__(daemon=True)
        self.conninfo, self.database, self.interval = conninfo, database, interval
        self.waits: dict[tuple, list] = {}  # (pid, query_start) -> [first seen, last seen, statement]
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self._stop_event.wait(self.interval):
                now = time.monotonic()
                for pid, started, statement in conn.execute(self.LOOK, [self.database]).fetchall():
                    self.waits.setdefault((pid, started), [now, now, statement])[1] = now

    def stop(self) -> dict:
        """Stop looking; {"waits", "seconds" (all of them), "longest_s", "longest" (its statement)}."""
        self._stop_event.set()
        self.join()
        lengths = sorted(((last - first, statement) for first, last, statement in self.waits.values()), reverse=True)
        return {
            "waits": len(lengths),
            "seconds": round(sum(length for length, _ in lengths), 3),
            "longest_s": round(lengths[0][0], 3) if lengths else 0.0,
            "longest": lengths[0][1] if lengths else "",
        }
