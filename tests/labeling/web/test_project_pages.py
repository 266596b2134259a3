"""The new-project page and the lead's project settings page.

Creating: staff by default, everyone with PROJECT_CREATORS=everyone, others get a 403 that says why; bad input
re-renders with a 400 beside its field and creates nothing; the creator lands on the new project's page as its
lead. Settings: leads (and admins) only, everyone else a 404 and nothing changes; every change audited.
"""

import os
import re
import subprocess
import sys
import zoneinfo

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils.html import escape

from labeling.models import AuditEvent, Membership, Project, Rubric
from labeling.services.api_keys import create_api_key
from labeling.services.queues import QueueValues, create_queue
from labeling.services.rubric_templates import BY_KEY, SCRATCH
from tests.factories import MembershipFactory, UserFactory
from tests.helpers.forms import form_as_shown, stale_page_after_another_leads_save
from tests.helpers.labeling import make_items
from tests.helpers.processes import ROOT, manage_check

NEW = "/projects/new"


def settings_url(project) -> str:
    return f"/p/{project.slug}/manage/settings/"


def new_project(**overrides) -> dict:
    """What the new-project form posts, filled in as a person would."""
    data = {
        "name": "FAQ bot",
        "slug": "faq-bot",
        "description": "Answers from the help centre.",
        "time_zone": "Europe/Berlin",
        "cycle_weekday": "1",
        "rubric_template": "support-reply",
    }
    return {name: value for name, value in {**data, **overrides}.items() if value is not None}


def project_settings(project, **overrides) -> dict:
    """What the settings form posts: the project as it is, with the overrides."""
    data = {
        "name": project.name,
        "description": project.description,
        "time_zone": project.time_zone,
        "cycle_weekday": str(project.cycle_weekday),
        "experts_can_explore": "on" if project.experts_can_explore else None,
        "raw_retention_days": project.raw_retention_days or "",
    }
    return {name: value for name, value in {**data, **overrides}.items() if value is not None}


@pytest.fixture
def staff(db):
    return UserFactory(username="stella", is_staff=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


# Creating a project ----------------------------------------------------------------------------------------------


def test_staff_create_a_project_from_a_template_and_land_on_its_page_as_lead(staff_client, staff):
    response = staff_client.post(NEW, new_project(), follow=True)

    assert response.redirect_chain == [("/p/faq-bot/", 302)]
    project = Project.objects.get(slug="faq-bot")
    assert (project.name, project.time_zone, project.cycle_weekday) == ("FAQ bot", "Europe/Berlin", 1)
    assert list(Membership.objects.filter(project=project).values_list("user__username", "role")) == [
        ("stella", "lead")
    ]
    assert Rubric.objects.get(project=project).questions == BY_KEY["support-reply"].questions
    assert AuditEvent.objects.get(project=project, action="project.created").actor == staff
    page = response.content.decode()
    assert "you are its lead" in page and "Getting started" in page and "/p/faq-bot/keys/" in page


def test_from_scratch_the_rubric_is_one_verdict_question(staff_client):
    staff_client.post(NEW, new_project(rubric_template=SCRATCH))

    assert [q["key"] for q in Rubric.objects.get(project__slug="faq-bot").questions] == ["verdict"]


def test_the_page_shows_every_template_with_its_questions(staff_client):
    response = staff_client.get(NEW)

    page = response.content.decode()
    assert response.status_code == 200
    for template in BY_KEY.values():
        assert template.title in page
        assert all(escape(question["prompt"]) in page for question in template.questions)
    assert "From scratch" in page and "Europe/Berlin" in page


def test_with_project_creators_everyone_any_signed_in_user_may_create(client, settings, db):
    settings.PROJECT_CREATORS = "everyone"
    client.force_login(UserFactory(username="pat"))

    assert client.get("/").content.decode().count("/projects/new") >= 1
    assert client.post(NEW, new_project()).status_code == 302
    assert Membership.objects.get(project__slug="faq-bot").user.username == "pat"


def test_an_operator_who_is_not_staff_may_create(client, db):
    """PROJECT_CREATORS=staff (the default) admits operators too: they run every project anyway."""
    operator = UserFactory(username="olga")
    operator.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))
    client.force_login(operator)

    assert "/projects/new" in client.get("/").content.decode()
    assert client.get(NEW).status_code == 200
    response = client.post(NEW, new_project())
    assert response.status_code == 302
    assert Membership.objects.get(project__slug="faq-bot").user == operator
    assert "/projects/new" in client.get(response["Location"]).content.decode()  # the project page offers it too


