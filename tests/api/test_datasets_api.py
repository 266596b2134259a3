"""The dataset API: who may read what, versions and `latest`, paged rows, streamed downloads, diffs, builds."""

import base64
import csv
import hashlib
import io
import json
import tracemalloc
from datetime import datetime
from urllib.parse import urlencode

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.views import datasets as datasets_views
from labeling.models import DatasetLine, DatasetRow, DatasetVersion, VersionStatus, week_label
from labeling.rules.cursors import NOT_HANDED_OUT
from labeling.services.api_keys import create_api_key
from labeling.services.datasets import build_version, create_dataset
from labeling.services.export_rows import ROW_CHUNK
from labeling.services.exports import COLUMNS, FORMATS
from labeling.services.labels import submit_label
from labeling.services.resolution import adjudicate, mark_for_adjudication, resolve_item
from labeling.services.rubrics import publish_rubric
from labeling.services.version_files import file_name, write_beside
from tests.conftest import Api, _member
from tests.factories import UserFactory
from tests.helpers.labeling import TIE, label_outputs
from tests.helpers.rubrics import QUESTIONS
from tests.helpers.version_files import rendered
from tests.outbox import enqueued

BASE = "/api/v1/projects/support-bot/datasets"
EVAL = f"{BASE}/support-eval"


@pytest.fixture
def dataset(project, lead):
    """Version 1 of "Support eval": seven agreed items (two in the test split) and a tie adjudicated with a fix."""
    label_outputs(project, 7)
    [tie] = label_outputs(project, 1, answers=TIE, start=50)
    adjudicate(lead=lead, item=tie, answers={"correct": False, "fix": "Parcels arrive in 3 days."})
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    rendered(build_version(dataset_id=dataset.pk))
    return dataset


@pytest.fixture
def v1(dataset):
    return dataset.versions.get(number=1)


@pytest.fixture
def reader(client, read_key):
    return Api(client, read_key.secret)


