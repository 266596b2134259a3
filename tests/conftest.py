"""Personas, API helpers, and the rule that CI never skips a test for a missing service."""

import json
import os
import shutil
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.signals import request_finished
from django.db import connections

from labeling.models import Project
from labeling.rules.calendar import current_week
from labeling.selectors.rubrics import forget_published_versions
from labeling.services.api_keys import create_api_key
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.helpers import flush, row_locks, template_db
from tests.helpers.clock import assert_clock_covers_every_project, run_clock_clear_of_week_starts
from tests.helpers.rubrics import QUESTIONS
from tests.helpers.servers import free_port

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _missing_service(marker: str) -> str | None:
    if marker == "postgres" and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "PostgreSQL is not configured (set DATABASE_URL)"
    if marker == "shell_tools":
        missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
        return f"{', '.join(missing)} not installed (the README's shell recipes use them)" if missing else None
    if marker == "redis":
        if not settings.REDIS_URL:
            return "Redis is not configured (set REDIS_URL)"
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            return f"Redis at {settings.REDIS_URL} does not answer: {exc}"
    if marker == "browser" and not Path(CHROMIUM).exists():
        return f"No chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def pytest_runtest_setup(item):
    for marker in ("postgres", "redis", "browser", "shell_tools"):
        if item.get_closest_marker(marker):
            reason = _missing_service(marker)
            if reason and CI:
                pytest.fail(f"{reason}; with CI=true no test may be skipped.", pytrace=False)
            if reason:
                pytest.skip(reason)


def pytest_collection_modifyitems(config, items):
    """Put the files of `heavy` tests first, each file's tests in their order, the other files in theirs.

    scripts/test.sh hands whole files to the xdist workers in this order (--no-loadscope-reorder): started last,
    a test of minutes would keep one worker busy long after the other ran out of work.
    """
    heavy = {item.path for item in items if item.get_closest_marker("heavy")}
    items.sort(key=lambda item: item.path not in heavy)


def _close_a_threads_connections(**kwargs) -> None:
    if threading.current_thread() is not threading.main_thread():
        connections.close_all()


@pytest.fixture(scope="session", autouse=True)
def _live_server_threads_close_their_connections():
    """A live server's request thread closes its database connection when its request ends.

    With CONN_MAX_AGE the connection stays for the next request on the same socket, and a keep-alive client left open
    (an httpx pool) keeps the thread and its session to the end of the run: dropping the test database then failed
    ("being accessed by other users"). The main thread's connection (the test's own) is left alone."""
    request_finished.connect(_close_a_threads_connections, dispatch_uid="tests-close-thread-connections")
    yield
    request_finished.disconnect(dispatch_uid="tests-close-thread-connections")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """pytest-django's hook before the test database is made: make it a copy of a migrated template."""
    template_db.use_a_migrated_template()


@pytest.fixture(scope="session", autouse=True)
def _flush_empties_only_the_tables_with_rows():
    flush.install()


@pytest.fixture(scope="session", autouse=True)
def _row_locks_name_their_tables():
    row_locks.install()


@pytest.fixture(autouse=True)
def _no_row_lock_on_joined_rows():
    """No statement of the test locked the rows of a table it only joins (tests/helpers/row_locks.py), even one
    whose error a thread or a task swallowed."""
    row_locks.refused.clear()
    yield
    assert row_locks.refused == []


@pytest.fixture(autouse=True)
def _cold_rubric_cache():
    """Each test starts with this process's cache of rubric versions empty, so the queries it counts are its own."""
    forget_published_versions()


# Personas: alice-and-bob style, one per role, all in `project`; `outsider` belongs to another project.
@pytest.fixture
def project(db):
    return ProjectFactory(slug="support-bot", name="Support bot")


@pytest.fixture
def other_project(db):
    return ProjectFactory(slug="sql-assistant", name="SQL assistant")


@pytest.fixture
def this_week(project, clear_of_week_start) -> date:
    """The project's running week (the Monday, or the day its weeks start on), on the clock `clear_of_week_start` keeps
    a day from every week start: a week starting while the test runs would move "this week" off the rows it made.

    That clock moves a pinned one too: a test that pins its own moment reads its week with `current_week(project, at)`
    (tests/labeling/web/test_dashboard_weeks.py) rather than asking for this fixture."""
    return current_week(project)


@pytest.fixture
def last_week(this_week) -> date:
    """The week before the running one."""
    return this_week - timedelta(days=7)