def test_a_user_who_may_not_create_gets_a_403_that_says_why_and_nothing_is_created(client, db):
    client.force_login(UserFactory(username="pat"))

    for response in (client.get(NEW), client.post(NEW, new_project())):
        assert response.status_code == 403
        assert "Only operators and staff may create projects" in response.content.decode()
    assert not Project.objects.exists()
    assert "/projects/new" not in client.get("/").content.decode()


def test_the_page_needs_a_signed_in_user(client, db):
    response = client.get(NEW)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/")


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"slug": "support-bot"}, "slug", "slug &#x27;support-bot&#x27; exists already"),
        ({"slug": "FAQ Bot"}, "slug", "Use lowercase letters, digits and hyphens"),
        ({"slug": "-faq"}, "slug", "Use lowercase letters, digits and hyphens"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Mars/Olympus is not a known IANA time zone"),
        ({"cycle_weekday": "9"}, "cycle_weekday", "Select a valid choice"),
        ({"rubric_template": "poetry"}, "rubric_template", "Select a valid choice"),
        ({"name": ""}, "name", "This field is required"),
        ({"name": "a\x00b"}, "name", "Null characters are not allowed"),
        ({"name": "!!!", "slug": ""}, "slug", "Choose a slug: the name has no letters or digits"),
        ({"name": "Support bot", "slug": ""}, "slug", "slug &#x27;support-bot&#x27; exists already"),
    ],
)
def test_bad_input_is_shown_beside_its_field_and_creates_nothing(staff_client, project, overrides, field, message):
    response = staff_client.post(NEW, new_project(**overrides))

    assert response.status_code == 400
    page = response.content.decode()
    assert "The project was not created" in page
    field_html = page[page.index(f'id="field-{field}"') :]
    assert message in field_html[: field_html.index("</fieldset>" if field == "rubric_template" else "</div>")]
    assert list(Project.objects.values_list("slug", flat=True)) == ["support-bot"]
    assert not Rubric.objects.exists()


def test_a_slug_left_blank_is_made_from_the_name_as_the_pages_script_would(staff_client, staff):
    """Without projects.js (or before it ran), the server suggests what the script would have."""
    response = staff_client.post(NEW, new_project(name="Réfund  Assistant_v2 (EU)!", slug=""))

    assert response.status_code == 302
    assert Project.objects.filter(slug="refund-assistant-v2-eu").exists()


def test_a_slug_left_blank_for_a_name_without_latin_letters_is_generated_and_the_name_kept(staff_client):
    """ "サポート" was refused: "the name has no letters or digits" (it has, just no Latin ones)."""
    first = staff_client.post(NEW, new_project(name="サポート", slug=""))
    again = staff_client.post(NEW, new_project(name="サポート", slug=""))  # the form posted twice: the same project
    other = staff_client.post(NEW, new_project(name="Поддержка", slug=""))

    assert (first.status_code, first.headers["Location"]) == (302, "/p/project-1/")
    assert again.status_code == 302 and again.headers["Location"] == "/p/project-1/"
    assert other.headers["Location"] == "/p/project-2/"
    assert list(Project.objects.order_by("slug").values_list("slug", "name")) == [
        ("project-1", "サポート"), ("project-2", "Поддержка"),
    ]  # fmt: skip
    assert "<code>project-1</code>" in staff_client.get("/p/project-1/manage/settings/").content.decode()