def stored_lines(version, split=None):
    rows = version.rows.order_by("position")
    return list((rows.filter(split=split) if split else rows).values_list("line__text", flat=True))


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def synthetic_version(dataset, count, *, number):
    """A ready version of `count` canonical-looking rows, written directly: labeling thousands of items
    through the services would take minutes, and these tests are about paging and streaming only."""
    lines = [
        json.dumps(
            {
                "annotations": [],
                "expected_output": None,
                "id": f"syn-{i:06d}",
                "input": [{"content": "q", "role": "user"}],
                "label": {"correct": {"method": "unanimous", "value": True}},
                "labeled_at": "2026-11-20T10:00:00+00:00",
                "metadata": {"pad": "x" * 300},
                "model": "m",
                "occurred_at": "2026-11-20T09:00:00+00:00",
                "output": f"answer {i}",
                "rubric_version": 1,
                "split": "train",
                "tags": [],
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        for i in range(count)
    ]
    sha = hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()
    version = DatasetVersion.objects.create(
        dataset=dataset, number=number, status=VersionStatus.READY, row_count=count, sha256=sha,
        split_counts={"train": count}, rubric_versions=[1], built_at=timezone.now(),
    )  # fmt: skip
    if connection.vendor == "postgresql":
        # The rows bulk_create would store, in one statement: 25,000 model instances took seconds a version.
        with connection.cursor() as cursor:
            cursor.execute(_SYNTHETIC_ROWS, {"dataset": dataset.pk, "version": version.pk, "lines": lines})
        return version
    stored = DatasetLine.objects.bulk_create(
        [DatasetLine(dataset=dataset, text=line) for line in lines], batch_size=2000
    )
    DatasetRow.objects.bulk_create(
        [
            DatasetRow(version=version, position=i, external_id=f"syn-{i:06d}", split="train", line=line)
            for i, line in enumerate(stored)
        ],
        batch_size=2000,
    )
    return version


# Each line, then its row: position i and id syn-{i:06d} (the line's place in `lines`), the model's defaults otherwise.
_SYNTHETIC_ROWS = f"""
    WITH given AS (SELECT text, n - 1 AS i FROM unnest(%(lines)s::text[]) WITH ORDINALITY AS u(text, n)),
    stored AS (
        INSERT INTO {DatasetLine._meta.db_table} (dataset_id, text) SELECT %(dataset)s, text FROM given ORDER BY i
        RETURNING id, text
    )
    INSERT INTO {DatasetRow._meta.db_table}
        (version_id, position, external_id, split, line_id, octets, source_digest, rubric_version)
    SELECT %(version)s, given.i, 'syn-' || lpad(given.i::text, 6, '0'), 'train', stored.id, 0, '', NULL
    FROM given JOIN stored USING (text)
"""


# Listing ------------------------------------------------------------------------------------------------


def test_it_lists_the_projects_datasets_with_their_latest_ready_version(reader, dataset, project):
    create_dataset(project=project, spec={"name": "Not built yet"})

    response = reader.get(BASE)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(d["slug"], d["latest_version"]) for d in results] == [("support-eval", 1), ("not-built-yet", None)]
    assert set(results[0]) == {
        "slug", "name", "description", "queues", "questions", "only_resolved", "filters", "splits", "auto_rebuild",
        "latest_version", "build", "created_at",
    }  # fmt: skip
    assert results[0]["splits"] == {"test": 20, "train": 80}


def test_versions_are_listed_newest_first_and_latest_is_the_newest_ready_one(reader, dataset, v1):
    DatasetVersion.objects.create(dataset=dataset, number=2, status=VersionStatus.FAILED)
    DatasetVersion.objects.create(dataset=dataset, number=3, status=VersionStatus.BUILDING)

    versions = reader.get(f"{EVAL}/versions").json()["results"]
    latest = reader.get(f"{EVAL}/versions/latest")

    assert [(v["number"], v["status"]) for v in versions] == [(3, "building"), (2, "failed"), (1, "ready")]
    assert versions[2]["sha256"] == v1.sha256 and versions[2]["row_count"] == 8
    assert latest.status_code == 200 and latest.json()["number"] == 1
    assert latest.headers["X-Dataset-Version"] == "1"
    assert reader.get(f"{EVAL}/versions/3").json()["status"] == "building"  # metadata of any version
    assert reader.get(f"{EVAL}/versions/3").headers["X-Dataset-Version"] == "3"


def test_a_versions_cycle_week_comes_with_its_iso_week_label_as_the_metrics_weeks_do(reader, dataset, v1):
    """`cycle_week` is the week's first day, where the metrics and reports name weeks by ISO label ("2026-W48"):
    `cycle_week_label` gives the label beside it (null with it), and `cycle_week` stays as it was."""
    DatasetVersion.objects.create(dataset=dataset, number=2, status=VersionStatus.BUILDING)

    version = reader.get(f"{EVAL}/versions/1").json()
    building = reader.get(f"{EVAL}/versions/2").json()

    assert version["cycle_week"] == v1.cycle_week.isoformat()
    assert version["cycle_week_label"] == week_label(v1.cycle_week)
    assert (building["cycle_week"], building["cycle_week_label"]) == (None, None)
    assert reader.get(f"{EVAL}/versions").json()["results"][1]["cycle_week_label"] == week_label(v1.cycle_week)


# Rows -----------------------------------------------------------------------------------------------------


def test_rows_page_through_one_split_in_position_order(reader, v1):
    expected = [json.loads(line) for line in stored_lines(v1, "train")]
    seen, url, pages = [], f"{EVAL}/versions/1/rows?split=train&page_size=4", 0

    while url:
        response = reader.get(url)
        assert response.status_code == 200, response.content
        assert response.headers["X-Dataset-Version"] == "1"
        seen += response.json()["results"]
        url, pages = response.json()["next"], pages + 1

    assert seen == expected
    assert all(row["split"] == "train" for row in seen) and pages == -(-len(expected) // 4)


def test_the_links_of_latest_name_the_version_so_a_new_build_cannot_shift_the_pages(reader, v1):
    response = reader.get(f"{EVAL}/versions/latest/rows?page_size=2")

    assert response.headers["X-Dataset-Version"] == "1"
    assert "/versions/1/rows?" in response.json()["next"] and "page_size=2" in response.json()["next"]


def test_the_page_size_is_clamped_to_1000(reader, dataset):
    synthetic_version(dataset, 1100, number=2)

    response = reader.get(f"{EVAL}/versions/2/rows?page_size={10**9}")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1000 and response.json()["next"]
    assert len(reader.get(f"{EVAL}/versions/2/rows").json()["results"]) == 100


def test_the_schema_says_each_dataset_lists_page_size_limit_and_that_a_larger_one_is_lowered(client, db):
    """The lists clamp as DRF's max_page_size does (the outputs list refuses instead, and says so): a client reading
    the schema must learn it there, not by counting the rows it got."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    datasets = "/api/v1/projects/{project_slug}/datasets"
    for path in (
        datasets,
        f"{datasets}/{{dataset_slug}}/versions",
        f"{datasets}/{{dataset_slug}}/versions/{{version}}/rows",
    ):
        [page_size] = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "page_size"]
        assert "100 by default, at most 1,000" in page_size["description"], path
        assert "a larger value is lowered to 1,000" in page_size["description"], path
        assert "one that is not a whole number of 1 or more is a 400" in page_size["description"], path
        assert page_size["schema"] == {"type": "integer", "minimum": 1, "default": 100}, path


@pytest.mark.parametrize("page_size", ["ten", "1.5", "0", "-5", "１０", " 10"])
def test_a_page_size_that_is_not_a_whole_number_of_1_or_more_is_a_400_naming_it(reader, v1, page_size):
    """The schema says integer: a typo does not pass as the default page (DRF's own pagination reads it so)."""
    for url in (BASE, f"{EVAL}/versions", f"{EVAL}/versions/latest/rows"):
        response = reader.get(f"{url}?{urlencode({'page_size': page_size})}")

        assert response.status_code == 400, url
        assert response.json()["errors"] == [
            {
                "index": None,
                "field": "page_size",
                "message": "Use a whole number of 1 or more; a page holds at most 1,000 items.",
            }
        ], url


@pytest.mark.parametrize(
    "cursor",
    ["garbage", base64.b64encode(b"p=abc").decode(), base64.b64encode(b"o=1&r=x").decode()],
    ids=["not base64", "non-numeric position", "bad reverse flag"],
)
def test_a_tampered_cursor_is_a_400(reader, v1, cursor):
    response = reader.get(f"{EVAL}/versions/1/rows?cursor={cursor}")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "index": None,
            "field": "cursor",
            "message": NOT_HANDED_OUT,
        }
    ]


def test_a_nul_in_the_cursor_is_a_400_naming_it(reader, v1):
    """Refused with every other query parameter holding a NUL, before the view (expertloop.middleware)."""
    response = reader.get(f"{EVAL}/versions/1/rows?cursor=%00")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "cursor"


def test_an_unknown_split_is_a_400_naming_the_splits(reader, v1):
    response = reader.get(f"{EVAL}/versions/1/rows?split=validation")

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "split" and "test, train" in error["message"]


def test_a_version_that_is_not_ready_has_no_rows_or_downloads(reader, dataset, v1):
    DatasetVersion.objects.create(dataset=dataset, number=2, status=VersionStatus.BUILDING)

    rows = reader.get(f"{EVAL}/versions/2/rows")
    download = reader.get(f"{EVAL}/versions/2/download")

    assert rows.status_code == download.status_code == 409
    assert "building" in rows.json()["errors"][0]["message"]
    assert reader.get(f"{EVAL}/versions/latest/rows").headers["X-Dataset-Version"] == "1"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/nope/datasets",
        f"{BASE}/nope/versions",
        f"{EVAL}/versions/2",
        f"{EVAL}/versions/0/rows",
        f"{EVAL}/versions/abc",
        f"{EVAL}/versions/{'9' * 30}/download",
        f"{EVAL}/versions/%C2%B2",  # a superscript two: a digit to str.isdigit, not to int()
        f"{EVAL}/diff?from=7",
    ],
)
def test_an_unknown_project_dataset_or_version_is_a_404(reader, v1, path):
    response = reader.get(path)

    assert response.status_code == 404
    assert response.json()["errors"][0]["message"]


