"""Usage per project and week for operators: the page, its CSV and `GET /api/v1/platform/usage` give the same rows."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import ProjectWeek
from labeling.rules.text import figure
from tests.factories import UserFactory
from tests.helpers.platform import TREND, plant_projects, planted

pytestmark = pytest.mark.django_db
URL = "/api/v1/platform/usage"


def _page_rows(html: str) -> list[dict]:
    columns = ("week", "project", "outputs", "events", "storage_bytes", "labels", "expert_hours", "experts_active")
    rows = []
    for body in re.findall(r'<tr data-project="[^"]+" data-week="[^"]+">(.*?)</tr>', html, flags=re.S):
        cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", body, flags=re.S)]
        rows.append(dict(zip((*columns, "ingest_errors"), cells, strict=True)))
    return rows


def _as_text(rows: list[dict]) -> list[dict]:
    return [{name: str(value) for name, value in row.items()} for row in rows]


def _as_shown(rows: list[dict]) -> list[dict]:
    """The rows as the page writes them: counts with their thousands grouped (`rules.text.figure`)."""
    return [{name: figure(value) if isinstance(value, int) else value for name, value in row.items()} for row in rows]


def test_the_api_the_page_and_the_csv_give_the_same_rows(client, operator):
    """The last 12 weeks by default: every stored project week, newest first, then by project."""
    projects = plant_projects(3)
    client.force_login(operator)

    api = client.get(URL)
    page = client.get("/platform/usage/")
    download = client.get("/platform/usage/?format=csv")

    assert api.status_code == page.status_code == download.status_code == 200
    rows = api.json()
    assert len(rows) == 3 * TREND
    assert _as_text(_as_shown(rows)) == _page_rows(page.content.decode())
    table = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert table == _as_text(rows)
    assert download["Content-Disposition"].startswith('attachment; filename="expertloop-usage-')
    newest = rows[0]
    assert newest["project"] == projects[0].slug
    figures = planted(0)
    assert newest["outputs"] == figures.outputs_this
    assert newest["events"] == 2 * figures.outputs_this
    assert newest["storage_bytes"] == 1000 * figures.outputs_this
    assert newest["expert_hours"] == round(60 * figures.labels / 3600, 2)
    assert [row["week"] for row in rows] == sorted((row["week"] for row in rows), reverse=True)


def test_the_csv_has_a_header_row_and_one_row_per_project_week(client, operator):
    plant_projects(2)
    client.force_login(operator)

    lines = b"".join(client.get("/platform/usage/?format=csv").streaming_content).decode().splitlines()

    assert lines[0] == "week,project,outputs,events,storage_bytes,labels,expert_hours,experts_active,ingest_errors"
    assert len(lines) == 1 + 2 * TREND


def test_since_until_and_project_narrow_the_rows(client, operator):
    projects = plant_projects(2)
    weeks = sorted(set(ProjectWeek.objects.values_list("week", flat=True)))
    client.force_login(operator)

    rows = client.get(URL, {"since": weeks[2].isoformat(), "until": weeks[4].isoformat(), "project": projects[1].slug})

    assert [(row["week"], row["project"]) for row in rows.json()] == [
        (week.isoformat(), projects[1].slug) for week in reversed(weeks[2:5])
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "2026-13-01"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": "2026-11-10", "until": "2026-11-01"}, "since"),
        ({"since": "1990-01-01", "until": "2026-01-01"}, "since"),
        ({"project": "not a slug"}, "project"),
    ],
)
def test_bad_parameters_are_a_400_saying_what_is_wrong(client, operator, query, field):
    client.force_login(operator)

    api = client.get(URL, query)
    page = client.get("/platform/usage/", query)

    assert api.status_code == page.status_code == 400
    assert api.json()["errors"][0]["field"] == field
    assert api.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"until": "0001-01-01"}, "until"),  # its default `since`, 12 weeks before, is before year 1
        ({"until": "0001-01-02"}, "until"),
        ({"since": "0001-01-01", "until": "0001-03-01"}, "since"),
        ({"until": "9999-12-31"}, "until"),
        ({"since": "9999-12-25", "until": "9999-12-31"}, "since"),
    ],
)
def test_dates_at_the_edges_of_the_calendar_are_a_400_naming_them(client, operator, query, named):
    """Until 0001-01-02 was a 500 (OverflowError computing the default `since`) on the page, the CSV and the API;
    a date outside the calendar's week years is refused, never computed with."""
    client.force_login(operator)

    api = client.get(URL, query)
    page = client.get("/platform/usage/", query)
    download = client.get("/platform/usage/", {**query, "format": "csv"})

    assert api.status_code == page.status_code == download.status_code == 400
    [error] = api.json()["errors"]
    assert error["field"] == named and f"`{named}`" in error["message"] and "out of range" in error["message"]
    assert "out of range" in page.content.decode()


