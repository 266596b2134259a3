"""`manage.py reseal_webhook_secrets` after a SECRET_KEY change: every signing secret sealed with a fallback key is
sealed again with the current key, so dropping the fallback later breaks no endpoint; one no key opens is named."""

import pytest
from django.core.management import call_command
from django.test import override_settings

from labeling.models import WebhookEndpoint
from labeling.services import webhooks

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
        call_command("reseal_webhook_secrets")
    output = capsys.readouterr().out

    assert "2 signing secrets sealed again with the current SECRET_KEY" in output
    assert f"Endpoint {lost.endpoint.pk}: no key" in output and "rotate" in output
    with override_settings(SECRET_KEY="the-new-key", SECRET_KEY_FALLBACKS=[]):
        for one in made:
            assert webhooks.signing_secret(WebhookEndpoint.objects.get(pk=one.endpoint.pk)) == one.secret