def test_a_diff_version_of_thousands_of_digits_is_a_400(reader, v1):
    """Past Python's 4,300-digit limit for int(): was a ValueError, a 500."""
    response = reader.get(f"{EVAL}/diff?from={'9' * 5000}")

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["field"], error["message"]) == ("from", "Give a version number or `latest`.")


@pytest.mark.parametrize(
    ("path", "field", "message"),
    [
        (f"{BASE}/nope/versions", None, "No dataset 'nope' in this project."),
        (f"{EVAL}/versions/7", None, "No such version: 7."),
        (f"{EVAL}/diff?from=9", "from", "No such version: 9."),
        (f"{EVAL}/diff?from=1&to=9", "to", "No such version: 9."),
    ],
)
def test_a_404_names_the_dataset_or_the_diff_parameter_that_names_nothing(reader, v1, path, field, message):
    """ "No such dataset." did not say which slug; a diff's unknown version did not say whether `from` or `to`."""
    [error] = reader.get(path).json()["errors"]

    assert (error["field"], error["message"]) == (field, message)


def test_latest_of_a_dataset_without_a_ready_version_is_a_404(reader, project):
    create_dataset(project=project, spec={"name": "Support eval"})

    response = reader.get(f"{EVAL}/versions/latest/rows")

    assert response.status_code == 404
    assert "no ready version" in response.json()["errors"][0]["message"]


# Who may read --------------------------------------------------------------------------------------------

READ_PATHS = [
    BASE,
    f"{EVAL}/versions",
    f"{EVAL}/versions/latest",
    f"{EVAL}/versions/1/rows",
    f"{EVAL}/versions/1/download",
    f"{EVAL}/versions/1/download?format=parquet",
    f"{EVAL}/diff?from=1&to=1",
]


def test_it_validates_ownership(client, v1, other_project, other_project_key):
    """Project B's key, and project B's engineer, are told project A's datasets do not exist."""
    other_engineer = _member(other_project, "olga", "engineer")
    for path in READ_PATHS:
        assert Api(client, other_project_key.secret).get(path).status_code == 404, path

        client.force_login(other_engineer)
        response = client.get(path)
        client.logout()

        assert response.status_code == 404, path
        assert b"support-eval" not in response.content and b"Parcel" not in response.content
    # Access is decided before the query is validated: bad parameters do not turn the 404 into a 400.
    for path in [f"{EVAL}/versions/1/download?format=xlsx", f"{EVAL}/diff", f"{EVAL}/versions/1/rows?split=x&cursor=x"]:
        assert Api(client, other_project_key.secret).get(path).status_code == 404, path


