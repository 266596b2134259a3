"""The dashboard's weeks: its default range is the project's own, and a week whose figures are not final (running,
over but not closed, before the project) says so instead of showing zeros as if a close had counted them."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from labeling.models import CycleStatus, Item, Label, QualityMetric, Queue, QueueWeek, ReviewCycle, week_label
from labeling.rules.calendar import current_week, cycle_week, week_start
from labeling.services.cycles import due_weeks
from tests.factories import OutputFactory, created_weeks_ago

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


@pytest.fixture
def backdated_work(project, rubric, expert, other_expert, last_week):
    """A project created this week whose outputs were sent with last week's dates: 3 items, 4 labels, no close."""
    queue = Queue.objects.create(project=project, slug="sample", name="Sample", overlap=2)
    items = [
        Item.objects.create(
            project=project, queue=queue, output=OutputFactory(project=project), week=last_week, overlap=2
        )  # fmt: skip
        for _ in range(3)
    ]
    for item, experts in zip(items, [(expert, other_expert), (expert,), (other_expert,)], strict=True):
        for who in experts:
            Label.objects.create(item=item, expert=who, rubric=rubric, answers={"correct": True})
    return queue


def rows_of(html: str) -> dict[str, str]:
    table = html.split('class="grid throughput-table"')[1].split("</table>")[0]
    return {row.split('"')[0]: row for row in table.split('<tr data-week="')[1:]}


def test_a_new_projects_dashboard_starts_at_its_first_week_and_marks_the_weeks_not_closed(
    lead_client, project, backdated_work, this_week, last_week
):
    for week in (last_week, this_week):  # as a refresh stores them: provisional until the week's close
        QualityMetric.objects.create(project=project, week=week, queue=backdated_work, question="correct",
                                     kind="binary", n=3, passes=2, value=2 / 3)  # fmt: skip

    response = lead_client.get(reverse("labeling:dashboard", args=[project.slug]))

    assert response.status_code == 200
    assert [row["week"] for row in response.context["throughput"]] == [week_label(last_week), week_label(this_week)]
    assert (response.context["first_label"], response.context["last_label"]) == (
        week_label(last_week), week_label(this_week)
    )  # fmt: skip
    rows = rows_of(response.content.decode())
    assert "not closed" in rows[week_label(last_week)] and "running" in rows[week_label(this_week)]
    # No refresh stored its figures: a dash, not the zeros of a week a close counted.
    assert '<td class="num">0</td>' not in rows[week_label(last_week)]
    chart = str(response.context["quality_chart"])
    assert chart.count("<circle") == 2 and chart.count("<tr>") == 3  # the project's two weeks on the axis, not twelve
    assert "2/3 passed · not closed" in chart and "2/3 passed · running" in chart


def test_an_explicit_range_is_kept_and_each_week_says_what_its_figures_are(
    lead_client, project, backdated_work, this_week, last_week
):
    two_weeks_ago = last_week - timedelta(weeks=1)
    ReviewCycle.objects.create(project=project, week=last_week, status=CycleStatus.CLOSED)
    QueueWeek.objects.create(project=project, week=last_week, queue=backdated_work, items=3, items_complete=1,
                             labels_wanted=6, labels=4, backlog=2)  # fmt: skip

    response = lead_client.get(
        reverse("labeling:dashboard", args=[project.slug]), {"from": week_label(last_week - timedelta(weeks=3))}
    )

    assert response.status_code == 200
    assert len(response.context["throughput"]) == 5
    rows = rows_of(response.content.decode())
    assert "before the project" in rows[week_label(two_weeks_ago)]
    closed = rows[week_label(last_week)]
    assert '<td class="num">4</td>' in closed and "not closed" not in closed and "running" not in closed


def test_the_quality_chart_starts_at_the_first_week_with_a_figure_the_range_and_retention_keep_theirs(
    lead_client, project, backdated_work, this_week, last_week
):
    """A product adopted with its history: outputs from weeks before its experts labeled. The range (and the charts
    that read those weeks, end users' retention among them) keeps the asked weeks; the pass-rate chart starts at the
    first week with a pass rate instead of opening on weeks it has nothing to draw for."""
    first = last_week - timedelta(weeks=3)
    QualityMetric.objects.create(project=project, week=last_week, queue=backdated_work, question="correct",
                                 kind="binary", n=3, passes=2, value=2 / 3)  # fmt: skip

    response = lead_client.get(reverse("labeling:dashboard", args=[project.slug]), {"from": week_label(first)})

    assert response.status_code == 200
    assert response.context["first_label"] == week_label(first) and len(response.context["throughput"]) == 5
    chart = str(response.context["quality_chart"])
    weeks_drawn = [row.split("<td>")[1].split("<")[0] for row in chart.split("<tr>")[2:]]
    assert weeks_drawn == [week_label(last_week), week_label(this_week)]