def test_two_projects_of_one_name_without_latin_letters_made_moments_apart_get_slugs_of_their_own(staff_client):
    """Two teams' "Отзывы" (reviews) a minute apart: the second was refused, "A project with slug 'project-1' exists
    already", over a slug nobody typed; only the same form posted again is the same project."""
    support = staff_client.post(NEW, new_project(name="Отзывы", slug="", description="Support's reviews"))
    sales = staff_client.post(NEW, new_project(name="Отзывы", slug="", description="Sales' reviews"))
    again = staff_client.post(NEW, new_project(name="Отзывы", slug="", description="Sales' reviews"))  # posted twice
    rating = staff_client.post(NEW, new_project(name="評価", slug=""))
    other_rating = staff_client.post(NEW, new_project(name="評価", slug="", time_zone="Asia/Tokyo"))

    assert [response.status_code for response in (support, sales, again, rating, other_rating)] == [302] * 5
    assert [response.headers["Location"] for response in (support, sales, again, rating, other_rating)] == [
        "/p/project-1/", "/p/project-2/", "/p/project-2/", "/p/project-3/", "/p/project-4/",
    ]  # fmt: skip
    assert list(Project.objects.order_by("slug").values_list("slug", "name", "description")) == [
        ("project-1", "Отзывы", "Support's reviews"), ("project-2", "Отзывы", "Sales' reviews"),
        ("project-3", "評価", "Answers from the help centre."), ("project-4", "評価", "Answers from the help centre."),
    ]  # fmt: skip


def test_the_new_project_form_is_protected_against_csrf(staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)

    assert client.post(NEW, new_project()).status_code == 403
    assert not Project.objects.exists()


def test_home_offers_a_new_project_to_staff_and_says_how_to_get_one_when_empty(client, staff):
    client.force_login(staff)
    page = client.get("/").content.decode()
    assert 'href="/projects/new"' in page and "create a project of your own" in page

    client.force_login(UserFactory(username="pat"))
    page = client.get("/").content.decode()
    assert 'href="/projects/new"' not in page
    assert "Ask a project's lead to invite you" in page


@pytest.mark.parametrize("value", ["admins", "Staff-only", "1"])
def test_a_bad_project_creators_value_stops_the_server_at_start(value):
    result = manage_check(SECRET_KEY="s3cret", PROJECT_CREATORS=value)

    assert result.returncode != 0
    assert "PROJECT_CREATORS=" in result.stderr and "must be staff or everyone" in result.stderr


# The settings page -----------------------------------------------------------------------------------------------


def test_a_lead_edits_the_settings_and_the_change_is_audited(lead_client, project, lead):
    response = lead_client.post(
        settings_url(project),
        project_settings(
            project,
            name="Support assistant",
            time_zone="Europe/Berlin",
            experts_can_explore=None,
            raw_retention_days="30",
        ),
    )

    assert response.status_code == 302 and response.headers["Location"] == settings_url(project)
    project.refresh_from_db()
    assert (project.name, project.time_zone, project.experts_can_explore, project.raw_retention_days) == (
        "Support assistant",
        "Europe/Berlin",
        False,
        30,
    )
    event = AuditEvent.objects.get(project=project, action="project.settings_changed")
    assert event.actor == lead
    assert event.details["changes"]["time_zone"] == {"before": "UTC", "after": "Europe/Berlin"}
    assert set(event.details["changes"]) == {"name", "time_zone", "experts_can_explore", "raw_retention_days"}
    assert "Settings saved." in lead_client.get(settings_url(project)).content.decode()


def test_the_settings_tab_shows_the_slug_and_when_the_running_week_ends_in_the_projects_zone(lead_client, project):
    project.time_zone = "Asia/Tokyo"
    project.save()

    page = lead_client.get(settings_url(project)).content.decode()

    assert 'aria-current="page">Settings</a>' in page
    assert "<code>support-bot</code>" in page and 'name="slug"' not in page
    assert "00:00 (Asia/Tokyo)" in page
    # Every zone this server knows is an option, the project's selected (one template renders them all).
    options = re.findall(r'<option value="([^"]+)"( selected)?>\1</option>', page)
    assert sorted(zone for zone, _ in options) == sorted(zoneinfo.available_timezones())
    assert [zone for zone, selected in options if selected] == ["Asia/Tokyo"]


