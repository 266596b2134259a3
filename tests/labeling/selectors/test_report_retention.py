"""The report's and the meeting page's retention read only the cohorts and offsets they show, with the same figures."""

import random
from datetime import date, timedelta

import pytest
from django.db import connection
from django.urls import reverse

from labeling.metrics.retention import mean_curves
from labeling.models import RetentionCell, week_label
from labeling.rules.calendar import current_week
from labeling.selectors.metrics import RETENTION_OFFSETS
from labeling.selectors.report import RETENTION_COHORTS, _retention, build_report

SEGMENTS = ("all", "pass", "fail")

# Each test reads the running week, then stores cells and builds a report that reads it again: the clock is kept a
# day from a week start, so both reads are of one week.
pytestmark = pytest.mark.usefixtures("clear_of_week_start")


def store_cohorts(project, *, weeks: int, current: date, seed: int = 0) -> None:
    """`weeks` cohorts up to `current`, every segment, offsets up to `current` (its cells running)."""
    draw = random.Random(seed)
    rows = []
    for segment in SEGMENTS:
        for age in range(weeks):
            cohort = current - timedelta(weeks=age)
            users = draw.randrange(0, 30)  # some cohorts are empty: rates are None
            for offset in range(age + 1):
                active = draw.randrange(0, users + 1) if users else 0
                rows.append(
                    RetentionCell(
                        project=project, segment=segment, cohort_week=cohort, offset=offset, cohort_users=users,
                        active_on=active, active_on_or_after=min(users, active + draw.randrange(0, 3)),
                        incomplete=offset == age,
                    )
                )  # fmt: skip
    RetentionCell.objects.bulk_create(rows)


def retention_read_as_before(project, week: date) -> dict:
    """The report's retention as it was computed from every cell up to the week, as model instances."""
    first = week - timedelta(weeks=RETENTION_COHORTS - 1)
    fields = ("segment", "cohort_week", "offset", "cohort_users", "active_on", "active_on_or_after", "incomplete")
    cells = [
        {name: getattr(cell, name) for name in fields}
        for cell in RetentionCell.objects.filter(project=project, cohort_week__lte=week).order_by(
            "segment", "cohort_week", "offset"
        )
    ]

    def rate(returned, users):
        return returned / users if users else None

    def ends(cell):
        return cell["cohort_week"] + timedelta(weeks=cell["offset"])

    def final(cell):  # stored after its week ended, which is over now (a running week's cells are not)
        return not cell["incomplete"] and ends(cell) < current_week(project)

    visible = [cell for cell in cells if ends(cell) <= week]
    cohorts: dict = {}
    for cell in visible:
        if cell["segment"] != "all" or cell["cohort_week"] < first:
            continue
        cohort = cohorts.setdefault(
            cell["cohort_week"],
            {"cohort_week": week_label(cell["cohort_week"]), "cohort_start": cell["cohort_week"].isoformat(),
             "users": cell["cohort_users"], "cells": []},
        )  # fmt: skip
        cohort["cells"].append(
            {"offset": cell["offset"], "active_on": cell["active_on"],
             "rate": rate(cell["active_on"], cell["cohort_users"]), "active_on_or_after": cell["active_on_or_after"],
             "rate_on_or_after": rate(cell["active_on_or_after"], cell["cohort_users"]),
             "incomplete": not final(cell)}
        )  # fmt: skip
    complete = [cell for cell in visible if final(cell)]
    curves = mean_curves(complete, offsets=RETENTION_OFFSETS, last_cohort=week)

    def week1(cohort_week, segment):
        cell = next((c for c in visible if (c["segment"], c["cohort_week"], c["offset"]) == (segment, cohort_week, 1)),
                    None)  # fmt: skip
        if cell is None:
            return {"rate": None, "returned": 0, "users": 0}
        return {"rate": rate(cell["active_on"], cell["cohort_users"]), "returned": cell["active_on"],
                "users": cell["cohort_users"]}  # fmt: skip

    cohort_week = week - timedelta(days=7)
    headline = {
        "cohort_week": week_label(cohort_week),
        **{segment: week1(cohort_week, segment) for segment in SEGMENTS},
        "previous_all": week1(cohort_week - timedelta(days=7), "all"),
    }
    return {"cohorts": list(cohorts.values()), "curves": curves, "week1": headline if cells else None}


