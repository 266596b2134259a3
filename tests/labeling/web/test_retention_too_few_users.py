"""A retention rate over fewer users than MIN_USERS is no figure on the pages: the demo's meeting page drew the "All
users" line up to 100% at week 7, from one cohort of one user ("100% (1 of 1 users)"). The chart leaves a gap there,
its data table, the tiles and report.md say "too few users" beside the counts; the stored cells and the API's numbers
are the same as before."""

from datetime import timedelta

import pytest
from django.urls import reverse

from labeling.metrics.retention import MIN_USERS
from labeling.models import RetentionCell, week_label
from labeling.reports import report_markdown
from labeling.rules.calendar import current_week
from labeling.selectors.report import build_report
from labeling.web import charts
from tests.conftest import Api
from tests.factories import created_weeks_ago

from .test_charts import SVG, parse, svg_of


def store(project, segment, cohort_week, users, active_by_offset):
    RetentionCell.objects.bulk_create(
        RetentionCell(
            project=project, segment=segment, cohort_week=cohort_week, offset=offset, cohort_users=users,
            active_on=active, active_on_or_after=max(active_by_offset[offset:]), incomplete=False,
        )
        for offset, active in enumerate(active_by_offset)
    )  # fmt: skip


@pytest.fixture
def week(project):
    """Last week (open), and the cells the demo had: a lone user first seen 8 weeks before, back in week 7; a cohort
    of 40 two weeks before; last week's cohort of 3 (1 pass, 2 fail), 2 of them back this week."""
    created_weeks_ago(project, 12)
    week = current_week(project) - timedelta(weeks=1)
    store(project, "all", week - timedelta(weeks=8), 1, [1, 0, 0, 0, 0, 0, 0, 1])
    store(project, "all", week - timedelta(weeks=2), 40, [40, 10])
    store(project, "all", week - timedelta(weeks=1), 3, [3, 2])
    store(project, "pass", week - timedelta(weeks=1), 1, [1, 1])
    store(project, "fail", week - timedelta(weeks=1), 2, [2, 1])
    return week


def test_a_point_over_too_few_users_is_a_gap_in_the_line_and_says_so_in_the_table(client, lead, project, week):
    client.force_login(lead)

    response = client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(week)]))

    assert response.status_code == 200
    figure = parse(str(response.context["retention_chart"]))
    drawn = [point.get("data-x") for point in svg_of(figure).findall(f".//{SVG}circle[@data-series='all']")]
    assert drawn == ["Week 0", "Week 1"]  # weeks 2 to 7 rest on the one user of the oldest cohort
    rows = {row[0].text: [cell.text for cell in row] for row in figure.findall(".//details/table/tbody/tr")}
    assert rows["Week 0"][1] == "100% (44 of 44 users)"
    assert rows["Week 1"][1] == "27% (12 of 44 users)"
    assert rows["Week 7"][1] == "too few users (1 of 1 user)"
    assert rows["Week 1"][2] == "too few users (1 of 1 user)" and rows["Week 1"][3] == "too few users (1 of 2 users)"
    assert "of 1 users" not in response.content.decode()


def test_the_week1_tiles_say_too_few_users_with_their_counts(client, lead, project, week):
    client.force_login(lead)

    response = client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(week)]))

    tiles = {tile["key"]: tile for tile in response.context["tiles"]}
    retention = tiles["retention"]
    assert retention["value"] == "too few users vs too few users"
    assert retention["detail"] == (
        f"cohort {week_label(week - timedelta(weeks=1))}: pass 1 of 1 user, fail 1 of 2 users, "
        "all too few users (2 of 3 users)"
    )
    assert retention["previous"] == "25.0% (10 of 40 users, all)"
    comparison = tiles["retention-comparison"]
    assert comparison["value"] == "too few users"
    assert comparison["detail"].startswith(f"cohort {week_label(week - timedelta(weeks=1))}: 2 of 3 users · 95%")


