"""The meeting page's "What changed" section and its Markdown: the week's changes, their links to the explore page."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse

from labeling.models import CycleStatus, Output, ReviewCycle, week_label
from labeling.rules import calendar
from labeling.selectors.changes import week_changes
from labeling.services.changes import refresh_week_changes
from tests.helpers.changes import add_events, add_outputs
from tests.helpers.reports import sample_report

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

HOSTILE_MODEL = '<script>alert("x")</script>**bold**'


@pytest.fixture
def week(project):
    return calendar.current_week(project) - timedelta(days=7)


@pytest.fixture
def changed_week(project, week):
    """Four steady weeks of gpt, then a week where a new model answers 40 outputs, 30 of them thumbed down."""
    for offset in range(1, 5):
        add_outputs(project, week - timedelta(weeks=offset), 200, rated=100, down=10)
    add_outputs(project, week, 200, rated=100, down=10)
    new = add_outputs(project, week, 40, rated=40, down=30, model="gpt-next")
    refresh_week_changes(project=project, week=week)
    return {output.external_id for output in new}


def meeting(client, project, week):
    return client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(week)]))


def entries(html: str) -> list[dict]:
    return [
        {name: unescape(value) for name, value in re.findall(r'data-(\w+)="([^"]*)"', match)}
        for match in re.findall(r'<li class="change-entry"([^>]*)>', html)
    ]


def test_the_section_lists_the_changes_biggest_first_with_links_to_their_outputs(
    client, project, lead, week, changed_week
):
    client.force_login(lead)
    html = meeting(client, project, week).content.decode()

    assert 'id="what-changed"' in html
    listed = entries(html)
    assert listed[0] == {"rank": "0", "kind": "new_slice", "dimension": "model", "key": "", "value": "gpt-next",
                         "direction": "up"}  # fmt: skip
    assert ("thumbs_down_share", "overall") in {(entry["kind"], entry["dimension"]) for entry in listed}
    link = unescape(re.search(r'class="change-explore no-print" href="([^"]+)"', html)[1])
    explore = client.get(link)
    assert explore.status_code == 200
    shown = set(re.findall(r'data-output="([^"]+)"', explore.content.decode()))
    assert shown == changed_week  # the new model's 40 outputs of that week, no other


def test_the_thumbs_down_link_opens_the_weeks_thumbed_down_outputs(client, project, lead, week, changed_week):
    client.force_login(lead)
    change = next(c for c in week_changes(project=project, week=week) if c["kind"] == "thumbs_down_share")
    start = week.isoformat()
    end = (week + timedelta(days=6)).isoformat()
    assert change["explore_query"] == f"from={start}&to={end}&feedback=down"
    assert "rose from 10.0% to 28.6% (40 of 140 rated this week, 40 of 400 in the 4 weeks before)" in change["sentence"]


def test_hostile_slice_names_are_inert_on_the_page_and_in_the_markdown(client, project, lead, week):
    for offset in range(1, 5):
        add_outputs(project, week - timedelta(weeks=offset), 200)
    add_outputs(project, week, 200)
    add_outputs(project, week, 40, model=HOSTILE_MODEL)
    refresh_week_changes(project=project, week=week)
    client.force_login(lead)

    html = meeting(client, project, week).content.decode()
    markdown = client.get(reverse("labeling:meeting-markdown", args=[project.slug, week_label(week)])).content.decode()

    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;**bold**" in html
    assert entries(html)[0]["value"] == HOSTILE_MODEL
    assert "<script>" not in markdown and "\\*\\*bold\\*\\*" in markdown
    assert "New: model \\<script\\>" in markdown


def test_a_week_without_changes_says_so(client, project, lead, week):
    for offset in range(0, 5):
        add_outputs(project, week - timedelta(weeks=offset), 200, rated=50, down=5)
    refresh_week_changes(project=project, week=week)
    client.force_login(lead)

    html = meeting(client, project, week).content.decode()

    assert 'class="muted change-empty"' in html and not entries(html)


def test_a_closed_week_shows_the_changes_frozen_in_its_report(client, project, lead, week, changed_week):
    frozen = week_changes(project=project, week=week)[:1]
    report = sample_report(week=week_label(week), week_start=week.isoformat(), changes=frozen)
    ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED, report=report)
    refresh_week_changes(project=project, week=week, now=calendar.week_start(project, week))  # rows gone since
    client.force_login(lead)

    listed = entries(meeting(client, project, week).content.decode())

    assert [(entry["kind"], entry["value"]) for entry in listed] == [("new_slice", "gpt-next")]


def test_a_report_frozen_before_changes_existed_shows_the_empty_state(client, project, lead, week):
    report = sample_report(week=week_label(week), week_start=week.isoformat())
    report.pop("changes", None)
    ReviewCycle.objects.create(project=project, week=week, status=CycleStatus.CLOSED, report=report)
    client.force_login(lead)

    assert 'class="muted change-empty"' in meeting(client, project, week).content.decode()


def test_a_new_models_thumbs_down_rate_reads_against_all_outputs_and_links_to_its_thumbs_down(
    client, project, lead, week
):
    for each in [week - timedelta(weeks=n) for n in range(1, 5)]:
        add_outputs(project, each, 300, rated=200, down=20, model="gpt")
    add_outputs(project, week, 300, rated=200, down=20, model="gpt")
    add_outputs(project, week, 100, rated=80, down=28, model="gpt-next")
    refresh_week_changes(project=project, week=week)
    client.force_login(lead)

    html = client.get(f"/p/{project.slug}/meeting/{week_label(week)}/").content.decode()

    entry = html[html.index('data-kind="new_slice_thumbs_down"') :]
    entry = entry[: entry.index("</li>")]
    assert "Thumbs-down rate of model gpt-next (new this week): 35.0% (28 of 80 rated), against 10.0% of all" in entry
    assert "two-proportion z test" in entry  # the test in words, not its identifier
    link = unescape(re.search(r'href="([^"]*/explore/[^"]*)"', entry).group(1))
    assert "model=gpt-next" in link and "feedback=down" in link
    assert client.get(link).status_code == 200


def test_usage_event_changes_link_to_the_outputs_of_the_end_users_who_had_them_that_week(client, project, lead, week):
    for each in [week - timedelta(weeks=n) for n in range(1, 5)]:
        add_events(project, each, 300)
    add_events(project, week, 300)
    add_events(project, week, 100, name="return_started")  # by end users u0 to u16
    earlier = add_outputs(project, week - timedelta(weeks=1), 5)
    theirs, others = add_outputs(project, week, 5), add_outputs(project, week, 5)
    Output.objects.filter(pk__in=[o.pk for o in earlier + theirs]).update(end_user_id="u3")
    Output.objects.filter(pk__in=[o.pk for o in others]).update(end_user_id="someone-else")
    refresh_week_changes(project=project, week=week)
    client.force_login(lead)

    html = meeting(client, project, week).content.decode()

    # The new event's share, and the volume of all events: each opens u3's outputs of that week, no one else's.
    for row, condition in (('data-dimension="event" data-key="" data-value="return_started"', "event=return_started"),
                           ('data-dimension="events"', "has_event=yes")):  # fmt: skip
        entry = html[html.index(row) :]
        entry = entry[: entry.index("</li>")]
        assert "See their users’ outputs" in entry
        link = unescape(re.search(r'href="([^"]*/explore/[^"]*)"', entry).group(1))
        assert condition in link
        explore = client.get(link)
        assert explore.status_code == 200
        shown = set(re.findall(r'data-output="([^"]+)"', explore.content.decode()))
        assert shown == {output.external_id for output in theirs}
