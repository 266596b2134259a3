"""/readyz writes its moments as the API and webhooks do: in UTC with `Z` (`rules.moments.utc_moment`)."""

from datetime import datetime

import pytest

from labeling import tasks
from labeling.services.health import record_heartbeat
from tests.factories import UserFactory

pytestmark = pytest.mark.redis


def test_readyz_writes_its_moments_in_utc_with_z(client, project):
    """It wrote "2026-12-03T05:00:00.123456+00:00", the one JSON the server hands out with `+00:00`."""
    record_heartbeat(hostname="celery@worker-1")
    tasks.route_pending_outputs()  # one sweep: the project's routing is recorded
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))

    body = client.get("/readyz").json()

    [row] = body["projects"]
    moments = [body["checked_at"], body["workers"][0]["seen_at"], row["routing"]["succeeded_at"]]
    for moment in moments:
        assert moment.endswith("Z") and "+00:00" not in moment, moment
        assert datetime.fromisoformat(moment).utcoffset().total_seconds() == 0