def test_report_md_says_too_few_users_where_the_rate_rests_on_fewer(project, week):
    text = report_markdown(build_report(project=project, week=week, status="open"), [])

    assert "| Week 1 | 27.3% (12 of 44 users) | too few users (1 of 1 user) | too few users (1 of 2 users) |" in text
    assert "| Week 7 | too few users (1 of 1 user) | — | — |" in text
    assert (
        "pass: too few users (1 of 1 user); fail: too few users (1 of 2 users); all: too few users (2 of 3 users)"
        in (text)
    )
    assert "of 1 users" not in text


def test_curves_whose_every_point_rests_on_too_few_users_say_so_instead_of_a_chart():
    curves = {"all": [{"offset": k, "rate": 1.0, "returned": 3, "users": 3, "cohorts": 1} for k in range(3)]}

    figure = parse(charts.retention_chart(curves, first_cohort={"cohort_week": "2026-W40", "users": 3}))

    assert "chart-empty" in figure.get("class")
    assert f"fewer than {MIN_USERS} users" in "".join(figure.itertext())


def test_the_api_gives_the_numbers_as_stored(client, read_key, project, week):
    """The stored rates and the API's are unchanged: 1 of 1 is still 1.0 there, with its `users` to judge it by."""
    reader = Api(client, read_key.secret)

    curves = reader.get(f"/api/v1/metrics/retention?segment=all&from={week_label(week - timedelta(weeks=8))}").json()
    report = reader.get(f"/api/v1/cycles/{week_label(week)}/report").json()

    assert curves["curves"]["all"][7] == {"offset": 7, "rate": 1.0, "returned": 1, "users": 1, "cohorts": 1}
    assert report["retention"]["curves"]["all"][7] == {
        "offset": 7,
        "rate": 1.0,
        "returned": 1,
        "users": 1,
        "cohorts": 1,
    }
    assert report["headline"]["retention_week1"]["pass"] == {"rate": 1.0, "returned": 1, "users": 1}


def test_a_cohort_of_too_few_users_is_compared_with_nothing(client, lead, project, week):
    """Last week's cohort of 3: its rate is no figure, so it is neither above, below nor within anything."""
    client.force_login(lead)

    response = client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(week)]))

    detail = next(tile for tile in response.context["tiles"] if tile["key"] == "retention-comparison")["detail"]
    assert detail.endswith(" · Not compared: too few users in this cohort.")
    assert "mean of the last" not in detail


def test_the_mean_of_past_cohorts_with_too_few_users_in_all_is_no_figure(client, lead, project):
    """A cohort of 20 against the two before it, of 1 and 2 users: pooled as the chart's curves pool cohorts, the
    mean stands on 3 users, too few for a rate (the chart draws none), so the cohort is not compared with it; the
    stored comparison is unchanged. With 5 users in those cohorts it is compared again."""
    created_weeks_ago(project, 12)
    week = current_week(project) - timedelta(weeks=1)
    store(project, "all", week - timedelta(weeks=3), 1, [1, 1])
    store(project, "all", week - timedelta(weeks=2), 2, [2, 2])
    store(project, "all", week - timedelta(weeks=1), 20, [20, 5])
    client.force_login(lead)
    url = reverse("labeling:meeting-week", args=[project.slug, week_label(week)])

    def comparison_detail():
        return next(tile for tile in client.get(url).context["tiles"] if tile["key"] == "retention-comparison")[
            "detail"
        ]

    assert comparison_detail().endswith(
        " · Not compared with the mean of the last 2 cohorts, too few users (3 of 3 users)."
    )
    past = build_report(project=project, week=week, status="open")["headline"]["retention_week1"]["comparison"]["past"]
    assert (past["rate"], past["users"], past["verdict"]) == (1.0, 3, "below")
    text = report_markdown(build_report(project=project, week=week, status="open"), [])
    assert "Not compared with the mean of the last 2 cohorts, too few users (3 of 3 users)." in text

    store(project, "all", week - timedelta(weeks=4), MIN_USERS - 3, [MIN_USERS - 3, 0])
    assert "Below the mean of the last 3 cohorts" in comparison_detail()
