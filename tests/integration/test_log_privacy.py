"""No log line names an end user in clear (README "Personal data: erasure and raw retention"): the erasure endpoint
takes the end user's id in its path, and a real gunicorn logs requests (its access log, as docker-compose.yml runs
it) and Django logs refused ones."""

from urllib.parse import quote

import pytest

from labeling.services.api_keys import create_api_key
from tests.helpers.servers import database_url, gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

END_USER = "ana.secret@example.com"


def test_an_erasure_and_a_refused_one_log_no_end_user_id(project):
    key = create_api_key(project=project, name="privacy", scopes=["privacy"]).secret
    path = f"/api/v1/end-users/{quote(END_USER)}"

    with gunicorn(database_url(), options=("--access-logfile", "-")) as server:
        refused = server.request("DELETE", path)  # no key: Django logs "Unauthorized: <path>"
        erased = server.request("DELETE", path, Authorization=f"Bearer {key}")

    assert (refused.status, erased.status) == (401, 204)
    assert "Unauthorized: /api/v1/end-users/<end user>" in server.log
    assert server.log.count('"DELETE /api/v1/end-users/<end user> HTTP/1.1"') == 2  # the access log's lines
    assert "ana.secret" not in server.log
