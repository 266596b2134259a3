"""Real clients pull a dataset version over HTTP: pandas and pyarrow read the same rows from JSONL and Parquet.

What a reader gets, by format: the scalar columns (id, split, output, expected_output, rubric_version)
have the same values and the same pandas dtypes whichever format is read. The nested fields (input,
label, annotations, metadata, tags) are JSON objects and lists in JSONL, so pandas holds dicts and lists; in
Parquet they are Arrow lists and structs (input, label, annotations, tags: pyarrow gives lists and dicts) except
the free-form metadata, JSON text as in CSV. The Python client downloads every eval format and verifies it.
A real Celery worker renders the version's Parquet and hf files after its build; until then those answer 503.
"""

import hashlib
import io
import json
import time
import urllib.error
import urllib.request
import zipfile
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from django.utils import timezone
from expertloop_client import Client

from labeling.models import VersionFile, VersionFileState
from labeling.services.datasets import build_version, create_dataset
from labeling.services.resolution import adjudicate
from labeling.services.version_files import sweep_superseded_files
from tests.helpers.labeling import TIE, label_outputs
from tests.helpers.processes import start_worker, stop_worker, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SCALARS = ["id", "split", "output", "expected_output", "rubric_version"]


@pytest.fixture(scope="module")
def worker(django_db_setup):
    """One real Celery worker for the module (it takes seconds to start): no test here stops it or changes its
    settings, and each test's version has an id, and so a storage directory, of its own: a file the worker is still
    making for one test is never taken for the next test's."""
    process = start_worker()
    yield process
    stop_worker(process)
    process.log.unlink(missing_ok=True)


@pytest.fixture
def version(project, lead, worker):
    label_outputs(project, 9)
    [tie] = label_outputs(project, 1, answers=TIE, start=50)
    adjudicate(lead=lead, item=tie, answers={"correct": False, "fix": "Parcels arrive in 3 days."})
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    return build_version(dataset_id=dataset.pk)  # ready: its commit asks the worker to render the stored files


def _url(live_server, fmt: str) -> str:
    return f"{live_server.url}/api/v1/projects/support-bot/datasets/support-eval/versions/latest/download?format={fmt}"


def _get(url: str, headers: dict) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _rendered(url: str, headers: dict, within: float = 90) -> tuple[int, dict, bytes, int]:
    """The download once the worker has rendered it, and how many 503s (each with a Retry-After) came before."""
    deadline, preparing = time.monotonic() + within, 0
    while True:
        status, answer, body = _get(url, headers)
        if status != 503 or time.monotonic() > deadline:
            return status, answer, body, preparing
        preparing += 1
        assert int(answer["Retry-After"]) > 0 and b"prepar" in body
        time.sleep(0.5)


def test_pandas_and_pyarrow_read_the_same_rows_from_jsonl_and_parquet(live_server, read_key, version):
    auth = {"Authorization": f"Bearer {read_key.secret}"}

    # pandas sends storage_options as HTTP headers for an http(s) URL.
    from_jsonl = pd.read_json(_url(live_server, "jsonl"), lines=True, storage_options=auth)
    status, headers, raw, _ = _rendered(_url(live_server, "parquet"), auth)
    table = pq.read_table(io.BytesIO(raw))
    from_parquet = table.to_pandas()
    from_read_parquet = pd.read_parquet(io.BytesIO(raw))

    assert status == 200 and headers["Content-Disposition"].endswith('filename="support-bot-support-eval-v1.parquet"')
    assert len(from_jsonl) == len(from_parquet) == table.num_rows == version.row_count == 10
    assert (
        list(from_jsonl["id"])
        == list(from_parquet["id"])
        == [row.external_id for row in version.rows.order_by("position")]
    )
    for frame in (from_parquet, from_read_parquet):
        pd.testing.assert_frame_equal(from_jsonl[SCALARS], frame[SCALARS])  # values and dtypes
        assert {column: str(frame[column].dtype) for column in SCALARS} == {
            column: str(from_jsonl[column].dtype) for column in SCALARS
        }
    assert from_jsonl["rubric_version"].dtype == "int64"
    assert from_jsonl["expected_output"].isna().sum() == 9
    assert "Parcels arrive in 3 days." in set(from_parquet["expected_output"].dropna())
    # Timestamps: UTC datetimes in both (pandas parses JSONL's `…_at` columns as dates by default).
    times = ["occurred_at", "labeled_at"]
    pd.testing.assert_frame_equal(from_jsonl[times], from_parquet[times])
    assert str(from_parquet["occurred_at"].dtype) == "datetime64[us, UTC]"
    # Nested fields: objects in JSONL, Arrow lists and structs in Parquet; metadata is JSON text there.
    nested = table.to_pylist()
    assert [row["input"] for row in nested] == list(from_jsonl["input"])
    assert [row["tags"] for row in nested] == list(from_jsonl["tags"])
    assert [row["label"]["correct"] for row in nested] == [label.get("correct") for label in from_jsonl["label"]]
    assert [json.loads(row["metadata"]) for row in nested] == list(from_jsonl["metadata"])


