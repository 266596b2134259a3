"""The week-1 headline compares this week's cohort with the lead's reference and with the mean of the last 8
cohorts, each with a Wilson interval (checked against statsmodels) so a small cohort is not over-read."""

from datetime import timedelta

import pytest
from statsmodels.stats.proportion import proportion_confint

from labeling.models import RetentionCell, week_label
from labeling.rules.calendar import current_week
from labeling.rules.retention_reference import parse_reference
from labeling.selectors.report import RETENTION_COHORTS, _retention, build_report

from .test_report_retention import figures_before_the_reference, store_cohorts

# (weeks before the report's week the cohort started, users, returned in week 1). The report's cohort is the one
# of last week (its week 1 is the report's week); the 8 before it are pooled; the ninth before it is too old.
THIS_COHORT = (1, 60, 12)
PAST_COHORTS = [(2, 40, 14), (3, 55, 20), (4, 0, 0), (5, 38, 11), (6, 70, 25), (7, 45, 16), (8, 52, 15), (9, 61, 22)]
TOO_OLD = (10, 500, 400)

# Each test reads the running week, then stores cells and builds a report that reads it again: the clock is kept a
# day from a week start, so both reads are of one week.
pytestmark = pytest.mark.usefixtures("clear_of_week_start")


def store(project, week, cohorts):
    """Cells of offset 0 and 1 per cohort: "all" as given, "pass" and "fail" with other counts (never read)."""
    rows = []
    for age, users, returned in cohorts:
        cohort = week - timedelta(weeks=age)
        for segment, scale in (("all", 1), ("pass", 3), ("fail", 2)):
            for offset, active in ((0, users), (1, returned)):
                rows.append(
                    RetentionCell(
                        project=project, segment=segment, cohort_week=cohort, offset=offset,
                        cohort_users=users * scale, active_on=active, active_on_or_after=active,
                        incomplete=cohort + timedelta(weeks=offset) > week,  # stored after the week ended
                    )
                )  # fmt: skip
    RetentionCell.objects.bulk_create(rows)


def wilson(returned, users):
    low, high = proportion_confint(returned, users, alpha=0.05, method="wilson")
    return pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12)


def set_reference(project, text, source="our 2025 app benchmark"):
    project.retention_reference = parse_reference(text)
    project.retention_reference_source = source
    project.save()


def test_the_cohort_and_the_pooled_mean_of_the_last_8_cohorts_have_wilson_intervals(project):
    week = current_week(project) - timedelta(weeks=1)
    store(project, week, [THIS_COHORT, *PAST_COHORTS, TOO_OLD])
    set_reference(project, "week 1: 40%, week 4: 25%")

    comparison = _retention(project, week)["week1"]["comparison"]

    _, users, returned = THIS_COHORT
    assert comparison["cohort"]["rate"] == returned / users
    assert (comparison["cohort"]["ci_low"], comparison["cohort"]["ci_high"]) == wilson(returned, users)
    pooled_users = sum(users for _, users, _ in PAST_COHORTS)
    pooled_returned = sum(returned for _, _, returned in PAST_COHORTS)
    past = comparison["past"]
    assert (past["returned"], past["users"]) == (pooled_returned, pooled_users)
    assert past["rate"] == pooled_returned / pooled_users  # pooled counts, not a mean of the rates
    assert (past["ci_low"], past["ci_high"]) == wilson(pooled_returned, pooled_users)
    # The eight cohorts before this one; the one without users adds nothing and is not counted.
    assert len(PAST_COHORTS) == RETENTION_COHORTS
    assert past["cohorts"] == RETENTION_COHORTS - 1
    assert past["first_cohort_week"] == week_label(week - timedelta(weeks=9))
    assert past["last_cohort_week"] == week_label(week - timedelta(weeks=2))
    assert comparison["reference"]["rate"] == 0.4 and comparison["reference"]["source"] == "our 2025 app benchmark"


