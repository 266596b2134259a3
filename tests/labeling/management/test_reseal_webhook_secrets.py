"""`manage.py reseal_webhook_secrets` after a SECRET_KEY change: every signing secret sealed with a fallback key is
sealed again with the current key, so dropping the fallback later breaks no endpoint; one no key opens is named."""

import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from labeling.models import WebhookEndpoint
from labeling.services import webhooks
from tests.helpers.processes import ROOT, env_for_test_database

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_keys():
    webhooks._fernet.cache_clear()
    yield
    webhooks._fernet.cache_clear()


def _add(project, lead, name: str) -> webhooks.EndpointWithSecret:
    return webhooks.create_endpoint(
        project=project, created_by=lead, url=f"https://hooks.example.com/{name}", events=["output.flagged"]
    )


def test_resealing_keeps_the_secrets_readable_once_the_old_key_is_dropped(project, lead, capsys):
    with override_settings(SECRET_KEY="the-old-key", SECRET_KEY_FALLBACKS=[]):
        made = [_add(project, lead, name) for name in ("a", "b")]
    with override_settings(SECRET_KEY="a-lost-key", SECRET_KEY_FALLBACKS=[]):
        lost = _add(project, lead, "lost")

    with override_settings(SECRET_KEY="the-new-key", SECRET_KEY_FALLBACKS=["the-old-key"]):
        # Exit 1: a script stops. One endpoint is "it", not "endpoint(s) ... them".
        with pytest.raises(
            CommandError, match=r"1 endpoint no key opens \(above\): if a former key sealed it,"
        ) as failed:
            call_command("reseal_webhook_secrets")
    output = capsys.readouterr().out

    assert "2 signing secrets sealed again with the current SECRET_KEY" in output
    assert f"Endpoint {lost.endpoint.pk}: no key" in output and "rotate" in output
    assert "SECRET_KEY_FALLBACKS" in str(failed.value)
    with override_settings(SECRET_KEY="the-new-key", SECRET_KEY_FALLBACKS=[]):
        for one in made:
            assert webhooks.signing_secret(WebhookEndpoint.objects.get(pk=one.endpoint.pk)) == one.secret


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_old_key_set_in_the_environment_as_secret_key_fallbacks_opens_the_secrets_to_reseal(project, lead):
    """The README's rotation, as an operator runs it: SECRET_KEY=<new> SECRET_KEY_FALLBACKS=<old> in the environment.
    The settings never read SECRET_KEY_FALLBACKS, so no endpoint could be opened and every one was named as lost."""
    with override_settings(SECRET_KEY="the-old-key", SECRET_KEY_FALLBACKS=[]):
        made = _add(project, lead, "a")

    result = subprocess.run(
        [sys.executable, "manage.py", "reseal_webhook_secrets"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=env_for_test_database(SECRET_KEY="the-new-key", SECRET_KEY_FALLBACKS="an-older-key, the-old-key"),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "1 signing secret sealed again with the current SECRET_KEY" in result.stdout
    assert "no key" not in result.stdout
    with override_settings(SECRET_KEY="the-new-key", SECRET_KEY_FALLBACKS=[]):
        assert webhooks.signing_secret(WebhookEndpoint.objects.get(pk=made.endpoint.pk)) == made.secret
