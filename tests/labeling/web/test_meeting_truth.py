"""The meeting page tells a lead how much its figures can be trusted: when they were computed and what was saved since,
when a sample is too small to compare with last week, and why a young project has no retention curve yet."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labeling.models import Item, Queue, RetentionCell, ReviewCycle, week_label
from labeling.rules import calendar
from labeling.services import cycles
from tests.factories import created_weeks_ago
from tests.helpers.labeling import label_outputs
from tests.helpers.metrics import store_week

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

AGREE = ({"correct": True}, {"correct": True})


def url(name, project, *args):
    return reverse(f"labeling:{name}", args=[project.slug, *args])


def text_of(html: str, marker: str, end: str = "</p>") -> str:
    """The text after `marker` up to `end`, tags dropped and spaces squeezed."""
    part = html.split(marker)[1].split(end)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part)).strip()


def tile(html: str, key: str) -> str:
    part = html.split(f'data-tile="{key}">')[1].split('<div class="tile"')[0].split("</section>")[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part)).strip()


# 1. Stale figures say so -------------------------------------------------------------------------------------------


def test_a_new_projects_running_week_says_its_figures_leave_out_the_labels_saved_since_they_were_computed(
    client, project, lead, expert, other_expert, rubric
):
    """A new project: the experts saved labels, no refresh had run, and the page showed "Labels done 0 / 0 on 0 items"
    under a note that the figures are "recomputed every hour". It now says how many labels its figures leave out; once
    refreshed it says as of when (in the project's time zone), and counts the labels saved after that."""
    project.time_zone = "Asia/Kolkata"
    project.save(update_fields=["time_zone"])
    week = calendar.current_week(project)
    label_outputs(project, 3, experts=[expert, other_expert], answers=AGREE)
    client.force_login(lead)
    page = url("meeting-week", project, week_label(week))

    html = client.get(page).content.decode()
    stale = text_of(html, 'id="stale-note"')
    assert "6 labels saved this week" in stale and "no finished computation" in stale
    assert "Refresh figures" in stale
    assert "not computed yet" in text_of(html, 'id="live-note"')  # no refresh, no rows: no figures yet

    cycles.refresh_metrics(project=project, week=week)
    html = client.get(page).content.decode()
    assert 'id="stale-note"' not in html
    refreshed_at = ReviewCycle.objects.get(project=project, week=week).figures_refreshed_at
    as_of = f"as of {timezone.localtime(refreshed_at, project.tzinfo):%Y-%m-%d %H:%M}"
    assert as_of in text_of(html, 'id="live-note"')
    assert "6 / 6" in tile(html, "labels")

    label_outputs(project, 1, experts=[expert], answers=({"correct": False},), queue="escalations")
    html = client.get(page).content.decode()
    stale = text_of(html, 'id="stale-note"')
    assert "1 label saved since these figures were computed" in stale and "Refresh figures" in stale

    client.force_login(expert)  # an expert cannot refresh: the page says when they will be counted
    stale = text_of(client.get(page).content.decode(), 'id="stale-note"')
    assert "1 label saved since" in stale and "next hourly refresh" in stale


def test_a_past_week_not_closed_yet_says_what_its_figures_leave_out(
    client, project, lead, expert, other_expert, rubric
):
    created_weeks_ago(project, 3)
    label_outputs(project, 2, experts=[expert, other_expert], answers=AGREE)
    week = calendar.current_week(project)
    refreshed_at = timezone.now() - timedelta(hours=2)
    ReviewCycle.objects.create(project=project, week=week - timedelta(days=7), figures_refreshed_at=refreshed_at)
    # The labels were saved on last week's items after its last refresh.
    Item.objects.filter(project=project).update(week=week - timedelta(days=7))
    client.force_login(lead)

    html = client.get(url("meeting-week", project, week_label(week - timedelta(days=7)))).content.decode()

    assert f"as of {timezone.localtime(refreshed_at, project.tzinfo):%Y-%m-%d %H:%M}" in text_of(html, 'id="live-note"')
    assert "4 labels saved since these figures were computed" in text_of(html, 'id="stale-note"')


# 2. Comparisons on tiny samples ------------------------------------------------------------------------------------


def test_a_change_from_a_week_of_too_few_items_is_not_shown_as_a_change(client, project, lead, rubric):
    """Last week had 2 gold answers (0 passed) and one item with two labels (α 0.000): "+18.8 pts vs last week (0.0%)"
    and "−0.080 vs last week (0.000)" read as news. Below the minimum sample the page says so instead."""
    created_weeks_ago(project, 10)
    queue = Queue.objects.create(project=project, slug="billing", name="Billing", overlap=2)
    week = calendar.current_week(project)
    last_week = week - timedelta(days=7)
    store_week(project, queue, last_week, passes=0, n=2, alpha=0.0, labels=4)
    store_week(project, queue, week, passes=3, n=16, alpha=-0.08, labels=32)
    client.force_login(lead)
    page = url("meeting-week", project, week_label(week))

    html = client.get(page).content.decode()

    for key in ("pass-rate", "alpha"):
        assert "too few items to compare" in tile(html, key) and "vs last week" not in tile(html, key)
    assert "(16 this week, 2 last week)" in tile(html, "pass-rate")
    markdown = client.get(url("meeting-markdown", project, week_label(week))).content.decode()
    assert markdown.count("too few items to compare") == 2 and "+18.8 pts" not in markdown


def test_agreement_on_too_few_items_is_no_figure_and_says_why(client, project, lead, rubric):
    """One item with two labels gave "Agreement 0.000" in the tile, the report and the chart, as if the experts never
    agreed (two labels that agree give no α at all). Under the minimum sample (5 items) the page and the report say the
    items are too few instead of a number; the API keeps the number, flagged (`too_few_items`)."""
    created_weeks_ago(project, 10)
    queue = Queue.objects.create(project=project, slug="billing", name="Billing", overlap=2)
    week = calendar.current_week(project)
    store_week(project, queue, week - timedelta(days=7), passes=5, n=6, alpha=0.5, labels=12)
    store_week(project, queue, week, passes=1, n=1, alpha=0.0, labels=2)
    client.force_login(lead)

    html = client.get(url("meeting-week", project, week_label(week))).content.decode()
    markdown = client.get(url("meeting-markdown", project, week_label(week))).content.decode()

    alpha = tile(html, "alpha")
    assert "α) — correct" in alpha and "0.000" not in alpha
    assert "1 item with two labels or more: too few for an agreement figure (5 needed)" in alpha
    assert "— (1 item: too few for an agreement figure)" in markdown and "0.000 (1 item)" not in markdown
    chart = html.split('data-chart="agreement"')[1].split("</figure>")[0]
    assert '<rect class="bar' not in chart and "too few items" in chart

    dashboard = client.get(url("dashboard", project)).content.decode()
    trend = dashboard.split('data-chart="alpha-trend"')[1].split("</figure>")[0]
    assert trend.count('class="point') == 1 and 'data-value="0.5000"' in trend  # last week's 6 items only
    assert "1 item: too few for an agreement figure" in trend
    bars = dashboard.split('data-chart="agreement"')[1].split("</figure>")[0]
    assert '<rect class="bar' not in bars and "too few items" in bars
    report = client.get(f"/api/v1/cycles/{week_label(week)}/report?project={project.slug}").json()
    assert report["headline"]["alpha"] | {"question": None} == {
        "question": None, "value": 0.0, "units": 1, "too_few_items": True, "previous": 0.5, "change": None,
        "too_few_to_compare": True, "previous_units": 6,
    }  # fmt: skip


def test_the_projects_first_week_is_not_compared_with_the_week_before_it(client, project, lead, expert, rubric):
    """A project created this week: its labels were shown as "+4 vs last week (0)", against a week it did not exist in.
    The first week, running and closed, compares with nothing."""
    label_outputs(project, 4, experts=[expert], answers=({"correct": True},))
    week = calendar.current_week(project)
    cycles.refresh_metrics(project=project, week=week)
    client.force_login(lead)

    html = client.get(url("meeting-week", project, week_label(week))).content.decode()

    for key in ("labels", "pass-rate"):
        assert "first week of the project" in tile(html, key) and "last week" not in tile(html, key)
    assert "4 / 4" in tile(html, "labels")


# 3. Retention of a young project ------------------------------------------------------------------------------------


def store_a_first_cohort_still_running(project):
    """This week's cohort, the project's first: 6 end users, its week still running. Returns the week."""
    week = calendar.current_week(project)
    for segment in ("all", "pass"):
        RetentionCell.objects.create(project=project, segment=segment, cohort_week=week, offset=0, cohort_users=6,
                                     active_on=6, active_on_or_after=6, incomplete=True)  # fmt: skip
    return week


def test_a_first_cohort_still_running_says_when_retention_shows(client, project, lead, rubric):
    """20 outputs from 6 end users this week: the cohort is stored (6 users, its week still running) yet the chart said
    "no end-user activity has been recorded". Curves are made of complete weeks only: it says so, on both pages."""
    week = store_a_first_cohort_still_running(project)
    client.force_login(lead)

    meeting = client.get(url("meeting-week", project, week_label(week))).content.decode()
    dashboard = client.get(url("dashboard", project)).content.decode()

    # The week-1 headline's cohort (last week) came before the first one: no "0 of 0 users", no comparison.
    retention = tile(meeting, "retention")
    assert (
        f"No cohort in {week_label(week - timedelta(days=7))}: the first one ({week_label(week)}, 6 users)" in retention
    )
    assert "0 of 0 users" not in retention and "last week" not in retention
    assert 'data-tile="retention-comparison"' not in meeting
    expected = f"First cohort ({week_label(week)}, 6 users) still running"
    for html in (meeting, dashboard):
        chart = html.split('aria-label="Retention by week since first visit"')[1].split("</figure>")[0]
        assert expected in chart and "no end-user activity" not in chart
    assert (
        "No retention yet: no end-user activity has been recorded."
        in client.get(
            url("dashboard", project),
            {"from": week_label(week - timedelta(days=70)), "to": week_label(week - timedelta(days=63))},
        ).content.decode()
    )


def test_the_markdown_export_says_what_the_page_says_of_a_first_cohort_still_running(client, project, lead, rubric):
    """The meeting page says why a young project has no week-1 retention and no curve yet (its first cohort is still
    running); report.md showed "0 of 0 users" and "No retention figures yet." instead. It says it in the same words."""
    week = store_a_first_cohort_still_running(project)
    client.force_login(lead)

    meeting = client.get(url("meeting-week", project, week_label(week))).content.decode()
    markdown = client.get(url("meeting-markdown", project, week_label(week))).content.decode()

    headline_note = (
        f"No cohort in {week_label(week - timedelta(days=7))}: the first one ({week_label(week)}, 6 users) has its "
        "week-1 retention once the week after it is over."
    )
    curve_note = (
        f"First cohort ({week_label(week)}, 6 users) still running: retention shows once its week is over, week-1 "
        "retention a week later."
    )
    assert headline_note in tile(meeting, "retention") and curve_note in meeting  # the page's words
    headline = markdown.split("## Headline")[1].split("## ")[0]
    assert headline_note in headline and "0 of 0 users" not in headline
    retention = markdown.split("## Retention of end users by verdict")[1].split("## ")[0]
    assert curve_note in retention and "No retention figures yet." not in retention


def test_the_as_of_of_a_refresh_is_when_it_read_the_labels_even_with_a_moment_given(
    client, project, lead, expert, other_expert, rubric
):
    """The demo refreshes with the moment its seed started (`now`): the figures counted the labels saved after it, yet
    the page said they left all 25 out. The "as of" is the wall clock's when the refresh starts reading."""
    week = calendar.current_week(project)
    label_outputs(project, 2, experts=[expert, other_expert], answers=AGREE)
    before = timezone.now()

    cycles.refresh_metrics(project=project, week=week, now=before - timedelta(minutes=10))

    assert ReviewCycle.objects.get(project=project, week=week).figures_refreshed_at >= before
    client.force_login(lead)
    assert 'id="stale-note"' not in client.get(url("meeting-week", project, week_label(week))).content.decode()
