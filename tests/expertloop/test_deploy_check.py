"""`manage.py check --deploy --fail-level WARNING` passes with production settings, and says what is missing."""

import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.helpers.processes import ROOT, manage_many

PRODUCTION = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "expertloop.example.com",
    "SECURE_COOKIES": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "EMAIL_URL": "smtp+tls://expertloop:s3cr3t@smtp.example.com:587",
    "SITE_URL": "https://expertloop.example.com",
    # Never connected to by the check: PostgreSQL and Redis as Compose names them.
    "DATABASE_URL": "postgres://expertloop:s3cr3t@db:5432/expertloop",
    "REDIS_URL": "redis://redis:6379/0",
}


CHECK_DEPLOY = ["check", "--deploy", "--fail-level", "WARNING", "--settings=expertloop.settings"]


def deploy_environment(**env) -> dict[str, str]:
    # Not this run's own settings, nor the async escape hatch the browser tests set for their live server.
    own = {"DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", *PRODUCTION}
    clean = {k: v for k, v in os.environ.items() if k not in own}
    return {**clean, "SECRET_KEY": secrets.token_urlsafe(50), **env}


def check_deploy(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *CHECK_DEPLOY],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=deploy_environment(**env),
    )  # fmt: skip


def checks_by_case(cases: list[tuple[dict, str]], env_of) -> dict[str, subprocess.CompletedProcess]:
    """`check --deploy` in the environment `env_of(case's values)` of each case, each a fresh Django of its own,
    forked from one process that imported the libraries once (tests/helpers/forked_manage.py): by the values' JSON."""
    results = manage_many(CHECK_DEPLOY, [deploy_environment(**env_of(values)) for values, _ in cases])
    return {json.dumps(values, sort_keys=True): result for (values, _), result in zip(cases, results, strict=True)}


def test_production_settings_pass_every_deployment_check_including_the_openapi_schema():
    result = check_deploy(**PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


MISSING = [
    ({"SECURE_HSTS_SECONDS": None}, "security.W004"),  # not set at all
    ({"SECURE_SSL_REDIRECT": "false"}, "security.W008"),
    ({"SECURE_HSTS_PRELOAD": "false"}, "security.W021"),
    ({"SECURE_COOKIES": "false"}, "security.W012"),
    ({"EMAIL_URL": None}, "mail.E001"),  # mail printed to the console: no invitation would arrive
    ({"EMAIL_URL": "filemail:////tmp/expertloop-mail"}, "mail.E001"),
    # Every link in invitations, password resets, digests and webhooks would point at the server's own machine.
    ({"SITE_URL": None}, "expertloop.E001"),  # the default, http://127.0.0.1:8000
    ({"SITE_URL": "http://localhost:8000"}, "expertloop.E001"),
    ({"SITE_URL": "https://127.0.0.2"}, "expertloop.E001"),
    ({"SITE_URL": "http://[::1]:8000/"}, "expertloop.E001"),
    ({"SITE_URL": "http://0.0.0.0:8000"}, "expertloop.E001"),
    ({"DATABASE_URL": None}, "expertloop.W001"),  # the demo's SQLite file
    ({"DATABASE_URL": "sqlite:///:memory:"}, "expertloop.W001"),
    ({"REDIS_URL": None}, "expertloop.W002"),  # tasks run eagerly in the web process; beat never runs
    ({"REDIS_URL": ""}, "expertloop.W002"),
]  # fmt: skip


def _production_with(changed: dict) -> dict:
    return {name: value for name, value in {**PRODUCTION, **changed}.items() if value is not None}


@pytest.fixture(scope="module")
def checked_missing() -> dict[str, subprocess.CompletedProcess]:
    return checks_by_case(MISSING, _production_with)


@pytest.mark.timeout(600)  # its module fixture runs every case's manage.py in the first case's setup
@pytest.mark.parametrize("changed, check", MISSING)
def test_a_missing_https_or_mail_setting_fails_the_check(changed, check, checked_missing):
    result = checked_missing[json.dumps(changed, sort_keys=True)]

    assert result.returncode != 0
    assert check in result.stderr


BAD_VALUES = [
    ({"DB_CONNECT_TIMEOUT": "0"}, "DB_CONNECT_TIMEOUT must be a positive integer"),
    ({"DB_STATEMENT_TIMEOUT": "-1"}, "DB_STATEMENT_TIMEOUT must be 0 (no limit) or a number of seconds"),
    ({"DB_TASK_STATEMENT_TIMEOUT": "soon"}, "DB_TASK_STATEMENT_TIMEOUT='soon' is not a whole number"),
    ({"DB_CLIENT_CHECK_INTERVAL": "-5"}, "DB_CLIENT_CHECK_INTERVAL must be 0 (never check) or a number of seconds"),
    ({"SECURE_HSTS_SECONDS": "-5"}, "SECURE_HSTS_SECONDS must be 0"),
    ({"SECURE_SSL_REDIRECT": "perhaps"}, "SECURE_SSL_REDIRECT"),
    ({"DATASET_FILES_KEEP_LATEST": "-1"}, "DATASET_FILES_KEEP_LATEST must be 0 or more"),
    ({"DATASET_FILES_KEEP_DAYS": "two weeks"}, "DATASET_FILES_KEEP_DAYS='two weeks' is not a whole number"),
]  # fmt: skip


@pytest.fixture(scope="module")
def checked_bad_values() -> dict[str, subprocess.CompletedProcess]:
    return checks_by_case(BAD_VALUES, lambda env: {**PRODUCTION, **env})


@pytest.mark.timeout(600)  # its module fixture runs every case's manage.py in the first case's setup
@pytest.mark.parametrize("env, message", BAD_VALUES)
def test_bad_timeout_and_https_values_fail_at_start(env, message, checked_bad_values):
    result = checked_bad_values[json.dumps(env, sort_keys=True)]

    assert result.returncode != 0
    assert message in result.stderr