def test_a_week_start_change_once_items_are_queued_is_refused_beside_the_field(lead_client, project):
    create_queue(project=project, values=QueueValues(slug="all", name="All"))
    make_items(project, 1)

    response = lead_client.post(settings_url(project), project_settings(project, cycle_weekday="3"))

    assert response.status_code == 400
    page = response.content.decode()
    field_html = page[page.index('id="field-cycle_weekday"') :]
    field_html = field_html[: field_html.index("</div>")]
    assert "week start can no longer change" in field_html
    project.refresh_from_db()
    assert project.cycle_weekday == 0
    assert not AuditEvent.objects.filter(action="project.settings_changed").exists()


def weekday_field(page: str) -> str:
    """The week start field's HTML on the settings page."""
    field_html = page[page.index('id="field-cycle_weekday"') :]
    return field_html[: field_html.index("</div>")]


def test_the_week_start_is_shown_fixed_with_why_once_weeks_are_counted(lead_client, project):
    """Once items are queued the week start cannot change: the page shows the select disabled with the reason beside
    it, rather than an enabled select whose every other choice is refused."""
    assert "disabled" not in weekday_field(lead_client.get(settings_url(project)).content.decode())
    create_queue(project=project, values=QueueValues(slug="all", name="All"))
    make_items(project, 1)

    field_html = weekday_field(lead_client.get(settings_url(project)).content.decode())

    assert re.search(r"<select[^>]* disabled", field_html)
    assert '<option value="0" selected>Monday</option>' in field_html
    assert "queued items, quotas and weekly reports are counted in weeks that start on Monday" in field_html


def test_with_the_week_start_fixed_the_other_settings_still_save(lead_client, project):
    """A disabled select is not posted: the form keeps the week start as it is and saves the rest."""
    create_queue(project=project, values=QueueValues(slug="all", name="All"))
    make_items(project, 1)
    posted = form_as_shown(lead_client.get(settings_url(project)).content.decode(), "settings-form")
    assert "cycle_weekday" not in posted

    response = lead_client.post(settings_url(project), {**posted, "name": "Support assistant"})

    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.cycle_weekday) == ("Support assistant", 0)
    event = AuditEvent.objects.get(project=project, action="project.settings_changed")
    assert set(event.details["changes"]) == {"name"}


def test_a_bad_retention_is_a_400_and_nothing_changes(lead_client, project):
    response = lead_client.post(settings_url(project), project_settings(project, name="New", raw_retention_days="0"))

    assert response.status_code == 400
    project.refresh_from_db()
    assert project.name == "Support bot" and project.raw_retention_days is None


def test_an_admin_member_may_edit_the_settings(client, project):
    admin = MembershipFactory(project=project, role="admin", user=UserFactory(username="ada")).user
    client.force_login(admin)

    assert client.post(settings_url(project), project_settings(project, name="Renamed")).status_code == 302


@pytest.mark.parametrize("persona", ["expert", "engineer", "outsider", "other_lead"])
def test_it_validates_ownership(client, project, other_project, persona, request):
    """Experts, engineers, outsiders and another project's lead get a 404, and their POST changes nothing."""
    if persona == "other_lead":
        user = MembershipFactory(project=other_project, role="lead", user=UserFactory(username="olga")).user
    else:
        user = request.getfixturevalue(persona)
    client.force_login(user)

    assert client.get(settings_url(project)).status_code == 404
    assert client.post(settings_url(project), project_settings(project, name="Taken over")).status_code == 404

    project.refresh_from_db()
    assert project.name == "Support bot"
    assert not AuditEvent.objects.filter(action="project.settings_changed").exists()