def test_a_week_the_weekly_close_left_open_says_so_and_who_can_close_it(client, project, lead, expert, this_week):
    """Created five weeks ago, its first close three weeks ago (beat closes only the weeks after the latest closed one):
    the two weeks before are left open for good, not "not counted yet"; a lead gets a link to close each on its
    meeting page, an expert is told who can. The weeks after the close are still the weekly close's to count."""
    created_weeks_ago(project, 5)
    weeks = {n: this_week - timedelta(weeks=n) for n in range(1, 6)}
    ReviewCycle.objects.create(project=project, week=weeks[3], status=CycleStatus.CLOSED)
    client.force_login(lead)

    rows = rows_of(client.get(reverse("labeling:dashboard", args=[project.slug])).content.decode())

    for n in (5, 4):
        row, meeting = (
            rows[week_label(weeks[n])],
            reverse("labeling:meeting-week", args=[project.slug, week_label(weeks[n])]),
        )
        assert "never closed, and the weekly close will not close it" in row and "not counted yet" not in row
        assert "(it closes only the weeks after the latest closed one)" in row
        assert (
            f'href="{meeting}#close-week">close it</a>' in row
            and f'href="{meeting}#close-week">its meeting page' in row
        )
    for n in (2, 1):
        row = rows[week_label(weeks[n])]
        assert (
            "not counted yet: the weekly close counts it when it closes the week" in row and "close it</a>" not in row
        )

    client.force_login(expert)
    rows = rows_of(client.get(reverse("labeling:dashboard", args=[project.slug])).content.decode())
    row = rows[week_label(weeks[4])]
    assert "a lead or admin of the project can close it from its meeting page" in row and "#close-week" not in row


def test_the_meeting_page_of_a_week_left_open_does_not_promise_a_close(client, project, lead, expert, this_week):
    """Its first close three weeks ago: the week before it says it was never closed and who can close it; the week
    after it, still the weekly close's, is "not closed yet"."""
    created_weeks_ago(project, 5)
    ReviewCycle.objects.create(project=project, week=this_week - timedelta(weeks=3), status=CycleStatus.CLOSED)

    def note(user, weeks_ago: int) -> str:
        client.force_login(user)
        week = week_label(this_week - timedelta(weeks=weeks_ago))
        html = client.get(reverse("labeling:meeting-week", args=[project.slug, week])).content.decode()
        return html.split('id="live-note">')[1].split("</p>")[0]

    assert "was never closed, and the weekly close will not close it" in note(lead, 4)
    assert "(it closes only the weeks after the latest closed one)" in note(lead, 4)
    assert "close the week to freeze them" in note(lead, 4) and "not closed yet" not in note(lead, 4)
    assert "a lead or admin of the project can close it" in note(expert, 4)
    assert "not closed yet" in note(lead, 2) and "never closed" not in note(lead, 2)
    assert "a lead or admin" not in note(expert, 2)


def test_a_project_that_never_closed_a_week_says_the_weekly_close_starts_at_the_last_week_that_ended(
    client, project, lead, this_week
):
    """No week closed: beat starts at the last week that ended, so the weeks before it are left open; there is no
    "latest closed one" to name (the pages said it closes only the weeks after it)."""
    created_weeks_ago(project, 5)
    client.force_login(lead)

    rows = rows_of(client.get(reverse("labeling:dashboard", args=[project.slug])).content.decode())
    week = week_label(this_week - timedelta(weeks=3))
    meeting = client.get(reverse("labeling:meeting-week", args=[project.slug, week])).content.decode()

    reason = "(the project never closed a week, and it starts at the last one that ended)"
    assert f"the weekly close will not close it {reason}" in rows[week]
    assert f"the weekly close will not close it {reason}" in meeting.split('id="live-note">')[1].split("</p>")[0]
    assert "latest closed one" not in rows[week] + meeting


