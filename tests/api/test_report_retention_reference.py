"""The report API serves the week-1 comparison with the retention reference as the report holds it."""

from datetime import timedelta

import pytest
from statsmodels.stats.proportion import proportion_confint

from labeling.models import RetentionCell, week_label
from labeling.rules.calendar import current_week
from labeling.rules.retention_reference import parse_reference
from tests.conftest import Api
from tests.factories import created_weeks_ago


@pytest.fixture
def project(project):
    """Created two years ago: the weeks these tests read are the project's own (a week that ended before the project
    was created, holding no review work, has no report or changes: a 404)."""
    return created_weeks_ago(project, 104)


@pytest.fixture
def reader(client, read_key):
    return Api(client, read_key.secret)


def test_the_report_api_serves_the_reference_and_the_comparison(clear_of_week_start, reader, project):
    project.retention_reference = parse_reference("week 1: 40%")
    project.retention_reference_source = "our benchmark"
    project.save()
    week = current_week(project) - timedelta(weeks=1)
    RetentionCell.objects.bulk_create(
        RetentionCell(project=project, segment="all", cohort_week=week - timedelta(weeks=age), offset=offset,
                      cohort_users=users, active_on=active, active_on_or_after=active, incomplete=False)
        for age, users, returned in ((1, 30, 9), (2, 40, 20))
        for offset, active in ((0, users), (1, returned))
    )  # fmt: skip

    response = reader.get(f"/api/v1/cycles/{week_label(week)}/report")

    assert response.status_code == 200
    report = response.json()
    assert report["retention"]["reference"] == {"points": [{"week": 1, "rate": 0.4}], "source": "our benchmark"}
    comparison = report["headline"]["retention_week1"]["comparison"]
    assert (comparison["cohort"]["ci_low"], comparison["cohort"]["ci_high"]) == pytest.approx(
        proportion_confint(9, 30, method="wilson")
    )
    assert comparison["reference"] == {"rate": 0.4, "source": "our benchmark", "verdict": "within"}
    assert (comparison["past"]["returned"], comparison["past"]["users"], comparison["past"]["verdict"]) == (
        20,
        40,
        "below",
    )
