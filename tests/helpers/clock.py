"""A test clock kept a day from every week start of the projects a test reads weeks of.

A test that makes rows now and reads "this week" later (a later request, a module's seed read by its tests) would
compare two weeks if a week started in between. Each project's week starts at midnight of its cycle weekday in its
own zone: Monday 00:00 UTC, 05:00 UTC in New York (EST), 23:00 UTC on Sunday in Berlin (CET). The clock is moved
forward until it is a day from all of them, and keeps running from there.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.utils import timezone

from labeling.models import Project
from labeling.rules.calendar import current_week, week_end, week_start

MARGIN = timedelta(days=1)
STEP = timedelta(hours=6)


def calendar_of(project: Project) -> tuple[str, int]:
    """What decides where a project's weeks start: its zone and its cycle weekday."""
    return str(project.tzinfo), project.cycle_weekday


def clear_of_week_starts(moment: datetime, projects: Iterable[Project]) -> bool:
    """Whether `moment` is at least a day after the start and before the end of each project's running week."""
    for project in projects:
        week = current_week(project, moment)
        if moment - week_start(project, week) < MARGIN or week_end(project, week) - moment < MARGIN:
            return False
    return True


def shift_clear_of_week_starts(now: datetime, projects: Iterable[Project]) -> timedelta:
    """The least shift forward, in steps of six hours, that puts `now` a day from every week start of `projects`.

    One cycle weekday's starts in every zone fall within about a day of each other, which leaves days clear; projects
    on many different weekdays may leave none (an AssertionError says so)."""
    projects = list(projects)
    for steps in range(4 * 7):
        if clear_of_week_starts(now + steps * STEP, projects):
            return steps * STEP
    raise AssertionError(
        f"No moment of the week is a day from every week start of {[calendar_of(p) for p in projects]}"
    )


def run_clock_clear_of_week_starts(monkeypatch, projects: Iterable[Project]) -> timedelta:
    """Make timezone.now() a running clock a day from every week start of `projects`; return the shift."""
    wall = timezone.now
    shift = shift_clear_of_week_starts(wall(), projects)
    monkeypatch.setattr("django.utils.timezone.now", lambda: wall() + shift)
    return shift


def assert_clock_covers_every_project(covered: Iterable[Project], by: str) -> None:
    """Every stored project has the calendar of one of `covered`, the projects the clock was kept clear for."""
    calendars = {calendar_of(project) for project in covered}
    other = {project.slug: calendar_of(project) for project in Project.objects.all()}
    other = {slug: calendar for slug, calendar in other.items() if calendar not in calendars}
    assert not other, (
        f"{by} kept the clock a day from the week starts of {sorted(calendars)} only, not of {other}: "
        "make or move such projects before it sets the clock"
    )


def demo_calendars() -> list[Project]:
    """The demo's projects as their zones and cycle weekdays (unsaved): what decides where their weeks start."""
    from labeling.demo.project import project_spec
    from labeling.demo.summarizer import summarizer_project_spec
    from labeling.demo.team import sql_project_spec
    from labeling.services.projects import WEEKDAYS

    specs = (project_spec(), sql_project_spec(), summarizer_project_spec())
    return [
        Project(slug=spec["slug"], time_zone=spec["time_zone"], cycle_weekday=WEEKDAYS[spec["cycle_weekday"]])
        for spec in specs
    ]