def test_the_settings_form_is_protected_against_csrf(project, lead):
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)

    assert client.post(settings_url(project), project_settings(project, name="Renamed")).status_code == 403
    project.refresh_from_db()
    assert project.name == "Support bot"


# The demo path ---------------------------------------------------------------------------------------------------

SQLITE_WALK = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils.html import escape
from labeling.models import Membership, Project
user = get_user_model().objects.create_user("stella", is_staff=True)
client = Client()
client.force_login(user)
form = {"name": "FAQ bot", "slug": "faq-bot", "time_zone": "Europe/Berlin", "cycle_weekday": "1",
        "rubric_template": "answer-quality"}
created = client.post("/projects/new", form)
assert created.status_code == 302, created.content[:500]
assert client.post("/projects/new", form)["Location"] == created["Location"]  # the same form again: the first
assert client.post("/projects/new", {**form, "rubric_template": "scratch"}).status_code == 400
settings = {"name": "FAQ", "time_zone": "UTC", "cycle_weekday": "0", "raw_retention_days": "7"}
assert client.post("/p/faq-bot/manage/settings/", settings).status_code == 302
project = Project.objects.get()
assert (project.name, project.cycle_weekday, project.raw_retention_days) == ("FAQ", 0, 7), project
assert Membership.objects.get().role == "lead"
print("sqlite ok")
"""


def test_the_pages_work_on_the_sqlite_demo_database(tmp_path):
    """Without PostgreSQL (the demo's SQLite): create a project, take the same form posted again for it and refuse
    another form's use of its slug, edit its settings."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", SQLITE_WALK], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "sqlite ok" in result.stdout


@pytest.mark.parametrize("page", ["manage/settings/", "manage/members/", "keys/", "manage/audit/", "meeting/"])
def test_a_project_whose_time_zone_tzdata_dropped_shows_its_pages_in_utc(lead_client, project, page):
    """Its weeks fall back to UTC (Project.tzinfo); the pages that show times in the project's zone did not, and
    answered 500 for a name this Python does not know."""
    AuditEvent.objects.create(project=project, action="project.settings_changed", details={"changes": {}})
    create_api_key(project=project, name="app", scopes=["ingest"])
    Project.objects.filter(pk=project.pk).update(time_zone="US/Pacific-New")

    response = lead_client.get(f"/p/{project.slug}/{page}", follow=True)

    assert response.status_code == 200
    assert "It ends  (" not in response.content.decode()  # the settings tab's end of the week, in UTC


def test_a_stale_settings_page_saves_only_the_leads_change_and_keeps_another_leads(lead_client, project, lead):
    """Lead A's settings page, opened before lead B changed the description, saved the old description back (and
    the audit log said A changed it). Now only A's change (the name) is saved; B's description stays."""
    url = settings_url(project)
    page_a = stale_page_after_another_leads_save(
        lead_client, project, url, "settings-form", {"description": "Refunds and returns."}
    )

    response = lead_client.post(url, {**page_a, "name": "Support bot (EU)"})

    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.description) == ("Support bot (EU)", "Refunds and returns.")
    event = AuditEvent.objects.get(action="project.settings_changed", actor=lead)
    assert list(event.details["changes"]) == ["name"]


def test_a_stale_settings_page_changing_what_another_lead_changed_is_refused_naming_it(lead_client, project, lead):
    """Both leads changed the description: A's save is a 400 naming it and its value now; nothing is saved."""
    url = settings_url(project)
    page_a = stale_page_after_another_leads_save(
        lead_client, project, url, "settings-form", {"description": "Refunds and returns."}
    )

    refused = lead_client.post(url, {**page_a, "description": "Shipping.", "name": "Support bot (EU)"})

    assert refused.status_code == 400
    html = refused.content.decode()
    assert "Someone else changed the description to “Refunds and returns.” since this page was opened" in html
    project.refresh_from_db()
    assert (project.name, project.description) == (project.name, "Refunds and returns.")
    assert project.name != "Support bot (EU)"
    assert not AuditEvent.objects.filter(action="project.settings_changed", actor=lead).exists()
