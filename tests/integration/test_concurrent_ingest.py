"""Eight product-app instances send overlapping batches at once, over real HTTP, to PostgreSQL."""

import json
import random
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from labeling.models import Output
from tests.conftest import output_record

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _send(url, secret, records):
    request = urllib.request.Request(
        url,
        data=json.dumps({"outputs": records}).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_overlapping_concurrent_batches_store_one_row_per_external_id(live_server, full_key, project):
    # 8 senders × 4 batches of 250 ids drawn from 1,200: heavy overlap, each sender in its own order.
    batches = []
    for sender in range(8):
        rng = random.Random(sender)
        for _ in range(4):
            ids = rng.sample(range(1200), 250)
            batches.append([output_record(i) for i in ids])
    sent_ids = {record["external_id"] for records in batches for record in records}

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda records: _send(f"{live_server.url}/api/v1/outputs", full_key.secret, records), batches)
        )

    statuses = [status for status, _ in results]
    assert statuses == [200] * len(batches), [body for status, body in results if status != 200][:3]
    assert sum(body["created"] for _, body in results) == len(sent_ids)
    assert sum(body["duplicates"] for _, body in results) == sum(map(len, batches)) - len(sent_ids)
    assert sum(body["conflicts"] for _, body in results) == 0
    stored = list(Output.objects.filter(project=project).values_list("external_id", flat=True))
    assert len(stored) == len(set(stored)) == len(sent_ids)
    assert set(stored) == sent_ids
