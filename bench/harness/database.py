"""Fresh PostgreSQL databases, the Redis db a benchmark flushes, and the environment its Django processes get.

A benchmark makes its own database (and drops it unless kept) and flushes its own Redis db before and
after: never point `--redis-url` at a db other work uses.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from . import ROOT

PG = "host=127.0.0.1 port=5432 user=postgres"
PG_URL = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/14"  # the benchmarks' default; the tests use db 15
# What a benchmark sets for its Django processes, whatever this shell has.
DJANGO_KEYS = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")


def admin() -> psycopg.Connection:
    """An autocommit connection to the `postgres` database, to create and drop others."""
    return psycopg.connect(f"{PG} dbname=postgres", autocommit=True)


def recreate_database(name: str) -> None:
    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_exists(name: str) -> bool:
    with admin() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def copy_database(template: str, name: str) -> float:
    """A fresh copy of the template (file copy: faster than WAL-logging a GB); return seconds."""
    began = time.perf_counter()
    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
    return time.perf_counter() - began


def postgres_version() -> str:
    with admin() as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


class Database:
    """A benchmark's database by name, with one autocommit connection opened when first used."""

    def __init__(self, name: str):
        self.name = name
        self._conn: psycopg.Connection | None = None

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(f"{PG} dbname={self.name}", autocommit=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


@contextmanager
def fresh_database(name: str, *, redis_url: str | None = None, keep: bool = False) -> Iterator[Database]:
    """A newly created database (and a flushed Redis db) for one benchmark; afterwards every connection to it
    is closed, Redis flushed again and the database dropped unless `keep`."""
    if redis_url:
        flush_redis(redis_url)
    recreate_database(name)
    database = Database(name)
    try:
        yield database
    finally:
        if redis_url:
            flush_redis(redis_url)
        database.close()
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if not keep:
            drop_database(name)


def server_env(database: str, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    """This shell's environment for a Django process on `database` with the production settings, DEBUG off;
    Celery publishes to `redis_url` (without it, no broker: on-commit tasks run in the process)."""
    env = {k: v for k, v in os.environ.items() if k not in DJANGO_KEYS}
    env.update(
        DATABASE_URL=f"{PG_URL}/{database}",
        SECRET_KEY="bench",
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SETTINGS_MODULE="expertloop.settings",
        LOG_LEVEL="WARNING",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


def django_setup(env: dict[str, str]) -> None:
    """Set Django up in this process with the environment a server would get (see server_env)."""
    for key in DJANGO_KEYS:
        if key not in env:
            os.environ.pop(key, None)  # a REDIS_URL left in the shell must not reach the settings
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def measure_in_process(args: argparse.Namespace, measure, **extra_env: str) -> None:
    """For a workload that makes its own database (`add_database_options`): create it, set Django up in this
    process on it (production settings, `extra_env` on top), migrate, run `measure(args)`, then clean up."""
    with fresh_database(args.database, redis_url=args.redis_url, keep=args.keep_db):
        django_setup(server_env(args.database, args.redis_url, **extra_env))
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        measure(args)


def run_setup(code: str, env: dict[str, str], args: tuple[str, ...] | list[str] = ()) -> list[str]:
    """Run set-up code (Django, migrate, services) in a child process, with `args` as its sys.argv[1:]; the fields
    of its `BENCH …` line."""
    command = [sys.executable, "-c", code, *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    found = next((line for line in done.stdout.splitlines() if line.startswith("BENCH ")), None)
    if done.returncode or found is None:
        raise SystemExit(f"Setting up the database failed:\n{done.stdout}\n{done.stderr}")
    return found.split()[1:]


def add_database_options(parser: argparse.ArgumentParser, *, database: str, redis_url: str = REDIS_URL) -> None:
    """--database, --redis-url and --keep-db, for a workload that makes its own database."""
    parser.add_argument("--database", default=database, help="database to (re)create")
    parser.add_argument(
        "--redis-url", default=redis_url, help=f"Redis for Celery and the cache, flushed (default {redis_url})"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards")


def explain_statements(database: str, statements: list[dict], limit: int) -> list[dict]:
    """EXPLAIN (ANALYZE, BUFFERS) of the first `limit` distinct reads among recorded statements (each a dict
    with `sql`, `params`, optionally `many`; every other key is kept), with their parameters as recorded."""
    plans, seen = [], set()
    with psycopg.connect(f"{PG} dbname={database}", autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        for statement in statements:
            sql = statement["sql"]
            params = statement["params"]
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")) or sql in seen or statement.get("many"):
                continue
            if isinstance(params, str):  # kept only as its repr (too long to re-run): nothing to EXPLAIN with
                continue
            seen.add(sql)
            try:
                rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
                plan = "\n".join(row[0] for row in rows)
            except psycopg.Error as exc:
                plan = f"(EXPLAIN failed: {exc})"
            plans.append({**{k: v for k, v in statement.items() if k not in ("params", "many")}, "plan": plan})
            if len(plans) >= limit:
                break
    return plans
