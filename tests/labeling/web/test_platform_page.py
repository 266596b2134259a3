"""The platform page: every project's stored weekly figures side by side, for operators only, sortable, and read in
a fixed number of queries whatever the number of projects."""

import re
import zoneinfo
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labeling.metrics.quality import wilson_interval
from labeling.models import (
    AgreementMetric,
    Alert,
    AlertRule,
    AlertState,
    CycleStatus,
    Project,
    ProjectWeek,
    Queue,
    ReviewCycle,
    week_label,
)
from labeling.rules.calendar import current_week
from labeling.rules.weekly_close import close_due_at
from labeling.services.alerts import evaluate_alerts
from tests.factories import ProjectFactory, UserFactory
from tests.helpers.platform import plant_alerts, plant_projects, planted

pytestmark = pytest.mark.django_db


def _rows(html: str) -> dict[str, str]:
    """Each table row's HTML by its project slug."""
    return dict(re.findall(r'<tr data-project="([^"]+)"[^>]*>(.*?)</tr>', html, flags=re.S))


def _cell(row_html: str, column: str) -> str:
    cell = re.search(rf'<t[dh][^>]*data-col="{column}"[^>]*>(.*?)</t[dh]>', row_html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell[1])).strip()


def _order(html: str) -> list[str]:
    return re.findall(r'<tr data-project="([^"]+)"', html)


def test_an_operator_sees_each_projects_planted_figures(client, operator, monkeypatch):
    """Every figure of a row is the stored one: outputs this week and last with their change against the 4 weeks
    before, thumbs-down share, labels done of those wanted (the quota in items), the verdict question's pass rate
    and Wilson interval, alpha, experts, the close, the newest dataset's age and the last 7 days' ingest errors."""
    # One moment for the planting and the page, so no week starts between them. The wall clock's: the dataset's age
    # is told by `timesince`, which reads the real clock, not timezone.now().
    now = timezone.now()
    monkeypatch.setattr("django.utils.timezone.now", lambda: now)
    projects = plant_projects(3)
    client.force_login(operator)

    response = client.get("/platform/")

    assert response.status_code == 200
    html = response.content.decode()
    # The labels column counts labels, its quota items: its header and its figures say so (before: "Labels vs quota").
    assert ">Labels done / wanted</a>" in html and "Labels vs quota" not in html
    rows = _rows(html)
    assert list(rows) == [project.slug for project in projects]
    for i, project in enumerate(projects):
        figures, row = planted(i), rows[project.slug]
        weeks = figures.outputs_by_week
        last, before = weeks[-2], weeks[-6:-2]
        assert _cell(row, "outputs_last").startswith(str(last))
        change = round((last / (sum(before) / 4) - 1) * 100)
        assert f"+{change}%" in _cell(row, "outputs_last")
        assert _cell(row, "outputs").startswith(str(figures.outputs_this))
        assert _cell(row, "thumbs_down").startswith(f"{round(100 * figures.thumbs_down / figures.rated)}% of 20")
        assert _cell(row, "labels").startswith(f"Main {i:03d} {figures.labels}/{figures.labels_wanted} quota 20 items")
        low, high = wilson_interval(figures.passes, figures.n)
        rate = f"{round(100 * figures.passes / figures.n)}% [{round(100 * low)}–{round(100 * high)}%] n={figures.n}"
        assert _cell(row, "pass_rate").startswith(rate)
        assert _cell(row, "agreement").startswith(f"{figures.alpha:.2f}")
        assert _cell(row, "experts").startswith(str(figures.experts))
        assert _cell(row, "close").startswith("Closed")
        assert _cell(row, "dataset_age").startswith("3 days ago")
        assert _cell(row, "ingest_errors") == str(figures.ingest_errors)
        assert f'href="/p/{project.slug}/meeting/"' in row
        assert "<svg" in _cell_html(row, "trend") and "<polyline" in _cell_html(row, "trend")


def test_an_agreement_over_too_few_items_shows_no_figure(client, operator):
    """Last week's α of a project whose week had 2 items with two labels showed as "0.30", like any other project's; it
    says "too few items" instead (fewer than 5, as on the meeting page), and sorts with the projects that have none."""
    projects = plant_projects(3)
    last_week = current_week(projects[0]) - timedelta(days=7)
    AgreementMetric.objects.filter(project=projects[0], week=last_week).update(units=2)
    client.force_login(operator)

    html = client.get("/platform/").content.decode()

    rows = _rows(html)
    assert _cell(rows[projects[0].slug], "agreement").startswith("too few items")
    assert _cell(rows[projects[1].slug], "agreement").startswith(f"{planted(1).alpha:.2f}")
    ordered = _order(client.get("/platform/?sort=agreement&dir=desc").content.decode())
    assert ordered[-1] == projects[0].slug


