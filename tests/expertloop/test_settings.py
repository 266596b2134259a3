"""Settings come from the environment and fail loudly on bad values."""

import pytest

from tests.helpers.processes import manage_check


def test_secret_key_is_required_unless_debug():
    refused = manage_check()
    assert refused.returncode != 0
    assert "SECRET_KEY is required" in refused.stderr
    assert manage_check(DEBUG="true").returncode == 0
    assert manage_check(SECRET_KEY="s3cret").returncode == 0


@pytest.mark.parametrize(
    "env, message",
    [
        ({"TIME_ZONE": "Mars/Olympus"}, "not a known IANA time zone"),
        ({"INGEST_MAX_RECORDS": "many"}, "invalid literal for int"),
        ({"INGEST_MAX_RECORDS": "0"}, "must be a positive integer"),
        ({"DEBUG": "perhaps"}, "DEBUG"),
        ({"DATABASE_URL": "nosuchdb://x"}, "nosuchdb"),
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
    ],
)
def test_bad_values_fail_at_start(env, message):
    result = manage_check(SECRET_KEY="s3cret", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_without_redis_tasks_run_eagerly_and_it_says_so():
    result = manage_check(DEBUG="true")
    assert "REDIS_URL is not set: Celery tasks run eagerly" in result.stderr