@pytest.fixture
def clear_of_week_start(project, request, monkeypatch):
    """timezone.now() a running clock at least a day from the week start of every project the test has when asking
    (`project`, `other_project` when the test uses it: made here first, and any other made before), moved forward
    from the wall clock when it is nearer: a test that makes items now and reads "this week" on a later request stays
    in one week. `this_week` and `last_week` ask for it before they read the clock.

    A project made or moved to another zone or cycle weekday after it would not be covered: at the end of the test
    every project must have a calendar the clock was kept clear of (tests/test_clock.py)."""
    if "other_project" in request.fixturenames:
        request.getfixturevalue("other_project")
    projects = list(Project.objects.all())
    run_clock_clear_of_week_starts(monkeypatch, projects)
    yield
    assert_clock_covers_every_project(projects, by="clear_of_week_start")


def _member(project, username, role):
    return MembershipFactory(project=project, user=UserFactory(username=username), role=role).user


@pytest.fixture
def expert(project):
    return _member(project, "erin", "expert")


@pytest.fixture
def other_expert(project):
    return _member(project, "ezra", "expert")


@pytest.fixture
def lead(project):
    return _member(project, "lena", "lead")


@pytest.fixture
def engineer(project):
    return _member(project, "enzo", "engineer")


@pytest.fixture
def operator(db):
    """An operator (the `operate_all_projects` permission, as `create_operator` gives it), a member of no project."""
    user = UserFactory(username="opal")
    user.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    return user


@pytest.fixture
def outsider(other_project):
    return _member(other_project, "oscar", "expert")


@pytest.fixture
def rubric(project):
    """Version 1 of the project's rubric: the shared questions of tests/helpers/rubrics.py."""
    return publish_rubric(project=project, questions=QUESTIONS, guidelines="# How to judge\nBe **fair**.")


class Api:
    """Calls the REST API the way a product app does: JSON body, bearer key."""

    def __init__(self, client, secret: str | None):
        self.client = client
        self.secret = secret

    def _headers(self, key):
        secret = self.secret if key is ... else key
        return {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}

    def post(self, path, body, *, key=..., content_type="application/json"):
        if not isinstance(body, bytes | str):
            body = json.dumps(body)
        return self.client.generic("POST", path, body, content_type=content_type, **self._headers(key))

    def get(self, path, *, key=...):
        return self.client.get(path, **self._headers(key))


@pytest.fixture
def ingest_key(project):
    return create_api_key(project=project, name="app", scopes=["ingest"])


@pytest.fixture
def read_key(project):
    return create_api_key(project=project, name="reader", scopes=["read"])


@pytest.fixture
def full_key(project):
    return create_api_key(project=project, name="full", scopes=["ingest", "read"])


@pytest.fixture
def other_project_key(other_project):
    return create_api_key(project=other_project, name="other", scopes=["ingest", "read"])


@pytest.fixture
def api(client, full_key):
    return Api(client, full_key.secret)


def output_record(index: int = 0, **overrides) -> dict:
    """A valid output record, as a product app would send it."""
    record = {
        "external_id": f"conv-{index}",
        "occurred_at": "2026-11-20T09:15:00+01:00",
        "input": [{"role": "user", "content": f"Where is my order #{1000 + index}?"}],
        "output": f"Your order #{1000 + index} left our warehouse yesterday and arrives Friday.",
        "model": "gpt-4o-mini",
        "end_user_id": f"u-{index % 13}",
        "session_id": f"s-{index // 3}",
        "context": [{"doc": "shipping-policy", "text": "Standard delivery takes 2-4 days."}],
        "metadata": {"topic": "shipping", "locale": "en-GB"},
        "tags": ["shipping"],
        "feedback": {"score": 1, "comment": "thanks"},
    }
    record.update(overrides)
    return record


def point_celery_at(url: str) -> None:
    """Publish to another broker from now on (the pools are dropped, as Celery does after a fork)."""
    from celery import current_app

    current_app.conf.broker_url = url
    current_app._pool = None
    current_app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """This process publishes to a port where no broker listens, as during a Redis outage."""
    from labeling.resilience import broker_breaker as breaker

    point_celery_at(f"redis://127.0.0.1:{free_port()}/0")
    breaker.close()
    yield
    point_celery_at(settings.CELERY_BROKER_URL)
    breaker.close()


@pytest.fixture
def broker_queue():
    """The real Redis lists this test run's tasks are published to (the default queue and the webhooks'), emptied
    before and after the test, so a failed assertion leaves no message to a later test."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    queues = (settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_WEBHOOK_QUEUE)
    client.delete(*queues)
    yield client
    client.delete(*queues)
