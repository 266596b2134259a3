"""A fixed piece of work timed on the machine a benchmark runs on, so that figures from different machines (or the same
machine under other load) can be compared: a figure ÷ the yardstick measured in the same run.

The weekly close is about half Python and half PostgreSQL; so is the yardstick: a pure-Python part (JSON, dicts,
hashing: what the close's Python does) and a PostgreSQL part (a hash aggregate over generated rows, no table). Each is
the best of three: the machine's speed, not its noise.
"""

from __future__ import annotations

import hashlib
import json
import time

from .database import admin

_ROW = {
    "id": "conv-000123",
    "input": [{"role": "user", "content": "Where is my parcel? It was due on Monday."}],
    "output": "Your parcel left the depot this morning and should arrive tomorrow.",
    "label": {"correct": {"value": True, "method": "majority"}},
    "tags": ["shipping", "beta"],
    "metadata": {"channel": "chat", "locale": "en-GB", "latency_ms": 812},
}
_PYTHON_ROWS = 25_000
_POSTGRES_SQL = "SELECT count(*) FROM (SELECT md5(i::text) AS h FROM generate_series(1, 400000) AS i GROUP BY 1) AS s"


def _python_once() -> float:
    began = time.perf_counter()
    digest, counts = hashlib.sha256(), {}
    for number in range(_PYTHON_ROWS):
        row = json.loads(json.dumps({**_ROW, "id": f"conv-{number:06d}"}, sort_keys=True))
        counts[row["tags"][number % 2]] = counts.get(row["tags"][number % 2], 0) + 1
        digest.update(row["id"].encode())
    return time.perf_counter() - began


def _postgres_once(conn) -> float:
    began = time.perf_counter()
    conn.execute(_POSTGRES_SQL).fetchone()
    return time.perf_counter() - began


def measure() -> dict[str, float]:
    """{"python_s", "postgres_s", "total_s"}: each part's best of three runs, on this machine, now."""
    python_s = min(_python_once() for _ in range(3))
    with admin() as conn:
        conn.execute("SET jit = off")  # as the server's connections run (expertloop/settings.py)
        conn.execute("SET work_mem = '64MB'")  # an in-memory hash aggregate: CPU, not the disk
        postgres_s = min(_postgres_once(conn) for _ in range(3))
    total_s = python_s + postgres_s
    return {"python_s": round(python_s, 3), "postgres_s": round(postgres_s, 3), "total_s": round(total_s, 3)}
