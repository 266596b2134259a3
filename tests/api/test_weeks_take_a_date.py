"""Every endpoint that takes a week reads it by the metrics API's rule (rules.calendar.week_of_label_or_day): an ISO
week label, or a date meaning the project's cycle week holding that day, with the same 400s, schema pattern and help.
The labels export, the changes and a week's report took week labels only."""

import re
from datetime import timedelta

import pytest

from labeling.models import Queue, week_label
from labeling.rules.calendar import current_week
from tests.conftest import Api
from tests.factories import created_weeks_ago
from tests.helpers.changes import add_outputs
from tests.helpers.metrics import store_week

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

LABELS = "/api/v1/labels"
CHANGES = "/api/v1/metrics/changes"
QUALITY = "/api/v1/metrics/quality"


@pytest.fixture
def reader(client, read_key):
    return Api(client, read_key.secret)


@pytest.fixture
def week(project):
    """Weeks start on Wednesdays; the week before the running one, with outputs and stored metrics."""
    type(project).objects.filter(pk=project.pk).update(cycle_weekday=2)
    project.refresh_from_db()
    created_weeks_ago(project, 104)
    week = current_week(project) - timedelta(days=7)
    assert week.weekday() == 2
    store_week(project, Queue.objects.create(project=project, slug="sample", name="Sample"), week, passes=10, n=40)
    add_outputs(project, week, 20, rated=10, down=2)
    return week


def _monday_after(week):
    """A day of `week`'s cycle week (Wednesday to Tuesday) in the next ISO week: only the project's calendar knows."""
    return (week + timedelta(days=5)).isoformat()


def test_the_labels_export_takes_a_date_for_from_and_to(reader, week):
    by_label = reader.get(f"{LABELS}?from={week_label(week)}&to={week_label(week)}")
    by_date = reader.get(f"{LABELS}?from={_monday_after(week)}&to={week.isoformat()}")

    assert by_label.status_code == by_date.status_code == 200, by_date.content
    assert by_date["Content-Disposition"] == by_label["Content-Disposition"]
    assert week_label(week) in by_date["Content-Disposition"]


def test_the_changes_take_a_date_for_week(reader, week):
    by_label = reader.get(f"{CHANGES}?week={week_label(week)}")
    by_date = reader.get(f"{CHANGES}?week={_monday_after(week)}")

    assert by_label.status_code == by_date.status_code == 200, by_date.content
    assert by_date.json() == by_label.json()
    assert by_date.json()["week"] == week_label(week)


def test_a_weeks_report_takes_a_date_in_its_path(reader, week):
    by_label = reader.get(f"/api/v1/cycles/{week_label(week)}/report")
    by_date = reader.get(f"/api/v1/cycles/{_monday_after(week)}/report")

    assert by_label.status_code == by_date.status_code == 200, by_date.content
    assert by_date.json()["week"] == by_label.json()["week"] == week_label(week)
    assert by_date.json()["headline"] == by_label.json()["headline"]


@pytest.mark.parametrize(
    "path, field",
    [
        (f"{LABELS}?from={{bad}}", "from"),
        (f"{CHANGES}?week={{bad}}", "week"),
        ("/api/v1/cycles/{bad}/report", "week"),
        (f"{QUALITY}?to={{bad}}", "to"),
    ],
)
@pytest.mark.parametrize(
    "bad, words",
    [
        ("2026-02-30", "2026-02-30 is not a day of the calendar"),
        ("yesterday", "write an ISO week, e.g. 2026-W48, or a date, e.g. 2026-11-26."),
        ("1900-01-01", "out of range"),
        ("2026-W60", "2026 has no week 60"),
    ],
)
def test_a_bad_week_or_day_is_the_same_400_everywhere(reader, week, path, field, bad, words):
    response = reader.get(path.format(bad=bad))

    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert words in error["message"], error
    if "?" in path:  # a path parameter is no field of a query
        assert error["field"] == field, error


def test_the_schema_says_every_week_takes_a_date(reader):
    schema = reader.get("/api/schema/?format=json").json()
    quality = {p["name"]: p for p in schema["paths"][QUALITY]["get"]["parameters"]}
    weeks = {
        "labels from": {p["name"]: p for p in schema["paths"][LABELS]["get"]["parameters"]}["from"],
        "labels to": {p["name"]: p for p in schema["paths"][LABELS]["get"]["parameters"]}["to"],
        "changes week": {p["name"]: p for p in schema["paths"][CHANGES]["get"]["parameters"]}["week"],
        "report week": {p["name"]: p for p in schema["paths"]["/api/v1/cycles/{week}/report"]["get"]["parameters"]}[
            "week"
        ],
    }

    for name, parameter in weeks.items():
        assert parameter["schema"]["pattern"] == quality["from"]["schema"]["pattern"], name
        assert re.search(parameter["schema"]["pattern"], "2026-11-26"), name
        assert re.search(parameter["schema"]["pattern"], "2026-W48"), name
        assert "a date such as `2026-11-26` (the project's cycle week holding that day)" in parameter["description"]
