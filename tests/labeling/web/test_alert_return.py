"""Where acknowledging an alert returns to: the page it was acknowledged on (`next`, a path of this site), else the
project page; never another site, and never a server error for whatever `next` holds."""

import pytest

from labeling.models import Alert, AlertRule, AlertState

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "back, lands_on",
    [
        ("/platform/?sort=alerts&dir=desc", "/platform/?sort=alerts&dir=desc"),
        ("https://evil.example/", "/p/support-bot/#alerts"),
        ("//evil.example/", "/p/support-bot/#alerts"),
        ("platform", "/p/support-bot/#alerts"),  # not a path: redirect() would take it for a view name
        ("a\x00b", "/p/support-bot/#alerts"),
        # A path of this site, percent-encoded: no header is injected, no error (the page it names is a 404).
        ("/platform/\r\nSet-Cookie: x=1", "/platform/%0D%0ASet-Cookie:%20x=1"),
        ("/platform/\x00", "/platform/%00"),
        ("9999-12-31T23:59:59", "/p/support-bot/#alerts"),
        ("", "/p/support-bot/#alerts"),
    ],
)
def test_acknowledging_returns_to_a_path_of_this_site_or_the_project_page(client, project, operator, back, lands_on):
    alert = Alert.objects.create(
        project=project, rule=AlertRule.QUEUE_IDLE, key="q", state=AlertState.OPEN, title="Idle", detail="Idle."
    )
    client.force_login(operator)

    response = client.post(f"/p/{project.slug}/alerts/{alert.pk}/acknowledge", {"next": back})

    assert response.status_code == 302 and response["Location"] == lands_on
    alert.refresh_from_db()
    assert alert.state == AlertState.ACKNOWLEDGED
