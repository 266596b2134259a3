"""Projects made and changed without the admin: who may create, the creator becomes lead, the rubric templates,
and a lead's settings (audited; a calendar change never puts the weeks already counted out of step)."""

import re
from datetime import datetime
from unittest.mock import ANY
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission

from labeling.exceptions import Forbidden, InvalidSpec
from labeling.models import AuditEvent, Membership, Project, ReviewCycle, Rubric, Weekday
from labeling.rules.access import check_can_create_project, may_create_projects
from labeling.services.projects import ProjectSettings, create_project, settings_of, update_project_settings
from labeling.services.queues import QueueValues, create_queue
from labeling.services.rubric_templates import SCRATCH, TEMPLATES, first_rubric
from labeling.services.rubrics import validate_questions
from tests.factories import UserFactory
from tests.helpers.labeling import make_items

UTC = ZoneInfo("UTC")
# A Wednesday afternoon in UTC: Berlin and Los Angeles are in the same Monday-to-Sunday week.
MIDWEEK = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
# Monday 00:30 in Berlin is still Sunday in Los Angeles: the two zones are in different weeks.
BERLIN_MONDAY_EARLY = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)


def spec(**overrides) -> dict:
    return {"slug": "faq-bot", "name": "FAQ bot", "rubric": first_rubric("answer-quality"), **overrides}


def changed(project, **overrides) -> ProjectSettings:
    return ProjectSettings(**{**vars(settings_of(project)), **overrides})


# Who may create projects ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting, user_kind, allowed",
    [
        ("staff", "staff", True),
        ("staff", "superuser", True),
        ("staff", "plain", False),
        ("staff", "operator", True),  # not staff: the operator permission alone
        ("everyone", "plain", True),
        ("everyone", "inactive", False),
    ],
)
def test_project_creators_setting_decides_who_may_create(settings, db, setting, user_kind, allowed):
    settings.PROJECT_CREATORS = setting
    user = UserFactory(
        username=f"u-{user_kind}",
        is_staff=user_kind == "staff",
        is_superuser=user_kind == "superuser",
        is_active=user_kind != "inactive",
    )
    if user_kind == "operator":
        user.user_permissions.add(Permission.objects.get(codename="operate_all_projects"))

    assert may_create_projects(user) is allowed
    if allowed:
        check_can_create_project(user)
    else:
        with pytest.raises(Forbidden, match="Only operators and staff may create projects"):
            check_can_create_project(user)


# Creating ----------------------------------------------------------------------------------------------------------


def test_the_creator_becomes_lead_and_the_creation_is_audited(db):
    creator = UserFactory(username="sam", is_staff=True)

    project = create_project(spec=spec(), created_by=creator)

    assert list(Membership.objects.filter(project=project).values_list("user__username", "role")) == [("sam", "lead")]
    event = AuditEvent.objects.get(project=project, action="project.created")
    assert event.actor == creator and event.details == {"slug": "faq-bot", "asked_sha256": ANY}
    assert Rubric.objects.get(project=project).created_by == creator


