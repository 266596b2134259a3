"""Every moment the API or a download hands out is written one way, in UTC with `Z` (`rules.moments.utc_moment`),
as REST and webhook payloads already wrote them; a published dataset version's lines keep the bytes they were built
with (checksummed, immutable)."""

import csv
import hashlib
import io
import json
from datetime import datetime, timedelta

import pytest

from labeling.models import CycleStatus, DatasetVersion, Label, ReviewCycle, week_label
from labeling.services.api_keys import create_api_key
from labeling.services.cycles import add_decision
from labeling.services.datasets import build_version, create_dataset
from labeling.services.labels import flag_item
from tests.conftest import Api
from tests.factories import OutputFactory, created_weeks_ago
from tests.helpers.labeling import label_outputs


def utc_z(text: str) -> datetime:
    """The moment `text` names, checked to be written in UTC with `Z`."""
    assert isinstance(text, str) and text.endswith("Z") and "+00:00" not in text, text
    return datetime.fromisoformat(text)


@pytest.fixture
def reader(client, read_key):
    return Api(client, read_key.secret)


def test_the_label_export_writes_labeled_at_in_utc_with_z(reader, project):
    """It wrote "2026-12-07T04:20:14.123456+00:00" where the REST API writes the same moment with `Z`."""
    item = label_outputs(project, 1)[0]
    labeled = sorted(Label.objects.filter(item=item).values_list("updated_at", flat=True))
    weeks = f"from={week_label(item.week)}&to={week_label(item.week)}"

    lines = b"".join(reader.get(f"/api/v1/labels?{weeks}").streaming_content).decode().splitlines()
    rows = list(
        csv.DictReader(
            io.StringIO(b"".join(reader.get(f"/api/v1/labels?{weeks}&format=csv").streaming_content).decode())
        )
    )

    assert sorted(utc_z(json.loads(line)["labeled_at"]) for line in lines) == labeled
    assert sorted(utc_z(row["labeled_at"]) for row in rows) == labeled


def test_an_open_weeks_report_writes_its_moments_in_utc_with_z(reader, project, lead, this_week):
    item = label_outputs(project, 1)[0]
    flag = flag_item(expert=item.slots.first().expert, item=item, note="odd refund")
    cycle = ReviewCycle.objects.create(project=project, week=this_week)
    decision = add_decision(user=lead, cycle=cycle, text="Look at refunds", owner="enzo")

    report = reader.get(f"/api/v1/cycles/{week_label(this_week)}/report").json()

    assert report["status"] == "open"
    utc_z(report["generated_at"])
    assert [utc_z(entry["created_at"]) for entry in report["agenda"]["flags"]] == [flag.created_at]
    assert [utc_z(entry["created_at"]) for entry in report["decisions"]] == [decision.created_at]


def test_a_report_frozen_with_offsets_is_read_with_z_and_keeps_what_it_holds(reader, project, lead, this_week):
    """Reports frozen before (and `compared_again`, written by a later close) hold `+00:00`: the API writes the same
    moments with `Z`; the stored report is not rewritten."""
    created_weeks_ago(project, 10)  # the week is the project's own
    week = this_week - timedelta(weeks=3)
    frozen = {
        "version": 1, "project": "support-bot", "project_name": "Support bot", "week": week_label(week),
        "status": "closed", "generated_at": "2026-11-30T16:22:00.250000+00:00",
        "compared_again": {"with_week": week_label(week - timedelta(weeks=1)), "at": "2026-12-07T00:05:00+00:00"},
        "trend_restated": {"weeks": ["2026-W40"], "at": "2026-12-07T01:05:00+01:00"},
        "carried_decisions": [
            {"id": 1, "text": "Retrain", "owner": "", "due_date": None, "item_id": None, "created_by": "lena",
             "created_at": "2026-11-20T10:00:00+00:00", "week": "2026-W46", "overdue": False},
        ],
    }  # fmt: skip
    ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED, report=frozen)

    report = reader.get(f"/api/v1/cycles/{week_label(week)}/report").json()

    assert report["generated_at"] == "2026-11-30T16:22:00.250000Z"
    assert report["compared_again"]["at"] == "2026-12-07T00:05:00Z"
    assert report["trend_restated"]["at"] == "2026-12-07T00:05:00Z"  # the same instant, in UTC
    assert report["carried_decisions"][0]["created_at"] == "2026-11-20T10:00:00Z"
    assert ReviewCycle.objects.get(project=project, week=week).report == frozen


def test_the_explore_export_writes_occurred_at_in_utc_with_z(client, project, lead):
    output = OutputFactory(project=project)
    client.force_login(lead)

    response = client.get(f"/p/{project.slug}/explore/export.jsonl")

    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [utc_z(json.loads(line)["occurred_at"]) for line in lines] == [output.occurred_at]


def test_a_dataset_versions_lines_keep_their_moments_as_built(reader, project):
    """The exception: a version's bytes are checksummed and immutable, so its lines keep `+00:00` (as every version
    published before was built), and the download is those bytes."""
    items = label_outputs(project, 2)
    dataset = create_dataset(project=project, spec={"name": "Support eval"})
    version = build_version(dataset_id=dataset.pk)
    assert version.status == "ready"

    download = reader.get(f"/api/v1/projects/{project.slug}/datasets/{dataset.slug}/versions/1/download")

    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == DatasetVersion.objects.get(pk=version.pk).sha256
    rows = {row["id"]: row for row in map(json.loads, body.decode().splitlines())}
    for item in items:
        row = rows[item.output.external_id]
        assert row["occurred_at"] == item.output.occurred_at.isoformat()  # "…+00:00"
        assert row["labeled_at"] == max(label.updated_at for label in item.labels.all()).isoformat()
        assert row["labeled_at"].endswith("+00:00")


def test_a_datasets_since_and_until_are_written_in_utc_with_z_and_post_back_as_shown(client, project):
    """A dataset's `filters` wrote `since` and `until` as stored, with the offset they were read at
    ("2026-11-01T00:00:00+01:00", or "+00:00" for a moment sent with `Z`) beside its `created_at` in `Z`."""
    project.time_zone = "Europe/Paris"
    project.save(update_fields=["time_zone"])
    builder = Api(client, create_api_key(project=project, name="ci", scopes=["read", "datasets"]).secret)
    datasets = f"/api/v1/projects/{project.slug}/datasets"

    made = builder.post(datasets, {"name": "Nightly", "since": "2026-11-01T00:00:00", "until": "2026-12-01T00:00Z"})
    shown = builder.get(made.headers["Location"]).json()
    again = builder.post(datasets, {"name": "Nightly copy", "filters": shown["filters"]})

    assert made.status_code == again.status_code == 201, (made.json(), again.json())
    assert shown["filters"] == made.json()["filters"] == again.json()["filters"]
    assert [utc_z(shown["filters"][name]) for name in ("since", "until")] == [
        datetime.fromisoformat("2026-11-01T00:00:00+01:00"),  # without an offset: the project's zone, as before
        datetime.fromisoformat("2026-12-01T00:00:00+00:00"),
    ]
