"""A chunked request body reaches the API through a real gunicorn: stored when small, a 413 past the limit."""

import http.client
import json
import os

import pytest

from labeling.models import Output
from labeling.services.api_keys import create_api_key
from tests.conftest import output_record
from tests.factories import ProjectFactory
from tests.helpers.servers import Gunicorn, database_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
LIMIT = 64 * 1024  # the server's INGEST_MAX_BODY_BYTES in this test, so an over-limit body stays small


@pytest.fixture
def server(tmp_path):
    """gunicorn serving expertloop.wsgi (as the Dockerfile runs it) against the test database."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "INGEST_MAX_BODY_BYTES": str(LIMIT),
        "REDIS_URL": "",  # no broker needed: the routing sweep picks the outputs up later
    }
    with Gunicorn(env=env, threads=2, log_path=tmp_path / "gunicorn.log") as server:
        yield server.port


def _post_chunked(port: int, path: str, body: bytes, key: str) -> tuple[int, dict]:
    """POST the body as 8 KB chunks with `Transfer-Encoding: chunked` and no Content-Length."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    chunks = (body[start : start + 8192] for start in range(0, len(body), 8192))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}", "Host": "127.0.0.1"}
    try:
        conn.request("POST", path, body=chunks, headers=headers, encode_chunked=True)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def test_a_chunked_batch_is_stored_and_an_over_limit_one_is_a_413(server):
    project = ProjectFactory()
    key = create_api_key(project=project, name="app", scopes=["ingest"]).secret
    records = [output_record(index) for index in range(20)]
    body = json.dumps({"outputs": records}).encode()
    assert 8192 < len(body) < LIMIT

    status, answer = _post_chunked(server, "/api/v1/outputs", body, key)

    assert status == 200, answer
    assert answer["created"] == 20
    assert Output.objects.filter(project=project).count() == 20

    padded = json.dumps({"outputs": [output_record(100, output="x" * (LIMIT + 1))]}).encode()
    status, answer = _post_chunked(server, "/api/v1/outputs", padded, key)

    assert status == 413
    assert f"limit of {LIMIT} bytes" in answer["errors"][0]["message"]
    assert Output.objects.filter(project=project).count() == 20