def test_engineers_leads_and_admins_read_with_a_session_but_experts_cannot(client, v1, project, expert):
    readers = [
        _member(project, username, role) for username, role in [("enzo", "engineer"), ("lee", "lead"), ("ada", "admin")]
    ]
    for path in READ_PATHS:
        for user in readers:
            client.force_login(user)
            assert client.get(path).status_code == 200, (path, user)

        client.force_login(expert)  # knows the project: a 403 saying whose datasets are
        assert client.get(path).status_code == 403, path


def test_no_credentials_is_a_401_and_a_key_without_the_read_scope_a_403(client, v1, ingest_key):
    for path in READ_PATHS:
        anonymous = client.get(path)

        assert anonymous.status_code == 401, path
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        assert Api(client, ingest_key.secret).get(path).status_code == 403, path


def test_a_key_is_read_only_for_another_project_even_with_every_scope(client, v1, project, other_project):
    """A key of project A names project A; the URL naming project B does not widen it."""
    key = create_api_key(project=project, name="ci", scopes=["ingest", "read"])

    response = Api(client, key.secret).get("/api/v1/projects/sql-assistant/datasets")

    assert response.status_code == 404


# Downloads ----------------------------------------------------------------------------------------------


def test_the_jsonl_download_is_the_canonical_file_with_a_strong_etag(reader, v1):
    response = reader.get(f"{EVAL}/versions/latest/download?format=jsonl")

    assert response.status_code == 200 and response.streaming
    content = body(response)
    assert hashlib.sha256(content).hexdigest() == v1.sha256
    assert content.decode().splitlines() == stored_lines(v1)
    assert response.headers["ETag"] == f'"{v1.sha256}"'
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert response.headers["Content-Disposition"] == 'attachment; filename="support-bot-support-eval-v1.jsonl"'
    assert response.headers["X-Dataset-Version"] == "1"
    assert hashlib.sha256(body(reader.get(f"{EVAL}/versions/1/download"))).hexdigest() == v1.sha256  # the default


@pytest.mark.parametrize("fmt, suffix", [("jsonl", ""), ("csv", "-csv.v2"), ("parquet", "-parquet.v4")])
def test_if_none_match_with_the_etag_is_a_304_without_a_body(client, read_key, v1, fmt, suffix):
    etag = f'"{v1.sha256}{suffix}"'
    url = f"{EVAL}/versions/1/download?format={fmt}"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {read_key.secret}"}

    for header in [etag, f"W/{etag}", f'"other", {etag}', "*"]:
        response = client.get(url, HTTP_IF_NONE_MATCH=header, **auth)
        assert response.status_code == 304, header
        assert response.content == b"" and response.headers["ETag"] == etag
    assert client.get(url, HTTP_IF_NONE_MATCH='"stale"', **auth).status_code == 200


@pytest.mark.parametrize(("fmt", "rows"), [("jsonl", "8"), ("csv", "8"), ("langsmith", "8"), ("parquet", "8")])
def test_a_download_of_every_row_says_how_many_rows_it_holds(reader, v1, fmt, rows):
    response = reader.get(f"{EVAL}/versions/1/download?format={fmt}")

    assert response.status_code == 200
    assert response.headers["X-Rows"] == rows == str(v1.row_count)
    assert "X-Rows-Note" not in response.headers


def test_an_empty_file_of_a_format_that_takes_some_rows_says_why(reader, project):
    """openai-preference takes failing rows with a correction: of passing rows it is an empty file (valid JSONL, as
    peers answer), with X-Rows: 0 and a note naming the condition rather than a bare empty 200."""
    label_outputs(project, 3)  # all agreed, all passing: no row to prefer a correction in
    rendered(build_version(dataset_id=create_dataset(project=project, spec={"name": "Support eval"}).pk))

    response = reader.get(f"{EVAL}/versions/1/download?format=openai-preference")
    chat = reader.get(f"{EVAL}/versions/1/download?format=openai-chat")

    assert response.status_code == 200 and body(response) == b""
    assert response.headers["X-Rows"] == "0"
    assert response.headers["X-Rows-Note"] == (
        "None of version 1's 3 rows is in openai-preference, which takes settled rows whose verdict fails (or whose "
        "rubric has no verdict question) and whose correction differs from the output, and that OpenAI would take "
        "(see the README)."
    )
    assert body(chat) and "X-Rows" not in chat.headers  # some rows: the count is not known before streaming


