"""Settings come from the environment and fail loudly on bad values."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.processes import ROOT, manage_check, manage_many, settings_free_environment


def run_in_a_fresh_process(code: str, **env) -> subprocess.CompletedProcess:
    """Python code run after django.setup() with the production settings and only the given settings variables."""
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT, env={**settings_free_environment(), "DJANGO_SETTINGS_MODULE": "expertloop.settings", **env},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip


def settings_in_a_fresh_process(names: list[str], **env) -> dict[str, str]:
    code = "from django.conf import settings; " + "; ".join(f"print(str(settings.{name}))" for name in names)
    return dict(zip(names, run_in_a_fresh_process(code, **env).stdout.splitlines(), strict=True))


def test_secret_key_is_required_unless_debug():
    refused = manage_check()
    assert refused.returncode != 0
    assert "SECRET_KEY is required" in refused.stderr
    assert manage_check(DEBUG="true").returncode == 0
    assert manage_check(SECRET_KEY="s3cret").returncode == 0


BAD_VALUES = [
    ({"TIME_ZONE": "Mars/Olympus"}, "not a known IANA time zone"),
    ({"INGEST_MAX_RECORDS": "many"}, "INGEST_MAX_RECORDS='many' is not a whole number"),
    ({"CHANGES_FDR_Q": "five percent"}, "CHANGES_FDR_Q='five percent' is not a number"),
    ({"WEBHOOK_RETRY_SCHEDULE": "5,30,an hour"}, "WEBHOOK_RETRY_SCHEDULE must list positive numbers"),
    ({"DB_PREPARED_STATEMENTS": "maybe"}, "DB_PREPARED_STATEMENTS='maybe' is not a boolean"),
    ({"DB_CONN_MAX_AGE": "-1"}, "DB_CONN_MAX_AGE must be 0"),
    ({"ROUTE_SWEEP_SECONDS": "0"}, "ROUTE_SWEEP_SECONDS must be a positive number of seconds"),
    ({"CYCLE_SWEEP_SECONDS": "-600"}, "CYCLE_SWEEP_SECONDS must be a positive number of seconds"),
    ({"METRICS_REFRESH_SECONDS": "0"}, "METRICS_REFRESH_SECONDS must be a positive number of seconds"),
    ({"CELERY_UNACKED_RESTORE_SECONDS": "0"}, "CELERY_UNACKED_RESTORE_SECONDS must be a positive number"),
    ({"RETENTION_PURGE_HOUR": "24"}, "RETENTION_PURGE_HOUR must be an hour of the day, 0 to 23"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must start with redis:// or rediss://"),
    ({"SITE_URL": "expertloop.example.com"}, "SITE_URL='expertloop.example.com' must be where people reach"),
    ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL='VERBOSE' must be DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    ({"EMAIL_URL": "smtp.example.com"}, "EMAIL_URL is not a mail URL such as smtp+tls://"),
    ({"EMAIL_URL": "smtp://mailer:s3cr3t-pw@smtp.example.com:2525x"}, "EMAIL_URL is not a mail URL such as"),
    ({"EMAIL_TIMEOUT": "0"}, "EMAIL_TIMEOUT must be a positive number of seconds"),
    ({"INGEST_MAX_RECORDS": "0"}, "must be a positive integer"),
    ({"DEBUG": "perhaps"}, "DEBUG"),
    ({"DATABASE_URL": "nosuchdb://x"}, "nosuchdb"),
    ({"DATABASE_URL": "postgres://el:s3cr3t-pw@db:5342x/el"}, "DATABASE_URL is not a database URL such as"),
    # No scheme was a KeyError ('ENGINE'); MySQL asked to install mysqlclient, for a server it cannot run on.
    ({"DATABASE_URL": "el:s3cr3t-pw@db:5432/el"}, "DATABASE_URL is not a database URL such as"),
    ({"DATABASE_URL": "mysql://el:s3cr3t-pw@db/el"}, "DATABASE_URL must be PostgreSQL's (postgres://"),
    ({"REDIS_CACHE_SOCKET_TIMEOUT": "0"}, "REDIS_CACHE_SOCKET_TIMEOUT must be"),
    ({"CELERY_VISIBILITY_TIMEOUT": "0"}, "CELERY_VISIBILITY_TIMEOUT must be"),
    ({"SIGNIN_LOCKOUT_SECONDS": "0"}, "SIGNIN_LOCKOUT_SECONDS must be a positive integer"),
    ({"SIGNIN_MAX_CONCURRENT_CHECKS": "-1"}, "must be 0 or more"),
    ({"PASSWORD_SIGN_IN": "false"}, "PASSWORD_SIGN_IN=false needs single sign-on"),
    ({"PASSWORD_SIGN_IN": "maybe"}, "PASSWORD_SIGN_IN"),
    ({"OIDC_ISSUER": "https://idp.example.com"}, "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are required"),
    ({"OIDC_ISSUER": "idp.example.com", "OIDC_CLIENT_ID": "a", "OIDC_CLIENT_SECRET": "b"}, "issuer URL"),
    ({"PASSWORD_RESET_TIMEOUT": "10"}, "PASSWORD_RESET_TIMEOUT must be at least 60"),
    ({"ALERT_QUEUE_IDLE_DAYS": "0"}, "ALERT_QUEUE_IDLE_DAYS must be between 1 and 365"),
    ({"ALERT_INGEST_SILENCE_HOURS": "700"}, "ALERT_INGEST_SILENCE_HOURS must be between 1 and 672"),
    ({"ALERT_CLOSE_OVERDUE_HOURS": "-1"}, "ALERT_CLOSE_OVERDUE_HOURS must be 0 or more"),
    ({"ALERT_EVALUATE_SECONDS": "5"}, "ALERT_EVALUATE_SECONDS must be 60 or more"),
]


@pytest.fixture(scope="module")
def checked_bad_values() -> dict[str, subprocess.CompletedProcess]:
    """`manage.py check` of each of BAD_VALUES, each a fresh Django of its own, forked from one process that imported
    the libraries once (a process each spent 0.8 s of CPU on the imports alone): by the values' JSON."""
    envs = [{**settings_free_environment(), "SECRET_KEY": "s3cret", **env} for env, _ in BAD_VALUES]
    results = manage_many(["check", "--settings=expertloop.settings"], envs)
    return {json.dumps(env, sort_keys=True): result for (env, _), result in zip(BAD_VALUES, results, strict=True)}


