"""The retention reference on the lead's settings page, the retention chart, the meeting page's headline tile and
the Markdown report: typed mistakes shown beside the field, the curve drawn dashed with a legend entry and a
data-table column, its source text inert wherever it is shown."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from statsmodels.stats.proportion import proportion_confint

from labeling.models import AuditEvent, RetentionCell, week_label
from labeling.reports import report_markdown
from labeling.rules.calendar import current_week
from labeling.rules.retention_reference import parse_reference
from labeling.selectors.report import build_report
from labeling.web import charts
from tests.factories import created_weeks_ago

from .test_charts import HOSTILE, SVG, parse, svg_of
from .test_project_pages import project_settings, settings_url

CURVES = {
    key: [{"offset": k, "rate": rate, "returned": round(rate * 20), "users": 20} for k, rate in enumerate(rates)]
    for key, rates in (("all", [1.0, 0.5, 0.4, 0.35, 0.3]), ("pass", [1.0, 0.6]), ("fail", [1.0, 0.3]))
}
REFERENCE = {"points": parse_reference("week 1: 40%, week 4: 25%, week 12: 10%"), "source": "our 2025 app benchmark"}


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


# The chart ---------------------------------------------------------------------------------------------------


def test_the_reference_is_a_dashed_line_with_square_markers_a_legend_entry_and_a_table_column():
    figure = parse(charts.retention_chart(CURVES, reference=REFERENCE))
    svg = svg_of(figure)

    line = svg.find(f".//{SVG}polyline[@class='line reference series-3 series-reference']")
    assert line is not None and line.get("stroke-dasharray")
    markers = svg.findall(f".//{SVG}rect[@data-series='reference']")
    assert [(m.get("data-x"), float(m.get("data-value"))) for m in markers] == [("Week 1", 0.4), ("Week 4", 0.25)]
    # One line from week 1 to week 4 across the weeks the reference leaves out: two points, not a gap.
    assert len(line.get("points").split()) == 2
    # Each marker sits where a curve point of the same value would: same x as week 1's, lower y for 40% than 50%.
    week1_all = svg.find(f".//{SVG}circle[@data-series='all'][@data-x='Week 1']")
    assert float(markers[0].get("x")) + 3.5 == pytest.approx(float(week1_all.get("cx")))
    assert float(markers[0].get("y")) + 3.5 > float(week1_all.get("cy"))
    legend = ["".join(li.itertext()) for li in figure.findall(".//ul/li")]
    assert legend[-1] == "Reference: our 2025 app benchmark (not on this chart: week 12 10%)"
    assert "our 2025 app benchmark" in svg.find(f"{SVG}desc").text
    headers = [th.text for th in figure.findall(".//details/table/thead/tr/th")]
    assert headers[-1] == "Reference: our 2025 app benchmark"
    rows = {row[0].text: [cell.text for cell in row] for row in figure.findall(".//details/table/tbody/tr")}
    assert rows["Week 1"][-1] == "40%" and rows["Week 4"][-1] == "25%" and rows["Week 2"][-1] == "—"
    assert "Week 12" not in rows  # the x axis stays the measured weeks


def test_without_a_reference_the_chart_is_as_it_was():
    # Each chart's id has the next number of a per-process counter, whose digits grow (99 → 100) as tests draw charts.
    def without_ids(chart) -> str:
        return re.sub(r"chart-retention-\d+", "chart-retention-N", str(chart))

    assert without_ids(charts.retention_chart(CURVES, reference=None)) == without_ids(charts.retention_chart(CURVES))
    assert "reference" not in str(charts.retention_chart(CURVES, reference={"points": [], "source": ""}))


def test_a_reference_alone_is_no_retention_data():
    figure = parse(charts.retention_chart({}, reference=REFERENCE))
    assert "chart-empty" in figure.get("class")


def test_a_hostile_source_text_is_inert_in_the_chart():
    markup = str(charts.retention_chart(CURVES, reference={**REFERENCE, "source": HOSTILE}))

    assert "<script>" not in markup and "&lt;script&gt;" in markup
    figure = parse(markup)  # well-formed: no attribute was broken out of
    assert not figure.findall(".//script") and not figure.findall(f".//{SVG}script")
    for element in figure.iter():
        assert not any(name.startswith("on") for name in element.attrib), element.attrib
    assert HOSTILE in "".join(figure.itertext())


# The meeting page, the dashboard and the Markdown ------------------------------------------------------------


def store_cohorts(project, week, cohorts):
    """Offset 0 and 1 cells of segment "all": (weeks before `week`, users, returned in week 1)."""
    RetentionCell.objects.bulk_create(
        RetentionCell(
            project=project, segment="all", cohort_week=week - timedelta(weeks=age), offset=offset,
            cohort_users=users, active_on=active, active_on_or_after=active,
            incomplete=week - timedelta(weeks=age - offset) > week,  # stored after the week ended
        )
        for age, users, returned in cohorts
        for offset, active in ((0, users), (1, returned))
    )  # fmt: skip


def interval_text(returned: int, users: int) -> str:
    low, high = proportion_confint(returned, users, method="wilson")
    return f"95% interval {low * 100:.1f}%–{high * 100:.1f}%"


@pytest.fixture
def with_reference(clear_of_week_start, project):
    project.retention_reference = parse_reference("week 1: 40%, week 4: 25%")
    project.retention_reference_source = HOSTILE
    project.save()
    week = current_week(project) - timedelta(weeks=1)
    store_cohorts(project, week, [(1, 60, 12), *((age, 50, 17) for age in range(2, 10))])
    return week


def test_the_meeting_page_shows_the_comparison_tile_and_the_reference_on_the_chart(
    lead_client, project, with_reference
):
    response = lead_client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(with_reference)]))

    assert response.status_code == 200
    tile = next(tile for tile in response.context["tiles"] if tile["key"] == "retention-comparison")
    assert (tile["label"], tile["value"]) == ("Week-1 retention vs reference", "20.0%")
    assert f"12 of 60 users · {interval_text(12, 60)}" in tile["detail"]
    assert f"Below the reference 40.0% ({HOSTILE})." in tile["detail"]
    assert (
        f"Below the mean of the last 8 cohorts, 34.0% (136 of 400 users, {interval_text(136, 400)})." in tile["detail"]
    )
    html = response.content.decode()
    assert 'data-tile="retention-comparison"' in html and 'data-series="reference"' in html
    assert "<script>" not in html.split("<main")[-1] and "&lt;script&gt;" in html


def test_the_dashboards_chart_draws_the_projects_reference(lead_client, project, with_reference):
    created_weeks_ago(project, 12)  # its cohorts are of its own weeks, which the dashboard's default range holds
    response = lead_client.get(reverse("labeling:dashboard", args=[project.slug]))

    assert response.status_code == 200
    assert 'data-series="reference"' in str(response.context["retention_chart"])


def test_the_markdown_report_has_the_comparison_and_a_reference_column_with_inert_source(project, with_reference):
    text = report_markdown(build_report(project=project, week=with_reference, status="open"), [])

    row = next(line for line in text.splitlines() if line.startswith("| Week-1 retention vs reference"))
    assert f"20.0% (12 of 60 users); {interval_text(12, 60)}. Below the reference 40.0% (" in row
    assert f"Below the mean of the last 8 cohorts, 34.0% (136 of 400 users, {interval_text(136, 400)})." in row
    assert "<script>" not in text and r"\<script\>" in text
    table = text[text.index("## Retention of end users by verdict") : text.index("## What changed")]
    assert "| Since first visit | All users | Outputs labeled pass | Outputs labeled fail | Reference |" in table
    assert "| Week 1 |" in table and table.split("| Week 1 |")[1].splitlines()[0].rstrip().endswith("| 40.0% |")
    assert "also week 4 25.0%." in table


def test_a_report_without_a_reference_has_the_markdown_it_had(clear_of_week_start, project):
    week = current_week(project) - timedelta(weeks=1)
    store_cohorts(project, week, [(1, 60, 12), (2, 50, 17)])
    text = report_markdown(build_report(project=project, week=week, status="open"), [])

    assert "| Reference |" not in text and "Reference:" not in text
    assert "| Week-1 retention vs last cohorts" in text  # the mean of the last cohorts is still compared
    assert "Not compared" not in text


# The settings page -------------------------------------------------------------------------------------------


def test_a_lead_sets_the_reference_and_the_change_is_audited(lead_client, project, lead):
    response = lead_client.post(
        settings_url(project),
        project_settings(
            project, retention_reference="Week 4: 25 %; week 1: 40%", retention_reference_source=" our benchmark "
        ),
    )

    assert response.status_code == 302
    project.refresh_from_db()
    assert project.retention_reference == [{"week": 1, "rate": 0.4}, {"week": 4, "rate": 0.25}]
    assert project.retention_reference_source == "our benchmark"
    event = AuditEvent.objects.get(project=project, action="project.settings_changed")
    assert event.actor == lead
    assert event.details["changes"] == {
        "retention_reference": {"before": "", "after": "week 1: 40%, week 4: 25%"},
        "retention_reference_source": {"before": "", "after": "our benchmark"},
    }
    page = lead_client.get(settings_url(project)).content.decode()
    assert 'value="week 1: 40%, week 4: 25%"' in page and 'value="our benchmark"' in page


@pytest.mark.parametrize(
    "curve, source, field, message",
    [
        ("week 1 40%", "src", "retention_reference", "is not a point of the curve"),
        ("week 60: 10%", "src", "retention_reference", "Week 60 is out of range: use weeks 1 to 52"),
        ("week 1: 140%", "src", "retention_reference", "Week 1: 140% is outside 0–100%"),
        ("week 1: 40%, week 1: 30%", "src", "retention_reference", "Week 1 is given twice"),
        ("week 1: 40%", "", "retention_reference_source", "Say where the curve comes from"),
        ("", "src", "retention_reference_source", "A source without a curve"),
    ],
)
def test_a_bad_reference_is_shown_beside_its_field_and_nothing_changes(
    lead_client, project, curve, source, field, message
):
    response = lead_client.post(
        settings_url(project),
        project_settings(project, name="Renamed", retention_reference=curve, retention_reference_source=source),
    )

    assert response.status_code == 400
    page = response.content.decode()
    field_html = page[page.index(f'id="field-{field}"') :]
    field_html = field_html[: field_html.index("</div>")]
    assert message in field_html and 'class="error"' in field_html
    project.refresh_from_db()
    assert (project.name, project.retention_reference, project.retention_reference_source) == ("Support bot", [], "")
    assert not AuditEvent.objects.filter(action="project.settings_changed").exists()