@pytest.mark.postgres
@pytest.mark.parametrize(("failing", "pages_before_headers"), [((), 2), ((0,), 1), ((ROW_CHUNK + 3,), 2)])
def test_the_headers_of_an_openai_file_wait_for_its_first_record_only(reader, dataset, failing, pages_before_headers):
    """Whether a format of some rows has none decides its headers (X-Rows: 0 and a note), so rows are read before
    they go: up to the first record that qualifies, not a whole chunk of records (ROW_CHUNK of them, or 256 KB) that
    on a version where few rows qualify was all of it before the first byte. An empty file is still read through."""
    version = synthetic_version(dataset, ROW_CHUNK + 7, number=2)  # passing rows: none in openai-preference
    for position in failing:  # … but these, failing with a correction
        line = version.rows.get(position=position).line
        row = {**json.loads(line.text), "label": {"correct": {"method": "unanimous", "value": False}}}
        line.text = json.dumps({**row, "expected_output": f"fixed {position}"}, sort_keys=True, separators=(",", ":"))
        line.save(update_fields=["text"])

    with CaptureQueriesContext(connection) as before_headers:
        response = reader.get(f"{EVAL}/versions/2/download?format=openai-preference")
    pages = [query for query in before_headers.captured_queries if f"LIMIT {ROW_CHUNK}" in query["sql"]]

    assert response.status_code == 200 and len(pages) == pages_before_headers
    records = [json.loads(line) for line in body(response).decode().splitlines()]
    assert [record["preferred_output"][0]["content"] for record in records] == [f"fixed {at}" for at in failing]
    if failing:
        assert "X-Rows" not in response.headers and "X-Rows-Note" not in response.headers
    else:
        assert response.headers["X-Rows"] == "0"
        assert response.headers["X-Rows-Note"].startswith(f"None of version 2's {ROW_CHUNK + 7} rows is in")


@pytest.mark.parametrize("fmt", ["xlsx", "json", "JSONL", "openai_chat"])
def test_an_unknown_format_is_a_400_naming_the_formats_there_are(reader, v1, fmt):
    response = reader.get(f"{EVAL}/versions/1/download?format={fmt}")

    assert response.status_code == 400
    [error] = response.json()["errors"]
    # A CI job that guessed a name sees the right one, not a bare "not a valid choice".
    assert error["field"] == "format" and error["message"] == (
        f'"{fmt}" is not a format. The formats: jsonl, csv, parquet, openai-chat, openai-preference, openai-evals, '
        "langsmith, langfuse, braintrust, hf."
    )


INJECTIONS = ['=HYPERLINK("http://evil.example","click")', "+1", "-2", "@SUM(A1:A9)", "\tx", "\rx"]


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(reader, project):
    label_outputs(project, len(INJECTIONS) + 1, texts=[*INJECTIONS, "a = b, and 1 + 1"])
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    version = build_version(dataset_id=dataset.pk)

    response = reader.get(f"{EVAL}/versions/1/download?format=csv")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["ETag"] == f'"{version.sha256}-csv.v2"'
    assert response.headers["Content-Disposition"] == 'attachment; filename="support-bot-support-eval-v1.csv"'
    header, *rows = list(csv.reader(io.StringIO(body(response).decode(), newline="")))
    assert tuple(header) == COLUMNS
    outputs = {row[0]: row[header.index("output")] for row in rows}
    assert [outputs[f"out-{i:05d}"] for i in range(len(INJECTIONS))] == ["'" + text for text in INJECTIONS]
    assert outputs[f"out-{len(INJECTIONS):05d}"] == "a = b, and 1 + 1"
    first = dict(zip(header, rows[0], strict=True))
    assert json.loads(first["input"]) == [{"role": "user", "content": "Where is my parcel?"}]
    assert first["rubric_version"] == "1" and first["expected_output"] == ""


def test_the_parquet_download_has_the_documented_schema_and_the_same_rows(reader, v1):
    response = reader.get(f"{EVAL}/versions/1/download?format=parquet")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/vnd.apache.parquet"
    assert response.headers["ETag"] == f'"{v1.sha256}-parquet.v4"'
    assert response.headers["Content-Disposition"] == 'attachment; filename="support-bot-support-eval-v1.parquet"'
    table = pq.read_table(io.BytesIO(body(response)))
    schema = {field.name: field.type for field in table.schema}
    assert list(schema) == list(COLUMNS)
    assert schema["rubric_version"] == pa.int64()
    assert schema["occurred_at"] == schema["labeled_at"] == pa.timestamp("us", tz="UTC")
    assert all(schema[column] == pa.string() for column in ("id", "output", "expected_output", "metadata"))
    # Nested fields are Arrow lists and structs; only the free-form metadata is JSON text.
    assert schema["input"] == pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    assert schema["tags"] == pa.list_(pa.string())
    assert schema["label"].field("correct").type == pa.struct([("value", pa.bool_()), ("method", pa.string())])
    assert schema["label"].field("helpful").type.field("value").type == pa.float64()
    assert schema["annotations"].value_type.field("answers").type.field("helpful").type == pa.int64()
    rows = [json.loads(line) for line in stored_lines(v1)]
    assert table.column("id").to_pylist() == [row["id"] for row in rows]
    assert table.column("expected_output").to_pylist() == [row["expected_output"] for row in rows]
    assert "Parcels arrive in 3 days." in table.column("expected_output").to_pylist()
    assert table.column("input").to_pylist() == [row["input"] for row in rows]
    assert table.column("tags").to_pylist() == [row["tags"] for row in rows]
    labels = table.column("label").to_pylist()
    assert [{key: entry for key, entry in label.items() if entry} for label in labels] == [
        {key: {**entry, "value": float(entry["value"]) if key == "helpful" else entry["value"]}
         for key, entry in row["label"].items()}
        for row in rows
    ]  # fmt: skip
    assert [json.loads(text) for text in table.column("metadata").to_pylist()] == [row["metadata"] for row in rows]
    occurred = table.column("occurred_at").to_pylist()[0]
    assert occurred.isoformat() == datetime.fromisoformat(rows[0]["occurred_at"]).isoformat()