def test_the_jsonl_over_http_is_byte_for_byte_the_checksummed_file_and_revalidates(live_server, read_key, version):
    auth = {"Authorization": f"Bearer {read_key.secret}"}

    status, headers, raw = _get(_url(live_server, "jsonl"), auth)
    again = _get(_url(live_server, "jsonl"), {**auth, "If-None-Match": headers["ETag"]})

    assert status == 200 and hashlib.sha256(raw).hexdigest() == version.sha256
    assert headers["ETag"] == f'"{version.sha256}"' and headers["X-Dataset-Version"] == "1"
    assert again[0] == 304 and again[2] == b""
    assert _get(_url(live_server, "jsonl"), {})[0] == 401


EXTENSIONS = {"openai-chat": "openai-chat.jsonl", "openai-preference": "openai-preference.jsonl",
              "openai-evals": "openai-evals.jsonl", "langsmith": "langsmith.jsonl", "langfuse": "langfuse.jsonl",
              "braintrust": "braintrust.jsonl", "hf": "hf.zip"}  # fmt: skip


def test_the_python_client_downloads_and_verifies_every_eval_format(live_server, read_key, version, tmp_path):
    latest = Client(live_server.url, read_key.secret).dataset("support-eval").version("latest")

    paths = {fmt: latest.download(tmp_path, format=fmt) for fmt in EXTENSIONS}  # a directory: the server's names

    assert {fmt: path.name for fmt, path in paths.items()} == {
        fmt: f"support-bot-support-eval-v1.{extension}" for fmt, extension in EXTENSIONS.items()
    }
    chat = [json.loads(line) for line in paths["openai-chat"].read_text().splitlines()]
    assert len(chat) == 10  # nine agreed passes and the adjudicated correction
    assert chat[-1]["messages"][-1] == {"role": "assistant", "content": "Parcels arrive in 3 days."}
    assert zipfile.ZipFile(paths["hf"]).namelist()[0] == "README.md"


def test_a_swept_parquet_file_is_made_again_by_the_worker_while_the_python_client_waits(
    live_server, read_key, version, tmp_path, settings
):
    """Two weeks on, superseded and not downloaded, the version's files are swept to save disk. The Python client's
    download of it waits through the 503s while the worker makes the file again, and gets the same bytes."""
    auth = {"Authorization": f"Bearer {read_key.secret}"}
    status, _, first, _ = _rendered(_url(live_server, "parquet"), auth)
    assert status == 200
    # The worker makes the Parquet file, then the hf one: the sweep below must find both made.
    both_ready = VersionFile.objects.filter(version=version, state=VersionFileState.READY)
    assert wait_for(lambda: both_ready.count() == 2, timeout=90)
    settings.DATASET_FILES_KEEP_LATEST = 0  # as if newer versions had superseded it
    swept = sweep_superseded_files(now=timezone.now() + timedelta(days=settings.DATASET_FILES_KEEP_DAYS + 1))
    assert {row.format for row in swept} == {"parquet", "hf"}
    assert not Path(settings.MEDIA_ROOT, swept[0].name).exists()

    with Client(live_server.url, read_key.secret) as client:
        path = client.dataset("support-eval").version("latest").download(tmp_path / "v1.parquet", format="parquet")

    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(first).hexdigest()
    assert VersionFile.objects.get(version=version, format="hf").state == VersionFileState.ON_REQUEST
