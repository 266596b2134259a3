"""The metrics API's `from` and `to` take a date as well as a week label: the project's cycle week holding that day
(the project's calendar decides, so a client need not know on which weekday the weeks start)."""

import re
from datetime import timedelta

import pytest

from labeling.models import Queue, week_label
from labeling.rules.calendar import current_week
from tests.conftest import Api
from tests.factories import created_weeks_ago
from tests.helpers.metrics import store_week

QUALITY = "/api/v1/metrics/quality"


@pytest.fixture
def reader(client, read_key):
    return Api(client, read_key.secret)


@pytest.fixture
def weeks(project):
    """Weeks that start on Wednesdays, the last four stored."""
    type(project).objects.filter(pk=project.pk).update(cycle_weekday=2)
    project.refresh_from_db()
    created_weeks_ago(project, 8)
    queue = Queue.objects.create(project=project, slug="sample", name="Sample")
    this_week = current_week(project)
    stored = [this_week - timedelta(weeks=back) for back in (3, 2, 1, 0)]
    for n, week in enumerate(stored):
        store_week(project, queue, week, passes=10 + n, n=40)
    return stored


def test_a_date_means_the_cycle_week_holding_it(reader, weeks):
    first, second = weeks[0], weeks[1]
    assert first.weekday() == 2
    # The Monday after `first` starts: ISO week of the next week, yet `first`'s cycle week (Wednesday to Tuesday).
    monday = first + timedelta(days=5)

    by_label = reader.get(f"{QUALITY}?from={week_label(first)}&to={week_label(second)}")
    by_date = reader.get(f"{QUALITY}?from={monday.isoformat()}&to={(second + timedelta(days=6)).isoformat()}")
    by_first_day = reader.get(f"{QUALITY}?from={first.isoformat()}&to={second.isoformat()}")

    assert by_label.status_code == by_date.status_code == by_first_day.status_code == 200, by_date.content
    assert by_date.json() == by_label.json() == by_first_day.json()
    assert (by_date.json()["from"], by_date.json()["to"]) == (week_label(first), week_label(second))
    assert {row["week"] for row in by_date.json()["results"]} == {week_label(first), week_label(second)}


@pytest.mark.parametrize(
    "query, field, words",
    [
        ("from=2026-13-45", "from", "2026-13-45 is not a day of the calendar"),
        ("to=2026-02-30", "to", "2026-02-30 is not a day of the calendar"),
        ("from=yesterday", "from", "or a date, e.g. 2026-11-26"),
        ("from=26-11-2026", "from", "or a date, e.g. 2026-11-26"),
        ("from=1900-01-01", "from", "out of range"),
    ],
)
def test_a_bad_date_is_a_400_naming_it(reader, weeks, query, field, words):
    response = reader.get(f"{QUALITY}?{query}")

    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["field"] == field and words in error["message"], error


def test_the_schema_says_from_and_to_take_a_date(reader):
    schema = reader.get("/api/schema/?format=json").json()
    parameters = {p["name"]: p for p in schema["paths"][QUALITY]["get"]["parameters"]}

    for name in ("from", "to"):
        assert "2026-11-26" in parameters[name]["description"]
        pattern = parameters[name]["schema"]["pattern"]
        assert re.search(pattern, "2026-11-26") and re.search(pattern, "2026-W48")