def _streamed(response) -> tuple[int, int]:
    """The body's size, and the peak of Python memory allocated while it was streamed."""
    size = 0
    tracemalloc.start()
    try:
        for chunk in response.streaming_content:
            size += len(chunk)
        return size, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _rendered(version, fmt) -> tuple[int, int]:
    """The file's size, and the peak of Python memory allocated while a worker would render it."""
    tracemalloc.start()
    try:
        temporary, size, _ = write_beside(file_name(version, fmt), FORMATS[fmt].chunks(version=version))
        temporary.unlink()
        return size, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "hf"])
def test_downloads_stream_in_memory_that_does_not_grow_with_the_version(reader, dataset, fmt):
    """5,000 and 20,000 rows of ~500 bytes: four times the rows, and about the same peak of memory (for Parquet and
    hf, of the worker's render to a file; the web serves the file)."""
    small, large = synthetic_version(dataset, 5_000, number=2), synthetic_version(dataset, 20_000, number=3)
    if FORMATS[fmt].stored:
        _rendered(large, fmt)  # imports pyarrow, outside the count
        (small_size, small_peak), (large_size, large_peak) = _rendered(small, fmt), _rendered(large, fmt)
    else:
        _streamed(reader.get(f"{EVAL}/versions/1/download?format={fmt}"))
        small_size, small_peak = _streamed(reader.get(f"{EVAL}/versions/2/download?format={fmt}"))
        large_size, large_peak = _streamed(reader.get(f"{EVAL}/versions/3/download?format={fmt}"))

    assert large_size > 3.5 * small_size
    assert large_peak < 1.25 * small_peak, (small_peak, large_peak)
    assert large_peak < 10_000_000  # the rows of version 3 are 10 MB as JSONL


@pytest.mark.postgres
def test_a_download_reads_the_version_a_page_at_a_time_so_its_first_bytes_leave_at_once(reader, dataset):
    """No server-side cursor: outside a transaction Django declares one WITH HOLD, which PostgreSQL materialises
    in full before the first row. Keyset pages of ROW_CHUNK rows instead; the first chunk needs only the first."""
    version = synthetic_version(dataset, 2 * ROW_CHUNK + 7, number=2)
    response = reader.get(f"{EVAL}/versions/2/download?format=jsonl")
    chunks = iter(response.streaming_content)

    with CaptureQueriesContext(connection) as first:
        body = next(chunks)
    with CaptureQueriesContext(connection) as rest:
        body += b"".join(chunks)

    pages = [q["sql"] for q in [*first.captured_queries, *rest.captured_queries] if "labeling_datasetrow" in q["sql"]]
    assert len(first.captured_queries) == 1 and f"LIMIT {ROW_CHUNK}" in first.captured_queries[0]["sql"]
    assert len(pages) == 3 and all(f"LIMIT {ROW_CHUNK}" in sql for sql in pages)
    assert hashlib.sha256(body).hexdigest() == version.sha256
    assert body.count(b"\n") == 2 * ROW_CHUNK + 7


# Diff and build -----------------------------------------------------------------------------------------


def test_the_diff_lists_added_removed_and_changed_ids(reader, project, lead, dataset, v1):
    items = list(project.items.select_related("output").order_by("output__external_id"))
    mark_for_adjudication(lead=lead, item=items[0], note="Check again")  # out-00000 leaves the dataset
    second_labeler, rubric = UserFactory(username="lab1"), project.rubrics.first()
    submit_label(expert=second_labeler, item=items[1], rubric=rubric, answers={"correct": True, "helpful": 1})
    resolve_item(item_id=items[1].pk)  # out-00001 changes
    label_outputs(project, 2, start=100)  # out-00100 and out-00101 join
    build_version(dataset_id=dataset.pk)

    response = reader.get(f"{EVAL}/diff?from=1&to=latest")

    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in ("from", "to", "added", "removed", "changed")} == {
        "from": 1, "to": 2, "added": ["out-00100", "out-00101"], "removed": ["out-00000"], "changed": ["out-00001"],
    }  # fmt: skip
    assert reader.get(f"{EVAL}/diff?from=2").json()["to"] == 2  # `to` defaults to latest
    # The rest was kept unchanged: neither the removed row nor the changed one.
    assert reader.get(f"{EVAL}/versions/2").json()["rows_copied"] == v1.row_count - 2


