"""An operator may set TIME_ZONE to their own zone (the admin and the server's logs read in it): the API still writes
every moment in UTC with `Z` (rules.moments). DRF writes a datetime field in the current time zone, TIME_ZONE by
default, so the API answered `2026-12-07T00:05:00-05:00` where it promises `2026-12-07T05:05:00Z`."""

import re
from datetime import datetime

import pytest

from labeling.services.api_keys import create_api_key
from tests.api import test_every_get_is_shaped as every_get
from tests.conftest import Api

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

# Every JSON GET of the schema, walked on the data that test seeds.
seeded, operator_token = every_get.seeded, every_get.operator_token

MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def moments(body) -> list[str]:
    """Every string of a JSON answer written as a date and time."""
    if isinstance(body, dict):
        return [moment for value in body.values() for moment in moments(value)]
    if isinstance(body, list):
        return [moment for value in body for moment in moments(value)]
    return [body] if isinstance(body, str) and MOMENT.match(body) else []


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_every_json_get_writes_its_moments_in_utc_with_z_whatever_the_servers_zone(
    client, settings, seeded, full_key, operator_token, zone
):
    settings.TIME_ZONE = zone

    written = {}
    for path, addresses in every_get.urls(seeded).items():
        secret = operator_token if path.startswith("/api/v1/platform/") else full_key.secret
        for url in addresses:
            response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}")
            assert response.status_code == 200, (url, response.content[:300])
            written[url] = moments(response.json())

    every = [moment for each in written.values() for moment in each]
    assert len(every) > 20 and {url for url, each in written.items() if each} >= {
        "/api/v1/outputs", f"/api/v1/cycles/{seeded}/report", "/api/v1/projects/support-bot/datasets",
    }, written  # fmt: skip
    # A dataset version's lines keep the bytes they were built with (`+00:00`, checksummed): UTC, but not written anew.
    rewritten = {url: each for url, each in written.items() if not url.endswith("/rows")}
    assert {url: [m for m in each if not m.endswith("Z")] for url, each in rewritten.items()} == {
        url: [] for url in rewritten
    }
    assert all(datetime.fromisoformat(moment).utcoffset().total_seconds() == 0 for moment in every)


def test_a_write_answers_its_moments_in_utc_with_z_whatever_the_servers_zone(client, settings, project):
    settings.TIME_ZONE = "America/New_York"
    api = Api(client, create_api_key(project=project, name="builder", scopes=["datasets"]).secret)

    response = api.post("/api/v1/projects/support-bot/datasets", {"name": "Nightly eval"})

    assert response.status_code == 201, response.content
    assert moments(response.json()) and all(moment.endswith("Z") for moment in moments(response.json()))