WEDNESDAY_NOON = datetime(2026, 11, 18, 12, tzinfo=UTC)


def _pin(monkeypatch, at: datetime) -> None:
    monkeypatch.setattr("django.utils.timezone.now", lambda: at)


def test_a_failed_close_of_a_week_before_the_latest_closed_one_is_retried_not_left_open(
    client, project, lead, monkeypatch
):
    """Its close failed, then a later week closed: beat still retries it (`due_weeks`), so neither the meeting page
    nor the dashboard says the weekly close will not close it, beside "It is tried again automatically"."""
    _pin(monkeypatch, WEDNESDAY_NOON)
    created_weeks_ago(project, 5)
    running = current_week(project, WEDNESDAY_NOON)
    failed, closed = running - timedelta(weeks=4), running - timedelta(weeks=3)
    ReviewCycle.objects.create(project=project, week=closed, status=CycleStatus.CLOSED)
    ReviewCycle.objects.create(project=project, week=failed, failure_kind="close", last_error="boom",
                               failed_at=WEDNESDAY_NOON - timedelta(hours=1),
                               next_attempt_at=WEDNESDAY_NOON + timedelta(hours=1))  # fmt: skip
    assert not any(week == failed for _, week in due_weeks(WEDNESDAY_NOON))  # backing off: retried from the hour
    assert (project.pk, failed) in due_weeks(WEDNESDAY_NOON + timedelta(hours=2))
    client.force_login(lead)

    html = client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(failed)])).content.decode()
    rows = rows_of(client.get(reverse("labeling:dashboard", args=[project.slug])).content.decode())

    assert "It is tried again automatically" in html and "will not close it" not in html
    assert "not closed yet" in html.split('id="live-note">')[1].split("</p>")[0]
    assert "not counted yet: the weekly close counts it" in rows[week_label(failed)]
    assert "will not close it" in rows[week_label(running - timedelta(weeks=5))]  # never closed, never failed


def test_within_the_close_grace_the_week_beat_closes_now_is_not_told_left_open(
    client, project, lead, monkeypatch, settings
):
    """A project that never closed a week, an hour into its week with a grace of six hours: the last due week is the
    one before the week that just ended, and beat closes it now (`due_weeks`); neither page says it will not."""
    settings.CYCLE_CLOSE_GRACE_HOURS = 6
    running = current_week(project, WEDNESDAY_NOON)
    now = week_start(project, running) + timedelta(hours=1)
    _pin(monkeypatch, now)
    created_weeks_ago(project, 4)
    due = running - timedelta(weeks=2)
    assert (project.pk, due) in due_weeks(now)
    client.force_login(lead)

    html = client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(due)])).content.decode()
    rows = rows_of(client.get(reverse("labeling:dashboard", args=[project.slug])).content.decode())

    assert "will not close it" not in html and "not closed yet" in html
    assert "not counted yet: the weekly close counts it" in rows[week_label(due)]
    assert "will not close it" in rows[week_label(running - timedelta(weeks=3))]


def test_a_week_before_the_project_holding_none_of_it_offers_no_close_there_as_its_meeting_page_says(
    clear_of_week_start, lead_client, project
):
    """Outputs sent with the dates of the third and the first week before the one the project was created in, none
    with the second's: that one is in the dashboard's range, but holds nothing to close. It offered "close it", to a
    meeting page with no Close button (the week "holds none of its outputs and nothing to review"); now it is a week
    before the project on both, and the weeks of outputs are closed by hand from their pages."""
    created = cycle_week(project, project.created_at)
    third, second, first = (created - timedelta(weeks=n) for n in (3, 2, 1))
    for week in (third, first):
        OutputFactory(project=project, occurred_at=week_start(project, week) + timedelta(hours=12))

    response = lead_client.get(reverse("labeling:dashboard", args=[project.slug]))

    rows = rows_of(response.content.decode())
    assert "close-link" in rows[week_label(third)] and "close-link" in rows[week_label(first)]
    assert "close-link" not in rows[week_label(second)] and "before the project" in rows[week_label(second)]
    for week, closes in ((third, True), (second, False), (first, True)):
        page = lead_client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(week)])).content.decode()
        assert ('id="close-week"' in page, 'id="before-project-note"' in page) == (closes, not closes), week