def test_an_unknown_project_is_a_400_naming_it_from_the_api_and_beside_the_pages_field(client, operator):
    """A slug typed into the page's Project box: the form again with the problem beside the box, not a bare 404; the
    API says the same of its `project` parameter (it was a 404 "No such project.", as if the URL were wrong)."""
    client.force_login(operator)

    api = client.get(URL, {"project": "nope"})
    page = client.get("/platform/usage/", {"project": "nope"})
    download = client.get("/platform/usage/", {"project": "nope", "format": "csv"})

    assert api.status_code == page.status_code == download.status_code == 400
    assert api.json()["errors"] == [{"index": None, "field": "project", "message": "No project 'nope'."}]
    html = page.content.decode()
    form = html[html.index('class="usage-filter"') :]
    form = form[: form.index("</form>")]
    assert re.search(r'id="id_project_error"><li>No project &#x27;nope&#x27;.</li>', form)
    assert 'name="project" value="nope"' in form
    assert "No project &#x27;nope&#x27;." in download.content.decode()


@pytest.mark.parametrize("day", ["2026-13-45", "2026-02-30", "2026-00-10"])
def test_a_date_that_does_not_exist_is_named_as_such_not_as_a_wrong_format(client, operator, day):
    client.force_login(operator)

    api = client.get(URL, {"since": day})
    page = client.get("/platform/usage/", {"since": day})

    assert api.status_code == page.status_code == 400
    [error] = api.json()["errors"]
    assert error["field"] == "since"
    assert error["message"] == f"{day} is not a day of the calendar: the date does not exist."
    assert f"{day} is not a day of the calendar" in page.content.decode()
    assert "wrong format" in client.get(URL, {"since": "26-1-5"}).json()["errors"][0]["message"]


def test_a_csv_of_one_project_names_the_project_in_its_filename(client, operator):
    [project, *_] = plant_projects(2)
    client.force_login(operator)

    one = client.get("/platform/usage/", {"project": project.slug, "format": "csv"})
    every = client.get("/platform/usage/", {"format": "csv"})

    assert re.fullmatch(
        rf'attachment; filename="expertloop-usage-{project.slug}-\d{{4}}-\d\d-\d\d-\d{{4}}-\d\d-\d\d\.csv"',
        one["Content-Disposition"],
    )
    assert re.fullmatch(r'attachment; filename="expertloop-usage-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv"',
                        every["Content-Disposition"])  # fmt: skip


def test_an_unknown_page_format_is_a_400(client, operator):
    client.force_login(operator)
    assert client.get("/platform/usage/?format=xlsx").status_code == 400


@pytest.mark.parametrize("persona", ["lead", "expert", "staff"])
def test_only_operators_read_the_usage_api(client, request, persona):
    user = UserFactory(username="stan", is_staff=True) if persona == "staff" else request.getfixturevalue(persona)
    client.force_login(user)

    response = client.get(URL)

    assert response.status_code == 403
    assert "operators" in response.json()["errors"][0]["message"]


def test_a_revoked_permission_is_refused_at_the_next_request(client, operator):
    """The permission is asked on every request, not remembered from the sign-in."""
    client.force_login(operator)
    assert client.get(URL).status_code == 200
    operator.user_permissions.clear()

    assert client.get(URL).status_code == 403
    assert client.get("/platform/").status_code == 404


def test_the_usage_page_reads_a_fixed_number_of_queries(client, operator, django_assert_num_queries):
    plant_projects(5)
    client.force_login(operator)
    since = (timezone.localdate() - timedelta(days=400)).isoformat()

    # session, user, permissions (2), the projects' time zones (the default `until`), the rows with their projects
    with django_assert_num_queries(6):
        client.get("/platform/usage/", {"since": since})
    with django_assert_num_queries(6):
        client.get(URL, {"since": since})


def test_an_unknown_project_on_the_page_asks_to_correct_the_filter_not_the_range(client, operator):
    client.force_login(operator)

    html = client.get("/platform/usage/", {"project": "nope"}).content.decode()

    assert "No usage shown: correct the filter above." in html and "correct the range" not in html


def test_a_range_in_which_no_week_starts_says_so_rather_than_to_compute_past_weeks(client, operator):
    """Weeks are listed under the day they start on: "since" the 1st of a month whose first week began on the 30th
    shows none of it. The page said to run refresh_usage, which computes nothing more."""
    [project] = plant_projects(1)
    stored = ProjectWeek.objects.filter(project=project).order_by("-week").values_list("week", flat=True)[1]
    client.force_login(operator)

    inside = client.get("/platform/usage/", {"since": stored + timedelta(days=1), "until": stored + timedelta(days=6)})
    empty_weeks = client.get(
        "/platform/usage/", {"since": stored - timedelta(weeks=20), "until": stored - timedelta(weeks=19)}
    )

    assert inside.status_code == empty_weeks.status_code == 200
    html = inside.content.decode()
    assert "No week starts in this range" in html and "refresh_usage" not in html
    assert f"starts on {stored.strftime('%A')}" in html
    assert "Run manage.py refresh_usage to compute past weeks." in empty_weeks.content.decode()