def test_a_change_against_too_thin_a_history_shows_no_percentage(client, operator):
    """A brand-new project's only week before this one held one backdated output: this week's outputs read "+2004%"
    against that "mean". With fewer than 2 stored weeks before, or fewer than 30 outputs in them, the page gives no
    percentage and says why; the outputs themselves are shown as stored."""
    new, quiet, steady = plant_projects(3)
    this_week = current_week(new)
    ProjectWeek.objects.filter(project=new, week__lt=this_week - timedelta(days=7)).delete()
    ProjectWeek.objects.filter(project=new, week=this_week - timedelta(days=7)).update(outputs=1)
    ProjectWeek.objects.filter(project=quiet, week__lt=this_week).update(outputs=3)  # 4 weeks of 3: 12 outputs
    client.force_login(operator)

    rows = _rows(client.get("/platform/").content.decode())

    this_new, last_new = _cell(rows[new.slug], "outputs"), _cell(rows[new.slug], "outputs_last")
    assert this_new == f"{planted(0).outputs_this} too little history", this_new
    assert last_new == "1 too little history", last_new  # the project's first stored week: nothing before it
    assert _cell(rows[quiet.slug], "outputs") == f"{planted(1).outputs_this} too few to compare"
    assert "%" in _cell(rows[steady.slug], "outputs") and "%" in _cell(rows[steady.slug], "outputs_last")


def _cell_html(row_html: str, column: str) -> str:
    return re.search(rf'<td[^>]*data-col="{column}"[^>]*>(.*?)</td>', row_html, flags=re.S)[1]


def test_a_failed_and_an_overdue_close_stand_out_in_words_and_colour(client, operator):
    """A close that failed shows "Close failed" with its error; a week over for more than the grace hours plus one
    and still open shows "Close overdue"; both rows are marked for attention and counted above the table."""
    failed, overdue, fine = plant_projects(3)
    last_week = current_week(failed) - timedelta(days=7)
    ReviewCycle.objects.filter(project=failed, week=last_week).update(
        status=CycleStatus.OPEN,
        failure_kind="close",
        last_error="OperationalError: disk full",
        failed_at=timezone.now(),
    )
    ReviewCycle.objects.filter(project=overdue, week=last_week).update(status=CycleStatus.OPEN)
    client.force_login(operator)

    html = client.get("/platform/").content.decode()

    rows = _rows(html)
    assert _cell(rows[failed.slug], "close").startswith("Close failed OperationalError: disk full")
    assert _cell(rows[overdue.slug], "close").startswith("Close overdue")
    assert _cell(rows[fine.slug], "close").startswith("Closed")
    marked = re.findall(r'<tr data-project="([^"]+)" class="needs-attention"', html)
    assert marked == [failed.slug, overdue.slug]
    assert "2 projects with a failed or overdue weekly close." in html


def test_a_failed_close_of_an_older_open_week_stands_out_though_the_last_week_closed(client, operator):
    """Only last week's cycle was read: a close failed three weeks ago (its week still open) showed "Closed" once
    the weeks after it closed. Every open week with a failed close is read, in the same query; the oldest shows."""
    failing, fine = plant_projects(2)
    three_weeks_ago = current_week(failing) - timedelta(days=21)
    for week, error in ((three_weeks_ago, "OperationalError: disk full"), (three_weeks_ago + timedelta(7), "later")):
        ReviewCycle.objects.create(
            project=failing, week=week, failure_kind="close", last_error=error, failed_at=timezone.now()
        )
    client.force_login(operator)

    html = client.get("/platform/").content.decode()

    rows = _rows(html)
    close = _cell(rows[failing.slug], "close")
    assert close.startswith("Close failed (2 weeks; the oldest first) OperationalError: disk full")
    assert f"{week_label(three_weeks_ago)} (week of {three_weeks_ago.day} {three_weeks_ago:%b})" in close
    assert _cell(rows[fine.slug], "close").startswith("Closed")
    assert re.findall(r'<tr data-project="([^"]+)" class="needs-attention"', html) == [failing.slug]