@pytest.mark.timeout(600)  # its module fixture runs every case's manage.py in the first case's setup
@pytest.mark.parametrize("env, message", BAD_VALUES)
def test_bad_values_fail_at_start(env, message, checked_bad_values):
    result = checked_bad_values[json.dumps(env, sort_keys=True)]
    assert result.returncode != 0
    assert message in result.stderr
    assert "s3cr3t-pw" not in result.stderr  # a database URL's password is not printed


# A `.env` line left as `NAME=` (or Compose's `${NAME:-}`) reaches the app as an empty string: the default, as the
# README's Configuration says, never a start-up failure (environ's int("") was one) or an empty queue name or path.
EMPTY_MEANS_DEFAULT = [
    "DB_CONN_MAX_AGE", "DB_CONNECT_TIMEOUT", "INGEST_MAX_RECORDS", "CHANGES_FDR_Q", "TIME_ZONE", "API_THROTTLE_RATE",
    "DATABASE_URL", "EMAIL_URL", "CELERY_DEFAULT_QUEUE", "MEDIA_ROOT", "WEBHOOK_RETRY_SCHEDULE", "LOG_LEVEL",
    "RETENTION_PURGE_HOUR", "DB_PREPARED_STATEMENTS",
]  # fmt: skip


def test_an_empty_value_means_the_default():
    shown = settings_in_a_fresh_process(
        ["TIME_ZONE", "CELERY_TASK_DEFAULT_QUEUE", "MEDIA_ROOT", "INGEST_MAX_RECORDS", "DATABASES"],
        SECRET_KEY="s3cret", **dict.fromkeys(EMPTY_MEANS_DEFAULT, ""),
    )  # fmt: skip

    assert shown["TIME_ZONE"] == "UTC"
    assert shown["CELERY_TASK_DEFAULT_QUEUE"] == "expertloop"
    assert shown["MEDIA_ROOT"] == str(ROOT / "var" / "media")
    assert shown["INGEST_MAX_RECORDS"] == "1000"
    assert "expertloop.sqlite3" in shown["DATABASES"]


def test_host_names_listed_with_blanks_after_the_commas_are_all_answered():
    # "a, b" was the hosts "a" and " b": every request to the second name was a 400 Bad Request.
    statuses = [
        run_in_a_fresh_process(
            "from django.test import Client; "
            f"print(Client().get('/healthz', HTTP_HOST={host!r}).status_code)",
            SECRET_KEY="s3cret", DATABASE_URL="sqlite:///:memory:",
            ALLOWED_HOSTS="expertloop.example.com, labels.example.com ,",
        ).stdout.strip()
        for host in ("expertloop.example.com", "labels.example.com")
    ]  # fmt: skip

    assert statuses == ["200", "200"]


def test_without_redis_tasks_run_eagerly_and_it_says_so():
    result = manage_check(DEBUG="true")
    assert "REDIS_URL is not set: Celery tasks run eagerly" in result.stderr


def test_the_client_check_is_sent_to_postgresql_unless_it_is_turned_off():
    """`DB_CLIENT_CHECK_INTERVAL=0` sends no `client_connection_check_interval` at all: a server older than
    PostgreSQL 14 refuses a connection that names it, so 0 must be the way to run against one."""
    code = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS']['options'])"
    database = {"SECRET_KEY": "s3cret", "DATABASE_URL": "postgres://u@127.0.0.1:5432/db"}

    checked = run_in_a_fresh_process(code, **database).stdout
    unchecked = run_in_a_fresh_process(code, **database, DB_CLIENT_CHECK_INTERVAL="0").stdout

    assert "client_connection_check_interval=5s" in checked
    assert "client_connection_check_interval" not in unchecked and "statement_timeout=" in unchecked


def test_a_test_process_removes_its_media_folder_when_it_exits():
    """Each test process renders dataset files into a media folder of its own under /tmp; it must not outlive the
    process, or every run leaves one folder per process behind."""
    environment = {key: value for key, value in os.environ.items() if key != "EXPERTLOOP_TEST_QUEUES_OF"}
    code = "import django; django.setup(); from django.conf import settings; print(settings.MEDIA_ROOT)"
    shown = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**environment, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip

    media_root = Path(shown.stdout.strip().splitlines()[-1])
    assert media_root.name.startswith("expertloop-media-test-")
    assert not media_root.exists()
