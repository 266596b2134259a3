"""W1 paired: two checkouts' ingest side by side, one 1,000-record batch to each in turn, under the same load.

    .venv/bin/python bench/w1_paired.py --base /path/to/main-checkout [--branch .] [--pairs 60]

On a shared machine the load moves faster than `w1_ingest.py` alternates whole invocations (its COPY floor
itself ran at 51,000–151,000 rows/s in one hour), so two versions' figures from separate invocations cannot
be told apart. Here both servers run at once (gunicorn, 3 sync workers each, each checkout with its own
fresh database, migrated by its own code, and Redis); one client sends batch i to both, in alternating
order, then times a COPY of the same 1,000 records into a one-column jsonb table. It prints the median
request per side, the median of the per-pair ratios branch/base with its quartiles, and each side's
outputs/s ÷ the COPY rate. Each checkout needs its `.venv`.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import time
from pathlib import Path

import psycopg
import records
from harness.database import PG_URL, REDIS_URL, drop_database, recreate_database, server_env
from harness.server import Gunicorn

SETUP = (
    "from labeling.models import Project; from labeling.services.api_keys import create_api_key; "
    "p = Project.objects.create(slug='paired', name='paired'); "
    "print(create_api_key(project=p, name='bench', scopes=['ingest']).secret)"
)


def start(root: Path, database: str, redis_url: str) -> tuple[Gunicorn, str]:
    recreate_database(database)
    env = server_env(database, redis_url)
    python = str(root / ".venv" / "bin" / "python")
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True)
    shell = [python, "manage.py", "shell", "-c", SETUP]
    key = subprocess.run(shell, cwd=root, env=env, check=True, capture_output=True).stdout.decode().split()[-1]
    here = os.getcwd()
    os.chdir(root)  # gunicorn imports the app from the checkout it starts in
    try:
        server = Gunicorn(env=env, workers=3, worker_class="sync").start()
    finally:
        os.chdir(here)
    return server, key


def post(port: int, key: str, body: bytes) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    began = time.perf_counter()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    conn.request("POST", "/api/v1/outputs", body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    seconds = time.perf_counter() - began
    conn.close()
    if response.status != 200:
        raise SystemExit(f"{response.status}: {payload[:300]!r}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="the checkout to compare against")
    parser.add_argument("--branch", type=Path, default=Path.cwd(), help="the checkout measured (default: here)")
    parser.add_argument("--pairs", type=int, default=60, help="batches sent to each side (default 60)")
    parser.add_argument("--database", default="expertloop_bench_w1_paired", help="prefix of the two databases")
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args()
    sides = {"base": args.base.resolve(), "branch": args.branch.resolve()}
    bodies = records.batch_bodies(args.pairs * 1000, 1000)
    lines = [records.record_json(j) + b"\n" for j in range(args.pairs * 1000)]
    chunks = [b"".join(lines[i * 1000 : (i + 1) * 1000]) for i in range(args.pairs)]
    servers: dict[str, tuple[Gunicorn, str]] = {}
    floor = psycopg.connect(f"{PG_URL}/postgres", autocommit=True)
    try:
        for side, root in sides.items():
            servers[side] = start(root, f"{args.database}_{side}", args.redis_url)
        floor.execute("CREATE TEMP TABLE w1_floor (doc jsonb)")
        for server, key in servers.values():  # warm every worker
            for i in range(3):
                post(server.port, key, records.batch_body(10**8 + i * 1000, 10**8 + (i + 1) * 1000))
        times: dict[str, list[float]] = {"base": [], "branch": [], "copy": []}
        load = [os.getloadavg()[0]]
        for i, body in enumerate(bodies):
            for side in ("base", "branch") if i % 2 == 0 else ("branch", "base"):
                server, key = servers[side]
                times[side].append(post(server.port, key, body))
            began = time.perf_counter()
            with floor.cursor() as cursor, cursor.copy("COPY w1_floor (doc) FROM STDIN") as copy:
                copy.write(chunks[i])
            times["copy"].append(time.perf_counter() - began)
            floor.execute("TRUNCATE w1_floor")
        load.append(os.getloadavg()[0])
    finally:
        floor.close()
        for side, (server, _) in servers.items():
            server.stop()
            drop_database(f"{args.database}_{side}")
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    ratios = sorted(b / a for a, b in zip(times["base"], times["branch"], strict=True))
    quarter = len(ratios) // 4
    print(f"load average {load[0]:.2f} → {load[1]:.2f}; {args.pairs} pairs of 1,000-record POSTs, one client")
    print(f"request median: base {medians['base']:.1f} ms, branch {medians['branch']:.1f} ms")
    spread = f"q1 {ratios[quarter]:.2f}, q3 {ratios[-quarter - 1]:.2f}"
    print(f"paired branch/base: median {statistics.median(ratios):.2f} ({spread})")
    print(f"COPY of the same 1,000 records: {medians['copy']:.1f} ms")
    for side in ("base", "branch"):
        print(f"{side}: {1e6 / medians[side]:,.0f} outputs/s = {medians['copy'] / medians[side]:.3f} × the COPY rate")


if __name__ == "__main__":
    main()