@pytest.mark.parametrize("percent, verdict", [("10", "above"), ("20", "within"), ("30", "within"), ("40", "below")])
def test_the_verdict_says_where_the_cohorts_interval_lies_against_the_reference(project, percent, verdict):
    """12 of 60 (20%): the Wilson interval runs from about 12% to 32%; 10% is under it, 40% over it."""
    week = current_week(project) - timedelta(weeks=1)
    store(project, week, [THIS_COHORT, *PAST_COHORTS])
    set_reference(project, f"week 1: {percent}%")

    reference = _retention(project, week)["week1"]["comparison"]["reference"]

    low, high = proportion_confint(12, 60, method="wilson")
    value = int(percent) / 100
    assert verdict == ("above" if low > value else "below" if high < value else "within")
    assert reference["verdict"] == verdict


def test_the_verdict_against_the_mean_of_the_last_cohorts(project):
    """A big cohort far under the last cohorts' mean is below it; a small one as far under is not over-read."""
    week = current_week(project) - timedelta(weeks=1)
    store(project, week, [(1, 400, 60), *PAST_COHORTS])
    assert _retention(project, week)["week1"]["comparison"]["past"]["verdict"] == "below"

    RetentionCell.objects.all().delete()
    store(project, week, [(1, 10, 2), *PAST_COHORTS])
    comparison = _retention(project, week)["week1"]["comparison"]
    low, high = proportion_confint(2, 10, method="wilson")
    assert low < comparison["past"]["rate"] < high
    assert comparison["past"]["verdict"] == "within"


def test_without_a_reference_or_a_week_1_point_there_is_no_verdict_against_it(project):
    week = current_week(project) - timedelta(weeks=1)
    store(project, week, [THIS_COHORT, *PAST_COHORTS])

    assert _retention(project, week)["week1"]["comparison"]["reference"] is None
    assert _retention(project, week)["reference"] is None

    set_reference(project, "week 4: 25%")
    reference = _retention(project, week)["week1"]["comparison"]["reference"]
    assert reference == {"rate": None, "source": "our 2025 app benchmark", "verdict": None}


def test_a_first_cohort_has_no_past_to_compare_with(project):
    week = current_week(project) - timedelta(weeks=1)
    store(project, week, [THIS_COHORT])

    comparison = _retention(project, week)["week1"]["comparison"]

    assert comparison["past"] is None and comparison["cohort"]["users"] == 60


def test_a_cohort_without_users_has_no_interval_and_no_verdict(project):
    week = current_week(project) - timedelta(weeks=1)
    store(project, week, PAST_COHORTS)
    set_reference(project, "week 1: 40%")

    comparison = _retention(project, week)["week1"]["comparison"]

    assert comparison["cohort"] == {"rate": None, "returned": 0, "users": 0, "ci_low": None, "ci_high": None}
    assert comparison["reference"]["verdict"] is None and comparison["past"]["verdict"] is None


@pytest.mark.parametrize("seed", range(2))
def test_a_reference_changes_no_retention_figure_that_was_there(project, seed):
    current = current_week(project)
    store_cohorts(project, weeks=14, current=current, seed=seed)
    weeks = [current - timedelta(weeks=back) for back in (0, 1, 5, 13)]
    without = [_retention(project, week) for week in weeks]

    set_reference(project, "week 1: 40%, week 2: 30%, week 4: 25%, week 12: 10%")

    for week, before in zip(weeks, without, strict=True):
        after = _retention(project, week)
        assert figures_before_the_reference(after) == figures_before_the_reference(before)
        assert after["reference"] == {
            "points": [
                {"week": 1, "rate": 0.4},
                {"week": 2, "rate": 0.3},
                {"week": 4, "rate": 0.25},
                {"week": 12, "rate": 0.1},
            ],
            "source": "our 2025 app benchmark",
        }


def test_the_report_carries_the_comparison_in_its_headline_and_the_reference_in_its_retention(project):
    week = current_week(project) - timedelta(weeks=1)
    store(project, week, [THIS_COHORT, *PAST_COHORTS])
    set_reference(project, "week 1: 40%")

    report = build_report(project=project, week=week, status="open")

    assert report["headline"]["retention_week1"]["comparison"]["reference"]["verdict"] == "below"
    assert report["retention"]["reference"]["points"] == [{"week": 1, "rate": 0.4}]