def test_each_changed_row_says_which_fields_changed_and_how_its_gold_moved(reader, project, lead, dataset, v1):
    """`changed` held ids only: an engineer fetched every changed row of both versions to see what changed. Each
    changed row now comes with the row's fields that differ and, per question whose gold moved, before and after."""
    items = {item.output.external_id: item for item in project.items.select_related("output")}
    adjudicate(lead=lead, item=items["out-00001"], answers={"correct": False, "fix": "x" * 300})
    build_version(dataset_id=dataset.pk)

    body = reader.get(f"{EVAL}/diff?from=1&to=2").json()

    assert body["changed"] == ["out-00001"] and body["changed_rows_left_out"] == 0
    [entry] = body["changed_rows"]
    assert entry["id"] == "out-00001"
    assert {"label", "expected_output"} <= set(entry["fields"]) and "input" not in entry["fields"]
    assert entry["gold"]["correct"] == {
        "before": {"value": True, "method": "unanimous"}, "after": {"value": False, "method": "adjudicated"}
    }  # fmt: skip
    assert entry["gold"]["fix"]["before"] is None
    assert entry["gold"]["fix"]["after"] == {"value": "x" * 199 + "…", "method": "adjudicated"}  # a long text is cut


def test_a_diff_takes_latest_for_from_as_every_version_url_does(reader, project, dataset, v1):
    """`?from=latest&to=1` was a 400 "A valid integer is required." while `latest` works in every other version URL."""
    label_outputs(project, 2, start=100)
    build_version(dataset_id=dataset.pk)

    backwards = reader.get(f"{EVAL}/diff?from=latest&to=1")
    itself = reader.get(f"{EVAL}/diff?from=latest&to=latest")

    assert backwards.status_code == 200, backwards.json()
    unchanged = {"changed": [], "changed_left_out": 0, "changed_rows": [], "changed_rows_left_out": 0}
    none_left_out = {"added_left_out": 0, "removed_left_out": 0}
    assert backwards.json() == {
        "from": 2, "to": 1, "added": [], "removed": ["out-00100", "out-00101"], **none_left_out, **unchanged
    }  # fmt: skip
    assert itself.json() == {"from": 2, "to": 2, "added": [], "removed": [], **none_left_out, **unchanged}


def test_each_list_of_a_diff_holds_its_first_ids_and_counts_the_rest_as_changed_rows_does(
    reader, project, lead, dataset, v1, monkeypatch
):
    """`added`, `removed` and `changed` were unbounded: two large versions gave a huge answer. Each now holds the
    first DIFF_LIMIT ids (1,000; 1 here), as `changed_rows` does, and `<list>_left_out` counts the rest."""
    monkeypatch.setattr(datasets_views, "DIFF_LIMIT", 1)
    items = {item.output.external_id: item for item in project.items.select_related("output")}
    for gone in ("out-00000", "out-00002"):
        mark_for_adjudication(lead=lead, item=items[gone], note="Check again")
    for changed in ("out-00001", "out-00003"):
        adjudicate(lead=lead, item=items[changed], answers={"correct": False, "fix": "Parcels arrive in 3 days."})
    label_outputs(project, 3, start=100)
    build_version(dataset_id=dataset.pk)

    body = reader.get(f"{EVAL}/diff?from=1&to=2").json()

    assert {key: value for key, value in body.items() if key != "changed_rows"} == {
        "from": 1, "to": 2,
        "added": ["out-00100"], "added_left_out": 2,
        "removed": ["out-00000"], "removed_left_out": 1,
        "changed": ["out-00001"], "changed_left_out": 1,
        "changed_rows_left_out": 1,
    }  # fmt: skip
    assert [entry["id"] for entry in body["changed_rows"]] == ["out-00001"]


@pytest.mark.parametrize(
    "query", ["", "?from=abc", "?from=0", "?from=1&to=xyz", "?from=1&to=-1", "?from=Latest", "?from=1e3"]
)
def test_a_diff_without_good_version_numbers_is_a_400(reader, v1, query):
    response = reader.get(f"{EVAL}/diff{query}")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] in {"from", "to"}


def test_a_diff_with_a_version_that_is_not_ready_is_a_409(reader, dataset, v1):
    DatasetVersion.objects.create(dataset=dataset, number=2, status=VersionStatus.FAILED)

    assert reader.get(f"{EVAL}/diff?from=1&to=2").status_code == 409


