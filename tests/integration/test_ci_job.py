"""A CI job's view (issue 15): with nothing but an API key, over HTTP against a live server and a real Celery worker,
define a dataset, build it, poll until its version is ready, download it, and read one output's labels and gold."""

import hashlib
import json
import time
import urllib.error
import urllib.request

import pytest

from labeling.models import DatasetVersion
from labeling.services.api_keys import create_api_key
from labeling.services.resolution import adjudicate
from tests.helpers.labeling import TIE, label_outputs

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _call(method: str, url: str, key: str, body: dict | None = None) -> tuple[int, dict, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_a_ci_job_with_only_a_key_builds_a_dataset_waits_for_it_downloads_it_and_reads_labels(
    live_server, worker, project, lead
):
    label_outputs(project, 4)
    [tie] = label_outputs(project, 1, answers=TIE)
    adjudicate(lead=lead, item=tie, answers={"correct": False, "fix": "Parcels arrive in 3 days."})
    key = create_api_key(project=project, name="ci", scopes=["read", "datasets"]).secret
    api = f"{live_server.url}/api/v1"

    status, headers, body = _call("POST", f"{api}/projects/support-bot/datasets", key, {"name": "Nightly eval"})
    assert status == 201, body
    dataset_url = headers["Location"]

    status, _, body = _call("POST", f"{dataset_url}/build", key)
    assert status == 202, body
    asked = json.loads(body)
    assert asked["status_url"] == dataset_url and asked["latest_version"] is None

    started, states = time.monotonic(), []
    while time.monotonic() - started < 60:  # poll as a CI job would
        dataset = json.loads(_call("GET", asked["status_url"], key)[2])
        states.append(dataset["build"]["state"])
        if states[-1] in ("idle", "failed"):
            break
        time.sleep(0.2)
    assert states[-1] == "idle", (states, dataset, worker)
    assert set(states[:-1]) <= {"queued", "building"} and dataset["latest_version"] == 1

    version_url = f"{dataset_url}/versions/{dataset['latest_version']}"
    status, _, body = _call("GET", version_url, key)
    assert status == 200 and json.loads(body)["status"] == "ready"
    status, headers, downloaded = _call("GET", f"{version_url}/download?format=openai-chat", key)
    assert status == 200 and headers["Content-Disposition"].endswith('v1.openai-chat.jsonl"')
    version = DatasetVersion.objects.get(dataset__slug="nightly-eval", number=1)
    assert version.row_count == 5 and headers["ETag"] == f'"{version.sha256}-openai-chat.v3"'
    # Four passing outputs train on themselves; the adjudicated tie trains on the lead's correction.
    conversations = [json.loads(line)["messages"] for line in downloaded.splitlines()]
    assert [messages[-1]["role"] for messages in conversations] == ["assistant"] * 5
    answers = sorted(messages[-1]["content"] for messages in conversations)
    assert answers == sorted([*(f"Parcel {n} arrives Friday." for n in range(4)), "Parcels arrive in 3 days."])
    status, _, jsonl = _call("GET", f"{version_url}/download", key)
    assert hashlib.sha256(jsonl).hexdigest() == version.sha256

    status, _, body = _call("GET", f"{api}/outputs/{tie.output.external_id}?include=labels,gold", key)
    assert status == 200, body
    [item] = json.loads(body)["items"]
    assert len(item["labels"]) == 2 and all(label["annotator"].startswith("annotator-") for label in item["labels"])
    assert item["gold"]["answers"]["fix"] == {"value": "Parcels arrive in 3 days.", "method": "adjudicated"}