def figures_before_the_reference(retention: dict) -> dict:
    """The report's retention without what the retention reference added (`reference`, the week-1 `comparison`):
    every figure that was there before stays identical, cell by cell."""
    assert "reference" in retention
    week1 = retention["week1"]
    if week1 is not None:
        assert set(week1["comparison"]) == {"cohort", "reference", "past"}
        # And whether its week 1 is over, and when it ends: said since, by the rule the grid's cells follow.
        week1 = {key: value for key, value in week1.items() if key not in ("comparison", "complete", "ends_at")}
    return {**{key: value for key, value in retention.items() if key != "reference"}, "week1": week1}


class RowsFetched:
    """Counts the rows each query on the retention table returned (PostgreSQL reports a SELECT's row count)."""

    def __init__(self):
        self.rows = 0
        self.queries = 0

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.lstrip().upper().startswith("SELECT") and '"labeling_retentioncell"' in sql:
            self.queries += 1
            self.rows += context["cursor"].rowcount
        return result


@pytest.mark.parametrize("seed", range(3))
def test_the_reports_retention_is_what_reading_every_cell_gave(project, seed):
    """Grid, curves and week-1 headline, for the running week, past weeks and a week before any cohort."""
    current = current_week(project)
    store_cohorts(project, weeks=20, current=current, seed=seed)
    for weeks_back in (0, 1, 3, 8, 12, 19, 20, 25):
        week = current - timedelta(weeks=weeks_back)
        assert figures_before_the_reference(_retention(project, week)) == retention_read_as_before(project, week), (
            weeks_back
        )


def test_the_reports_retention_with_cells_only_for_the_running_week(project):
    current = current_week(project)
    store_cohorts(project, weeks=1, current=current)
    assert figures_before_the_reference(_retention(project, current)) == retention_read_as_before(project, current)
    assert _retention(project, current)["week1"] is not None


@pytest.mark.postgres  # the row count of a SELECT: SQLite's cursor reports -1
def test_the_running_weeks_report_fetches_no_cell_past_the_offsets_it_shows(project):
    """40 weeks of cohorts (2,460 cells): the report reads the cells below offset 8, 3 segments x 8 per cohort."""
    current = current_week(project)
    store_cohorts(project, weeks=40, current=current)
    shown = RetentionCell.objects.filter(project=project, offset__lt=RETENTION_OFFSETS).count()
    assert shown < RetentionCell.objects.filter(project=project).count() / 2

    fetched = RowsFetched()
    with connection.execute_wrapper(fetched):
        report = build_report(project=project, week=current, status="open")

    assert fetched.queries == 1 and fetched.rows == shown
    assert len(report["retention"]["cohorts"]) == RETENTION_COHORTS
    assert [point["offset"] for point in report["retention"]["curves"]["all"]] == list(range(RETENTION_OFFSETS))


@pytest.mark.postgres  # the row count of a SELECT: SQLite's cursor reports -1
def test_the_running_weeks_meeting_page_fetches_no_cell_past_the_offsets_it_shows(client, project, lead):
    """The page reads the retention table once, only the cells below offset 8."""
    current = current_week(project)
    store_cohorts(project, weeks=40, current=current)
    shown = RetentionCell.objects.filter(project=project, offset__lt=RETENTION_OFFSETS).count()
    client.force_login(lead)

    fetched = RowsFetched()
    with connection.execute_wrapper(fetched):
        response = client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(current)]))

    assert response.status_code == 200
    assert fetched.queries == 1 and fetched.rows == shown