@pytest.mark.parametrize("role", ["engineer", "lead", "admin"])
def test_a_signed_in_engineer_lead_or_admin_asks_for_a_build(
    client, project, dataset, role, django_capture_on_commit_callbacks
):
    client.force_login(_member(project, f"{role}-1", role))

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"{EVAL}/build")

    assert response.status_code == 202
    assert response.json() == {"status": "requested", "status_url": f"http://testserver{EVAL}", "latest_version": 1}
    assert len(callbacks) == 1  # the build task, sent once the request commits
    assert [message.args for message in enqueued("labeling.build_dataset")] == [[dataset.pk]]
    dataset.refresh_from_db()
    assert dataset.build_requested_at is not None


def test_a_full_build_is_asked_for_by_a_parameter_and_a_bad_value_is_a_400(client, project, dataset):
    client.force_login(_member(project, "enzo", "engineer"))

    assert client.post(f"{EVAL}/build?full=yes").status_code == 202  # the explore filters' word: one rule for both
    refused = client.post(f"{EVAL}/build?full=sometimes")

    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {
            "index": None,
            "field": "full",
            "message": "'sometimes' is not yes or no: use yes, true or 1, or no, false or 0.",
        }
    ]
    assert [message.kwargs for message in enqueued("labeling.build_dataset")] == [{"full": True}]


@pytest.mark.parametrize("query", ["fulll=true", "full=true&rebuild=1", "force=1"])
def test_a_build_with_an_unknown_parameter_is_a_400_naming_it_and_builds_nothing(client, project, dataset, query):
    """A typo such as `?fulll=true` must not run an ordinary incremental build that answers as the asked one."""
    client.force_login(_member(project, "enzo", "engineer"))

    response = client.post(f"{EVAL}/build?{query}")

    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["field"] == query.split("&")[-1].split("=")[0]
    assert error["message"] == "Unknown parameter: use `full`."
    assert enqueued("labeling.build_dataset") == []
    dataset.refresh_from_db()
    assert dataset.build_requested_at is None
    assert client.post(f"{EVAL}/build?full=true&format=json").status_code == 202  # DRF's own `format` is taken


def test_a_build_needs_a_session_with_csrf_and_a_role_or_a_datasets_key(
    client, project, dataset, expert, full_key, other_project
):
    assert client.post(f"{EVAL}/build").status_code == 401
    assert Api(client, full_key.secret).post(f"{EVAL}/build", {}).status_code == 403  # no `datasets` scope
    client.force_login(expert)
    assert client.post(f"{EVAL}/build").status_code == 403
    client.force_login(_member(other_project, "olga", "engineer"))
    assert client.post(f"{EVAL}/build").status_code == 404

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(_member(project, "enzo", "engineer"))
    response = strict.post(f"{EVAL}/build")

    assert response.status_code == 403 and "CSRF" in response.json()["errors"][0]["message"]
    dataset.refresh_from_db()
    assert dataset.build_requested_at is None


# Query counts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("datasets", [1, 4])
def test_listing_datasets_takes_a_fixed_number_of_queries(reader, project, datasets, django_assert_num_queries):
    for n in range(datasets):
        dataset = create_dataset(project=project, spec={"name": f"Eval {n}"})
        DatasetVersion.objects.create(dataset=dataset, number=1, status=VersionStatus.READY)
    reader.get(BASE)  # the key's first use records it; later requests in the minute do not

    # The key, then the datasets with their latest ready and building versions, then their queues.
    with django_assert_num_queries(3):
        assert len(reader.get(BASE).json()["results"]) == datasets


@pytest.mark.parametrize("versions", [1, 4])
def test_listing_versions_takes_a_fixed_number_of_queries(
    client, project, engineer, versions, django_assert_num_queries
):
    publish_rubric(project=project, questions=QUESTIONS)
    publish_rubric(project=project, questions=QUESTIONS[:2])
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    for number in range(1, versions + 1):
        rubric_versions = [1, 2] if number % 2 else [2]
        DatasetVersion.objects.create(
            dataset=dataset, number=number, status=VersionStatus.READY, rubric_versions=rubric_versions
        )
    client.force_login(engineer)

    # Session, user, project with membership, dataset, versions, their stored files, the rubric versions they name.
    with django_assert_num_queries(7):
        results = client.get(f"{EVAL}/versions").json()["results"]
    assert len(results) == versions and all(version["questions"] for version in results)


@pytest.mark.parametrize("page_size", [2, 8])
def test_a_page_of_rows_takes_a_fixed_number_of_queries(reader, v1, page_size, django_assert_num_queries):
    reader.get(BASE)

    # The key, the dataset, the version, the rows.
    with django_assert_num_queries(4):
        assert len(reader.get(f"{EVAL}/versions/latest/rows?page_size={page_size}").json()["results"]) == page_size
