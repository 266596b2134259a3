"""Progress lines, percentiles, and the result file every workload writes to bench/out/."""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import statistics
import subprocess
from collections.abc import Callable
from datetime import datetime

from . import OUT, ROOT
from .database import postgres_version


def log(message: str) -> None:
    """Print a progress line stamped with the time of day."""
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def percentiles(values_ms: list[float]) -> dict:
    """p50, p95, p99 and max of latencies in ms (rounded), and how many there were."""
    return {f"p{q}_ms": round(percentile(values_ms, q), 2) for q in (50, 95, 99)} | {
        "max_ms": round(max(values_ms), 2) if values_ms else float("nan"),
        "n": len(values_ms),
    }


def latency_summary(seconds: list[float], noun: str = "loads") -> str:
    """'N loads: median …, p95 …, max … ms' of latencies given in seconds."""
    if not seconds:
        return "no samples"
    ms = [value * 1000 for value in seconds]
    median, p95 = statistics.median(ms), percentile(ms, 95)
    return f"{len(ms)} {noun}: median {median:.0f} ms, p95 {p95:.0f} ms, max {max(ms):.0f} ms"


def git_state() -> dict:
    """The commit under test, and whether the server's code differs from it."""

    def git(*args):
        try:
            done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        except OSError:
            return ""
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "labeling", "api", "expertloop")
    return {"commit": git("rev-parse", "--short", "HEAD"), "server_code_changed": changed.splitlines()}


def machine() -> dict:
    """The machine and the PostgreSQL the figures were measured on."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "postgres": postgres_version()}


def new_stamp() -> str:
    """The timestamp naming one invocation's result files (bench/out/ is created for them)."""
    OUT.mkdir(parents=True, exist_ok=True)
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def save_and_print(filename: str, report: dict, print_report: Callable[[dict], None]) -> None:
    """Write the report to bench/out/<filename> as JSON, print its figures, and say where it went."""
    path = OUT / filename
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print_report(report)
    log(f"Wrote {path.relative_to(ROOT)}")


def save_profile(prefix: str, figures: dict, profiles: dict[str, cProfile.Profile]) -> None:
    """Write a profile's figures to bench/out/<prefix>-<stamp>.json, each cProfile beside it as <suffix>.prof."""
    stamp = new_stamp()
    for suffix, profiler in profiles.items():
        profiler.dump_stats(OUT / f"{prefix}-{stamp}{suffix}.prof")
    (OUT / f"{prefix}-{stamp}.json").write_text(json.dumps(figures, indent=2) + "\n")
    log(f"Wrote bench/out/{prefix}-{stamp}.json and .prof (open with: python -m pstats)")


def workload_parser(doc: str) -> argparse.ArgumentParser:
    """The command line of a workload script, described by its docstring's first paragraph."""
    return argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