def test_the_audit_log_tells_the_creation_before_the_first_rubric_made_with_it(db, monkeypatch):
    """At one moment (a project made and its rubric v1 published in one call), the audit log, ordered by time then
    id, tells the project created first: "Published version 1" never comes before "Created the project"."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: MIDWEEK)

    project = create_project(spec=spec(), created_by=UserFactory(is_staff=True))

    events = AuditEvent.objects.filter(project=project).order_by("at", "pk")
    assert [(event.action, event.at) for event in events] == [
        ("project.created", MIDWEEK),
        ("rubric.published", MIDWEEK),
    ]


def test_a_spec_that_names_the_creator_keeps_the_role_it_gives(db):
    creator = UserFactory(username="sam")

    project = create_project(spec=spec(members=[{"username": "sam", "role": "admin"}]), created_by=creator)

    assert list(Membership.objects.filter(project=project).values_list("user__username", "role")) == [("sam", "admin")]


def test_a_taken_slug_is_refused_naming_it_and_nothing_is_written(db):
    create_project(spec=spec())

    with pytest.raises(InvalidSpec, match="slug 'faq-bot' exists already"):
        create_project(spec=spec(name="Another"), created_by=UserFactory(username="sam"))

    assert list(Project.objects.values_list("name", flat=True)) == ["FAQ bot"]
    assert not Membership.objects.exists()


@pytest.mark.parametrize("template", [template.key for template in TEMPLATES] + [SCRATCH])
def test_each_rubric_template_publishes_a_valid_rubric(db, template):
    rubric_part = first_rubric(template)
    assert validate_questions(rubric_part["questions"]) == rubric_part["questions"]

    project = create_project(spec=spec(rubric=rubric_part))

    rubric = Rubric.objects.get(project=project)
    assert rubric.version == 1 and rubric.questions == rubric_part["questions"]
    # Every rubric has a pass/fail verdict: the weekly pass rate is read from a binary question.
    assert any(question["kind"] == "binary" and question.get("required", True) for question in rubric.questions)


def test_scratch_is_one_verdict_question_and_an_unknown_template_is_refused():
    assert first_rubric(SCRATCH) == {
        "questions": [{"key": "verdict", "kind": "binary", "prompt": "Does the output pass?"}],
        "guidelines": "",
    }
    with pytest.raises(InvalidSpec, match="No rubric template 'nope'"):
        first_rubric("nope")


# Settings ---------------------------------------------------------------------------------------------------------


def test_a_lead_changes_settings_and_the_change_is_audited_with_before_and_after(project, lead):
    changes = update_project_settings(
        project=project,
        values=changed(project, name="Support assistant", experts_can_explore=False, raw_retention_days=90),
        changed_by=lead,
    )

    project.refresh_from_db()
    assert (project.name, project.experts_can_explore, project.raw_retention_days) == ("Support assistant", False, 90)
    expected = {
        "name": {"before": "Support bot", "after": "Support assistant"},
        "experts_can_explore": {"before": True, "after": False},
        "raw_retention_days": {"before": None, "after": 90},
    }
    assert changes == expected
    event = AuditEvent.objects.get(project=project, action="project.settings_changed")
    assert event.actor == lead and event.details == {"changes": expected}


def test_saving_unchanged_settings_audits_nothing(project, lead):
    assert update_project_settings(project=project, values=settings_of(project), changed_by=lead) == {}
    assert not AuditEvent.objects.filter(action="project.settings_changed").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"name": "  "}, "needs a name"),
        ({"name": "x" * 201}, "at most 200"),
        ({"description": "a\x00b"}, "NUL"),
        ({"time_zone": "Mars/Olympus"}, "not a known IANA time zone"),
        ({"cycle_weekday": 7}, "day of the week"),
        ({"raw_retention_days": 0}, "1 to 36,500"),
        ({"raw_retention_days": 36_501}, "1 to 36,500"),
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(project, lead, overrides, message):
    with pytest.raises(InvalidSpec, match=message):
        update_project_settings(project=project, values=changed(project, **overrides), changed_by=lead)

    project.refresh_from_db()
    assert (project.name, project.time_zone, project.raw_retention_days) == ("Support bot", "UTC", None)
    assert not AuditEvent.objects.filter(action="project.settings_changed").exists()


def _with_items(project):
    create_queue(project=project, values=QueueValues(slug="all", name="All"))
    make_items(project, 2)


def test_the_week_start_may_change_until_outputs_are_placed(project, lead):
    update_project_settings(project=project, values=changed(project, cycle_weekday=Weekday.WEDNESDAY), changed_by=lead)
    project.refresh_from_db()
    assert project.cycle_weekday == Weekday.WEDNESDAY

    _with_items(project)
    with pytest.raises(InvalidSpec, match="week start can no longer change.*start on Wednesday"):
        update_project_settings(project=project, values=changed(project, cycle_weekday=Weekday.MONDAY), changed_by=lead)

    project.refresh_from_db()
    assert project.cycle_weekday == Weekday.WEDNESDAY


def test_the_week_start_cannot_change_once_a_week_has_a_cycle_even_without_items(project, lead):
    """Beat closes empty weeks too: a closed Monday-based week would overlap the new Wednesday-based ones."""
    ReviewCycle.objects.create(project=project, week=datetime(2026, 11, 23).date(), status="closed")

    wednesday = changed(project, cycle_weekday=Weekday.WEDNESDAY)
    with pytest.raises(InvalidSpec, match="week start can no longer change"):
        update_project_settings(project=project, values=wednesday, changed_by=lead)

    project.refresh_from_db()
    assert project.cycle_weekday == Weekday.MONDAY


def test_a_time_zone_change_within_the_running_week_applies(project, lead):
    _with_items(project)
    project.time_zone = "Europe/Berlin"
    project.save()

    update_project_settings(
        project=project, values=changed(project, time_zone="America/Los_Angeles"), changed_by=lead, now=MIDWEEK
    )

    project.refresh_from_db()
    assert project.time_zone == "America/Los_Angeles"


def test_a_time_zone_change_that_would_move_the_running_week_is_refused(project, lead):
    """Monday 00:30 in Berlin is Sunday afternoon in Los Angeles: "now" would go back into last week."""
    _with_items(project)
    project.time_zone = "Europe/Berlin"
    project.save()

    with pytest.raises(InvalidSpec, match="would move the running cycle week from 2026-W49 to 2026-W48"):
        update_project_settings(
            project=project,
            values=changed(project, time_zone="America/Los_Angeles"),
            changed_by=lead,
            now=BERLIN_MONDAY_EARLY,
        )

    project.refresh_from_db()
    assert project.time_zone == "Europe/Berlin"


def test_a_project_with_no_weeks_counted_yet_may_change_its_zone_at_any_hour(project, lead):
    assert not ReviewCycle.objects.exists()
    project.time_zone = "Europe/Berlin"
    project.save()

    update_project_settings(
        project=project,
        values=changed(project, time_zone="America/Los_Angeles"),
        changed_by=lead,
        now=BERLIN_MONDAY_EARLY,
    )

    project.refresh_from_db()
    assert project.time_zone == "America/Los_Angeles"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "   ", "A project needs a name."),
        ("description", "x" * 5001, "Use at most 5,000 characters."),
        ("description", "a\x00b", "The description"),
        ("time_zone", "Mars/Olympus", "not a known IANA time zone"),
    ],
)
def test_a_new_project_and_a_settings_change_follow_the_same_rules(project, lead, field, value, message):
    """Name, description and time zone are checked by one rule, on the new-project form and on the settings page."""
    with pytest.raises(InvalidSpec, match=re.escape(message)):
        create_project(spec=spec(**{field: value}))
    assert not Project.objects.filter(slug=spec()["slug"]).exists()

    with pytest.raises(InvalidSpec, match=re.escape(message)):
        update_project_settings(project=project, values=changed(project, **{field: value}), changed_by=lead)
