"""Test databases on PostgreSQL are copies of one migrated template, not each migrated from scratch.

Migrating an empty database through every migration takes 10-30 s, and each test process makes one: the three
pytest-xdist workers and the outage process at once at the start of `make test`, the `alone` step after them, and
every `pytest tests/…/test_x.py` a developer runs. The first process to need it migrates a template named after a
digest of the migration files, under an advisory lock the others wait on; each test database is then `CREATE
DATABASE … TEMPLATE` it (Django's TEST["TEMPLATE"]), a second or so, and Django's own migrate on it finds nothing
left to apply. A changed migration gives a new digest, so a new template; the older ones are dropped. (Two checkouts
with different migrations testing at once against one server could drop each other's template between its making and
its copy: the run whose template went fails to make its test database, and its next run makes it again. Code a
RunPython step imports is not in the digest.)
"""

import hashlib
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from django.conf import settings
from django.db.migrations.loader import MigrationLoader

from tests.helpers.processes import ROOT


def use_a_migrated_template() -> None:
    """Point the default database's TEST["TEMPLATE"] at a template migrated to today's migrations (PostgreSQL only)."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        return
    prefix = f"test_{database['NAME']}_template_"
    template = prefix + _migrations_digest()
    with _server(database) as server:
        # Held to the end of the block, across every process and checkout that makes templates of this name on this
        # server: a template is built once, and no run drops another's template while it is being built.
        server.execute("SELECT pg_advisory_lock(hashtext(%s))", [prefix])
        if not _exists(server, template):
            _migrate(server, database, template)
            _drop_older(server, prefix, keep=template)
    database.setdefault("TEST", {})["TEMPLATE"] = template


def _migrations_digest() -> str:
    """A digest of every migration Django would apply, by app, name and file contents."""
    digest = hashlib.sha256()
    for (app, name), migration in sorted(MigrationLoader(None, ignore_no_migrations=True).disk_migrations.items()):
        digest.update(f"{app}.{name}\n".encode())
        digest.update(Path(sys.modules[type(migration).__module__].__file__).read_bytes())
    return digest.hexdigest()[:12]


@contextmanager
def _server(database: dict):
    with psycopg.connect(
        dbname="postgres", user=database["USER"], password=database["PASSWORD"] or None,
        host=database["HOST"] or None, port=database["PORT"] or None, autocommit=True,
    ) as server:  # fmt: skip
        yield server


def _exists(server, name: str) -> bool:
    return server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def _migrate(server, database: dict, template: str) -> None:
    """Migrate into a database of another name and rename it when done: a template is there whole or not at all."""
    building = f"{template}_building"
    server.execute(f'DROP DATABASE IF EXISTS "{building}"')
    server.execute(f'CREATE DATABASE "{building}"')
    url = urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{building}").geturl()  # set: it is PostgreSQL
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0", "--settings=tests.settings"],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, check=True, timeout=600,
    )  # fmt: skip
    server.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')


def _drop_older(server, prefix: str, keep: str) -> None:
    rows = server.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [prefix.replace("_", r"\_") + "%"])
    for (name,) in rows.fetchall():
        if name != keep:
            try:
                server.execute(f'DROP DATABASE IF EXISTS "{name}"')
            except psycopg.errors.ObjectInUse:
                pass  # a session is connected to it (another checkout's run): left to a later run