def test_a_week_within_its_grace_is_waiting_not_overdue(client, operator, settings):
    """An open close is overdue only after CYCLE_CLOSE_GRACE_HOURS + 1 h."""
    (project,) = plant_projects(1)
    ReviewCycle.objects.filter(project=project).update(status=CycleStatus.OPEN)
    settings.CYCLE_CLOSE_GRACE_HOURS = 24 * 5
    client.force_login(operator)

    row = _rows(client.get("/platform/").content.decode())[project.slug]

    assert _cell(row, "close").startswith("Closing soon")


@pytest.mark.parametrize("persona", ["lead", "expert", "staff", "outsider"])
def test_only_operators_see_the_platform_pages(client, request, persona):
    """Leads, experts, staff without the permission and anyone else get 404 (the page saying why:
    tests/labeling/web/test_role_refusals.py)."""
    if persona == "staff":
        user = UserFactory(username="stan", is_staff=True)
    else:
        user = request.getfixturevalue(persona)
    client.force_login(user)

    for path in ("/platform/", "/platform/usage/", "/platform/usage/?format=csv"):
        assert client.get(path).status_code == 404, path


def test_the_navigation_links_the_platform_page_for_operators_only(client, operator, lead):
    client.force_login(operator)
    assert b'href="/platform/"' in client.get("/").content
    client.force_login(lead)
    assert b'href="/platform/"' not in client.get("/").content


def _column_values(html: str, column: str) -> list[str]:
    return [_cell(row, column) for row in _rows(html).values()]


SORTED = {
    "project": lambda i: f"P project {i:03d}",
    "outputs": lambda i: planted(i).outputs_this,
    "outputs_last": lambda i: planted(i).outputs_by_week[-2],
    "thumbs_down": lambda i: planted(i).thumbs_down,
    "labels": lambda i: planted(i).labels,
    "pass_rate": lambda i: planted(i).passes / planted(i).n,
    "agreement": lambda i: planted(i).alpha,
    "experts": lambda i: planted(i).experts,
    "ingest_errors": lambda i: planted(i).ingest_errors,
}


