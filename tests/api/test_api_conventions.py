"""Rules every API endpoint shares, whatever the view: errors in the API's JSON shape, a body over Django's cap a
413."""

import json

import pytest
from django.conf import settings

from labeling.models import Dataset
from labeling.services.api_keys import create_api_key
from tests.conftest import Api

DATASETS = "/api/v1/projects/support-bot/datasets"


@pytest.fixture
def builder(client, project):
    return Api(client, create_api_key(project=project, name="builder", scopes=["datasets"]).secret)


def test_a_body_over_djangos_cap_is_a_413_in_the_apis_shape(builder, client, engineer):
    """Django refuses it as it is read (RequestDataTooBig), which was an HTML 400; ingest answered 413 already."""
    big = json.dumps({"name": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})

    by_key = builder.post(DATASETS, big)
    client.force_login(engineer)
    by_session = client.post(DATASETS, big, content_type="application/json")

    for response in (by_key, by_session):
        assert response.status_code == 413, response.content[:200]
        assert response["Content-Type"] == "application/json"
        [error] = response.json()["errors"]
        assert error["message"] == f"The body is over the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
    assert not Dataset.objects.exists()