@pytest.mark.parametrize("column", [*SORTED, "close", "dataset_age"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_each_column_sorts_the_rows(client, operator, column, direction):
    """`?sort=<column>&dir=<asc|desc>` orders the rows by that column (ties by project name), and its header says
    so with aria-sort and links to the other direction."""
    projects = plant_projects(7)
    last_week = current_week(projects[0]) - timedelta(days=7)
    ReviewCycle.objects.filter(project=projects[4], week=last_week).update(
        status=CycleStatus.OPEN, failure_kind="close", last_error="boom", failed_at=timezone.now()
    )
    ReviewCycle.objects.filter(project=projects[2], week=last_week).update(status=CycleStatus.OPEN)
    client.force_login(operator)

    html = client.get(f"/platform/?sort={column}&dir={direction}").content.decode()

    order = _order(html)
    index = {project.slug: i for i, project in enumerate(projects)}
    if column == "close":
        severity = {4: 2, 2: 1}  # failed, overdue, then the closed ones by name
        key = lambda slug: severity.get(index[slug], 0)  # noqa: E731
    elif column == "dataset_age":
        key = lambda slug: 0  # noqa: E731 — every version is 3 days old: the name decides
    else:
        key = lambda slug: SORTED[column](index[slug])  # noqa: E731
    by_name = sorted(order)
    assert order == sorted(by_name, key=key, reverse=direction == "desc")
    header = re.search(rf'<th scope="col" aria-sort="([a-z]+)" data-sort="{column}"><a href="([^"]+)"', html)
    assert header[1] == ("ascending" if direction == "asc" else "descending")
    assert header[2].endswith(f"sort={column}&amp;dir={'desc' if direction == 'asc' else 'asc'}")


@pytest.mark.parametrize("query", ["sort=password", "dir=sideways", "sort=pass_rate&dir="])
def test_a_bad_sort_is_a_400_naming_it(client, operator, query):
    client.force_login(operator)
    response = client.get(f"/platform/?{query}")
    assert response.status_code == 400
    assert b"sort" in response.content


@pytest.mark.parametrize("count", [3, 30])
def test_the_page_reads_a_fixed_number_of_queries_whatever_the_number_of_projects(
    client, operator, django_assert_num_queries, count
):
    """Session, user, permissions (2), then one query per stored table: projects, usage weeks, queue weeks, rubrics,
    quality, agreement, cycles, dataset versions, ingest errors, alerts. 3 projects or 30: the same 14 queries."""
    for index, project in enumerate(plant_projects(count)):
        plant_alert(project, key="a", acknowledged_by=operator if index % 2 else None)
        plant_alert(project, key="b", state=AlertState.RESOLVED, resolved_at=timezone.now())
    client.force_login(operator)

    with django_assert_num_queries(14):
        response = client.get("/platform/?sort=pass_rate&dir=desc")

    assert len(_rows(response.content.decode())) == count


def test_the_stored_tables_are_read_by_project_id_without_joining_the_projects(client, operator):
    """Every table but the projects' is keyed by `project_id`: the default orderings (by project, so by its slug)
    joined labeling_project into the queries of usage, rubrics, quality, cycles, dataset versions and ingest errors
    for an order the page never used. Only the projects' query and the alerts' (which carry their project) read it."""
    for project in plant_projects(3):
        plant_alert(project, key="a")
    client.force_login(operator)

    with CaptureQueriesContext(connection) as queries:
        client.get("/platform/")

    reading = [query["sql"] for query in queries if '"labeling_project"' in query["sql"]]
    assert [sql.split(" FROM ")[1].split()[0] for sql in reading] == ['"labeling_project"', '"labeling_alert"']


def test_a_year_of_history_and_alerts_as_the_bench_plants_them_changes_no_figure_nor_the_query_count(
    client, operator, django_assert_num_queries
):
    """What bench/platform_page.py measures (--history-weeks 52): the page still reads 14 queries and shows the
    planted figures, the older weeks only stored, not read."""
    projects = plant_projects(8, history_weeks=52)
    planted_alerts = plant_alerts(projects, history_weeks=52)
    client.force_login(operator)

    with django_assert_num_queries(14):
        response = client.get("/platform/?sort=alerts&dir=desc")

    assert ProjectWeek.objects.count() == 8 * 52 and planted_alerts == 2 + 1 + 8 * 12
    rows = _rows(response.content.decode())
    for i, project in enumerate(projects):
        assert _cell(rows[project.slug], "outputs_last").startswith(str(planted(i).outputs_by_week[-2]))
    assert len(re.findall(r'data-alert="\d+"', rows[projects[0].slug])) == 2
    assert _order(response.content.decode())[:2] == [projects[0].slug, projects[4].slug]


def plant_alert(project, *, key: str, state=AlertState.OPEN, **fields) -> Alert:
    if fields.get("acknowledged_by"):
        state, fields["acknowledged_at"] = AlertState.ACKNOWLEDGED, timezone.now()
    return Alert.objects.create(
        project=project,
        rule=AlertRule.QUEUE_IDLE,
        key=key,
        state=state,
        title=f"No labels in {key} <b>for 5 days</b>",
        detail="Its backlog waits.",
        **{name: value for name, value in fields.items() if value is not None},
    )


def test_each_projects_unresolved_alerts_are_in_its_row_and_acknowledged_from_there(client, operator):
    """Open alerts first, then acknowledged ones; resolved ones are not on the platform page; the titles are text.
    Acknowledging one there comes back to the platform page as it was sorted; the rows sort by open alerts."""
    calm, noisy = plant_projects(2)
    acknowledged = plant_alert(noisy, key="old", acknowledged_by=operator)
    opened = plant_alert(noisy, key="new")
    plant_alert(calm, key="gone", state=AlertState.RESOLVED, resolved_at=timezone.now())
    client.force_login(operator)

    html = client.get("/platform/?sort=alerts&dir=desc").content.decode()

    rows = _rows(html)
    assert _order(html) == [noisy.slug, calm.slug]
    assert re.findall(r'data-alert="(\d+)"', rows[noisy.slug]) == [str(opened.pk), str(acknowledged.pk)]
    assert "&lt;b&gt;for 5 days&lt;/b&gt;" in rows[noisy.slug] and "<b>" not in rows[noisy.slug]
    assert _cell(rows[calm.slug], "alerts") == "none"
    assert "1 open alert not yet acknowledged." in html
    assert rows[noisy.slug].count("Acknowledge</button>") == 1

    response = client.post(
        f"/p/{noisy.slug}/alerts/{opened.pk}/acknowledge", {"next": "/platform/?sort=alerts&dir=desc"}
    )

    assert response.status_code == 302 and response["Location"] == "/platform/?sort=alerts&dir=desc"
    opened.refresh_from_db()
    assert opened.state == AlertState.ACKNOWLEDGED and opened.acknowledged_by == operator


def test_acknowledging_never_sends_the_operator_off_the_site(client, operator):
    (project,) = plant_projects(1)
    alert = plant_alert(project, key="q")
    client.force_login(operator)

    response = client.post(f"/p/{project.slug}/alerts/{alert.pk}/acknowledge", {"next": "https://evil.example/"})

    assert response["Location"] == f"/p/{project.slug}/#alerts"


def test_an_operator_reads_any_projects_meeting_page_but_does_not_write_in_it(client, operator):
    """Each row links to the project's meeting page: an operator who is not a member reads it (and its Markdown)
    without the leads' buttons, and cannot close the week nor record a decision."""
    (project,) = plant_projects(1)
    last_week = current_week(project) - timedelta(days=7)
    ReviewCycle.objects.filter(project=project).update(status=CycleStatus.OPEN)
    label = last_week.strftime("%G-W%V")
    client.force_login(operator)

    page = client.get(f"/p/{project.slug}/meeting/", follow=True)

    assert page.status_code == 200 and page.redirect_chain
    assert b"meeting-close" not in page.content and b"/close" not in page.content
    assert client.get(f"/p/{project.slug}/meeting/{label}/report.md").status_code == 200
    assert client.post(f"/p/{project.slug}/meeting/{label}/close").status_code == 404
    assert client.post(f"/p/{project.slug}/meeting/{label}/decisions", {"text": "x"}).status_code == 404


def test_a_project_without_stored_rows_shows_dashes_and_no_ended_week(client, operator):
    """A project created this week has no usage, metrics, dataset nor ended week yet: its row says so, and it
    sorts last by any figure."""
    plant_projects(2)
    newcomer = ProjectFactory(slug="newcomer", name="AAA newcomer")
    client.force_login(operator)

    html = client.get("/platform/?sort=pass_rate&dir=asc").content.decode()

    row = _rows(html)[newcomer.slug]
    for column in ("outputs", "outputs_last", "thumbs_down", "labels", "pass_rate", "agreement", "experts"):
        assert _cell(row, column).startswith("—"), column
    close = _cell(row, "close")
    assert close.startswith("No week ended yet")
    # Not the week that ended before the project began: its own first week, and when that closes.
    running = current_week(newcomer)
    due = timezone.localtime(close_due_at(newcomer, running))  # in the server's zone, as the page's times are
    assert f"week of {running - timedelta(days=7):%-d %b}" not in close
    assert f"First week, {week_label(running)} (week of {running:%-d %b}), closes {due:%Y-%m-%d %H:%M}" in close
    assert _cell(row, "dataset_age") == "none" and _cell(row, "ingest_errors") == "0"
    assert _order(html)[-1] == newcomer.slug


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd"])
def test_a_project_with_an_unknown_time_zone_shows_its_close_in_utc_and_says_so(client, operator, zone):
    """A zone stored before validation (or since dropped from tzdata) made the whole page a 500: the project's weeks
    are now UTC's, and its close cell says the zone is unknown."""
    fine, broken = plant_projects(2)
    Project.objects.filter(pk=broken.pk).update(time_zone=zone)
    client.force_login(operator)

    response = client.get("/platform/?sort=close&dir=desc")

    assert response.status_code == 200
    rows = _rows(response.content.decode())
    assert _cell(rows[broken.slug], "close").startswith("Closed")  # its last week (in UTC) was closed
    assert "unknown time zone" in _cell(rows[broken.slug], "close").lower()
    assert "unknown time zone" not in _cell(rows[fine.slug], "close").lower()


def _this_week(row_html: str, column: str) -> str:
    """The cell's "this week" part, as text."""
    part = _cell_html(row_html, column).split('<div class="this-week">', 1)[1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part)).strip()


def test_a_paused_queue_shows_as_paused_this_week_and_expects_no_labels(client, operator):
    """A paused queue (its Active box unticked) hands out nothing, yet this week showed its labels against those
    wanted and its quota as work still expected. It now says paused with the labels it got; the week's labels wanted
    leave it out. The last (complete) week keeps its figures as they were."""
    paused, running = plant_projects(2)
    Queue.objects.filter(project=paused).update(is_active=False)
    client.force_login(operator)

    html = client.get("/platform/").content.decode()

    rows = _rows(html)
    figures = planted(0)
    this_week = _this_week(rows[paused.slug], "labels")
    assert this_week == f"Main 000 paused {figures.labels} labels"
    assert "quota" not in this_week and f"/{figures.labels_wanted}" not in this_week
    assert _cell(rows[paused.slug], "labels").startswith(
        f"Main 000 {figures.labels}/{figures.labels_wanted} quota 20 items"
    )
    assert (
        _this_week(rows[running.slug], "labels")
        == f"Main 001 {planted(1).labels}/{planted(1).labels_wanted} quota 20 items"
    )


def test_each_row_links_the_projects_meeting_page_and_its_dashboard_which_the_operator_reads(client, operator):
    """The README promised both links on each row; the row linked the meeting page only."""
    [project] = plant_projects(1)
    client.force_login(operator)

    row = _rows(client.get("/platform/").content.decode())[project.slug]

    assert f'href="/p/{project.slug}/meeting/"' in row
    assert f'href="/p/{project.slug}/dashboard/"' in row
    assert client.get(f"/p/{project.slug}/dashboard/").status_code == 200


def test_the_heading_describes_the_table_as_it_is_laid_out(client, operator):
    """The outputs are two columns (this week, last week); every other figure is last week's with this week's below
    it. The heading used to say that of every figure, which the first two columns contradict."""
    plant_projects(1)
    client.force_login(operator)

    html = client.get("/platform/").content.decode()

    heading = re.sub(r"\s+", " ", re.search(r'<div class="page-head">(.*?)</div>', html, flags=re.S)[1])
    assert "Each figure is the last complete week's" not in heading
    assert "Outputs: this week so far and last week, in two columns" in heading
    assert "Every other figure is the last complete week's, with this week so far below it" in heading
    (row,) = _rows(html).values()
    for column in ("outputs", "outputs_last"):
        assert 'class="this-week"' not in _cell_html(row, column)
    for column in ("thumbs_down", "labels", "pass_rate", "agreement", "experts"):
        assert 'class="this-week"' in _cell_html(row, column)


def test_an_alerts_times_are_shown_in_the_zone_of_the_rest_of_the_page(client, operator, settings):
    """A failed close's alert said "opened … CET" beside a detail "last at … UTC": both are now in the page's zone, the
    project's on its page's alert card, the server's in the platform row's tooltip (as that page's close times); the
    stored text (and its e-mail) keep UTC."""
    settings.TIME_ZONE = "America/New_York"
    (project,) = plant_projects(1)
    Project.objects.filter(pk=project.pk).update(time_zone="Europe/Berlin")
    project.refresh_from_db()
    failed_at = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=1)
    ReviewCycle.objects.filter(project=project, failure_kind="").update(
        status=CycleStatus.OPEN, failure_kind="close", last_error="boom", failed_at=failed_at
    )
    (alert,) = evaluate_alerts(project=project).opened
    assert alert.rule == AlertRule.CLOSE_FAILED and f"{failed_at:%Y-%m-%d %H:%M} UTC" in alert.detail
    berlin, new_york = zoneinfo.ZoneInfo("Europe/Berlin"), zoneinfo.ZoneInfo("America/New_York")
    client.force_login(operator)

    card = client.get(f"/p/{project.slug}/").content.decode()
    card = card[card.index(f'data-alert="{alert.pk}"') :]
    card = card[: card.index("</li>")]
    row = _rows(client.get("/platform/").content.decode())[project.slug]

    assert "UTC" not in card and f"last at {timezone.localtime(failed_at, berlin):%Y-%m-%d %H:%M %Z}" in card
    assert f"opened {timezone.localtime(alert.opened_at, berlin):%Y-%m-%d %H:%M %Z}" in card
    assert "UTC" not in row and f"last at {timezone.localtime(failed_at, new_york):%Y-%m-%d %H:%M %Z}" in row


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("since=2026-13-45", "since", "2026-13-45 is not a day of the calendar: the date does not exist."),
        ("since=0900-01-01", "since", "out of range"),
        ("since=2026-06-01&until=2026-01-01", "since", "starts (2026-06-01) after it ends"),
        ("until=tomorrow", "until", "Enter a valid date"),
    ],
)
def test_a_bad_usage_range_keeps_the_form_with_the_error_beside_its_field(client, operator, query, field, message):
    client.force_login(operator)

    response = client.get(f"/platform/usage/?{query}")

    assert response.status_code == 400
    html = response.content.decode()
    form = html[html.index('class="usage-filter"') :]
    form = form[: form.index("</form>")]
    assert 'name="since"' in form and 'name="until"' in form and 'name="project"' in form
    # The error is the field's own, told to screen readers with it (aria-describedby).
    assert re.search(rf'id="id_{field}_error"><li>[^<]*{re.escape(message)}', form)
    assert re.search(rf'name="{field}"[^>]*aria-describedby="id_{field}_error"', form)
    assert "Back to your projects" not in html
