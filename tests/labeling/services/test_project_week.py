"""A project week's usage row: outputs, events, feedback, labels, expert time, storage and ingest errors of the week
in the project's own calendar, equal to the same counts made directly in SQL; written by the close, the running
week's refresh and the backfill command."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from labeling.models import IngestErrorDay, Item, Label, Output, Project, ProjectWeek, Queue, Rubric, UsageEvent
from labeling.rules.calendar import current_week
from labeling.services import cycles
from labeling.services.platform import backfill_usage, refresh_project_week
from tests.factories import ProjectFactory, UserFactory
from tests.helpers.rubrics import QUESTIONS

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

WEEK = date(2026, 11, 16)  # a Monday: both projects' cycle week starts then, each at its own midnight
BEFORE = WEEK - timedelta(days=7)
LA, TOKYO = "America/Los_Angeles", "Asia/Tokyo"  # UTC-8 and UTC+9 in November


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@pytest.fixture
def usage():
    """Two projects in time zones either side of UTC, with outputs and events just inside and just outside their
    week's bounds (in UTC they fall on the same days), labels on items of two weeks and ingest refusals."""
    west = ProjectFactory(slug="west", time_zone=LA)
    east = ProjectFactory(slug="east", time_zone=TOKYO)
    # West's week runs from 16 Nov 08:00 UTC to 23 Nov 08:00 UTC; east's from 15 Nov 15:00 UTC to 22 Nov 15:00 UTC.
    moments = [
        _at(WEEK, 7, 59),  # west: the week before; east: this week
        _at(WEEK, 8, 0),  # west: this week (its first minute)
        _at(WEEK - timedelta(days=1), 15, 0),  # east: this week (its first minute); west: the week before
        _at(WEEK - timedelta(days=1), 14, 59),  # east: the week before
        _at(WEEK + timedelta(days=6), 15, 0),  # east: the next week; west: this week
        _at(WEEK + timedelta(days=7), 7, 59),  # west: this week (its last minute)
        _at(WEEK + timedelta(days=7), 8, 0),  # west: the next week
        _at(BEFORE, 12, 0),  # both: the week before
    ]
    scores = [None, -1, 1, -1, 0, -1, 1, -1]
    outputs, events = [], []
    for project in (west, east):
        for n, (moment, score) in enumerate(zip(moments, scores, strict=True)):
            outputs.append(
                Output(
                    project=project,
                    external_id=f"o-{n}",
                    occurred_at=moment,
                    received_at=moment,
                    output={"text": "x" * (10 + n)},
                    metadata={"n": n},
                    feedback_score=score,
                    content_hash=f"{n:064x}",
                )
            )
            events.append(
                UsageEvent(
                    project=project,
                    end_user_id=f"u-{n}",
                    name="message",
                    occurred_at=moment,
                    received_at=moment,
                    properties={"n": n},
                    content_hash=f"{n:064x}",
                )
            )
    Output.objects.bulk_create(outputs)
    UsageEvent.objects.bulk_create(events)
    experts = [UserFactory(username=f"expert-{n}") for n in range(3)]
    for project in (west, east):
        rubric = Rubric.objects.create(project=project, version=1, questions=QUESTIONS)
        queue = Queue.objects.create(project=project, slug="main", name="Main")
        stored = list(Output.objects.filter(project=project).order_by("external_id"))
        for n, output in enumerate(stored):
            item = Item.objects.create(
                project=project, queue=queue, output=output, week=WEEK if n % 2 else BEFORE, overlap=2
            )
            for expert in experts[: 1 + n % 3]:
                Label.objects.create(
                    item=item, expert=expert, rubric=rubric, answers={"correct": True}, seconds_spent=30 + n
                )
    IngestErrorDay.objects.bulk_create(
        [
            IngestErrorDay(project=west, day=WEEK, count=3),
            IngestErrorDay(project=west, day=WEEK + timedelta(days=6), count=4),
            IngestErrorDay(project=west, day=WEEK + timedelta(days=7), count=50),  # the next week
            IngestErrorDay(project=east, day=WEEK - timedelta(days=1), count=7),  # the week before
        ]
    )
    return west, east


OUTPUT_BYTES = (
    "pg_column_size(o.external_id) + pg_column_size(o.end_user_id) + pg_column_size(o.session_id) + "
    "pg_column_size(o.model) + COALESCE(pg_column_size(o.input), 0) + pg_column_size(o.output) + "
    "COALESCE(pg_column_size(o.context), 0) + pg_column_size(o.metadata) + pg_column_size(o.tags) + "
    "pg_column_size(o.feedback_comment) + pg_column_size(o.content_hash)"
)
EVENT_BYTES = (
    "COALESCE(pg_column_size(o.external_id), 0) + pg_column_size(o.end_user_id) + pg_column_size(o.name) + "
    "pg_column_size(o.properties) + pg_column_size(o.content_hash)"
)


def _direct(project, week: date) -> dict:
    """The week's figures counted in SQL alone, the week's bounds made by PostgreSQL from the project's zone."""
    local = "(o.occurred_at AT TIME ZONE %(zone)s)"
    bounds = f"o.project_id = %(project)s AND {local} >= %(week)s::date AND {local} < %(week)s::date + 7"
    params = {"project": project.pk, "zone": project.time_zone, "week": week}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), COUNT(o.feedback_score), COUNT(*) FILTER (WHERE o.feedback_score = -1), "
            f"COALESCE(SUM({OUTPUT_BYTES}), 0) FROM labeling_output o WHERE {bounds}",
            params,
        )
        outputs, rated, down, output_bytes = cursor.fetchone()
        cursor.execute(
            f"SELECT COUNT(*), COALESCE(SUM({EVENT_BYTES}), 0) FROM labeling_usageevent o WHERE {bounds}", params
        )
        events, event_bytes = cursor.fetchone()
        cursor.execute(
            "SELECT COUNT(*), COALESCE(SUM(l.seconds_spent), 0), COUNT(DISTINCT l.expert_id) FROM labeling_label l "
            "JOIN labeling_item i ON i.id = l.item_id WHERE i.project_id = %(project)s AND i.week = %(week)s",
            params,
        )
        labels, seconds, experts = cursor.fetchone()
        cursor.execute(
            "SELECT COALESCE(SUM(count), 0) FROM labeling_ingesterrorday "
            "WHERE project_id = %(project)s AND day >= %(week)s::date AND day < %(week)s::date + 7",
            params,
        )
        (errors,) = cursor.fetchone()
    return {
        "outputs": outputs,
        "events": events,
        "outputs_with_feedback": rated,
        "thumbs_down": down,
        "labels": labels,
        "expert_seconds": seconds,
        "experts_active": experts,
        "storage_bytes": output_bytes + event_bytes,
        "ingest_errors": errors,
    }


FIGURES = (
    "outputs",
    "events",
    "outputs_with_feedback",
    "thumbs_down",
    "labels",
    "expert_seconds",
    "experts_active",
    "storage_bytes",
    "ingest_errors",
)


def _stored(row: ProjectWeek) -> dict:
    return {name: getattr(row, name) for name in FIGURES}


@pytest.mark.parametrize("week", [WEEK, BEFORE], ids=["week", "week-before"])
def test_a_weeks_row_equals_the_counts_made_in_sql(usage, week):
    """Each figure equals a direct SQL count over the week in the project's time zone."""
    for project in usage:
        row = refresh_project_week(project=project, week=week)
        assert _stored(row) == _direct(project, week), project.slug


def test_the_week_bounds_are_the_projects_midnights(usage):
    """West (UTC-8) counts 16 Nov 08:00 UTC to 23 Nov 07:59 UTC; east (UTC+9) 15 Nov 15:00 UTC to 22 Nov 14:59 UTC:
    the same outputs fall in different weeks. Refusals count by the project's day."""
    west, east = usage
    west_row = refresh_project_week(project=west, week=WEEK)
    east_row = refresh_project_week(project=east, week=WEEK)

    assert (west_row.outputs, west_row.events) == (3, 3)  # 08:00 on the 16th, 15:00 on the 22nd, 07:59 on the 23rd
    assert (west_row.outputs_with_feedback, west_row.thumbs_down) == (3, 2)
    assert (east_row.outputs, east_row.events) == (3, 3)  # 07:59 and 08:00 on the 16th, 15:00 on the 15th
    assert (east_row.outputs_with_feedback, east_row.thumbs_down) == (2, 1)
    assert west_row.ingest_errors == 7 and east_row.ingest_errors == 0
    assert west_row.labels == east_row.labels == 2 + 1 + 3 + 2  # the odd-numbered outputs' items: 1, 3, 5, 7
    assert west_row.expert_seconds == 2 * 31 + 1 * 33 + 3 * 35 + 2 * 37
    assert west_row.experts_active == 3
    assert west_row.storage_bytes > 0


def test_recomputing_a_week_replaces_its_row(usage):
    west, _ = usage
    refresh_project_week(project=west, week=WEEK)
    Output.objects.filter(project=west, external_id="o-1").delete()

    refresh_project_week(project=west, week=WEEK)

    assert ProjectWeek.objects.get(project=west, week=WEEK).outputs == 2
    assert ProjectWeek.objects.filter(project=west).count() == 1


def test_the_close_writes_the_weeks_row_as_a_timed_step(usage):
    west, _ = usage
    cycle = cycles.close_week(project_id=west.pk, week=WEEK, now=_at(WEEK + timedelta(days=8), 12))

    row = ProjectWeek.objects.get(project=west, week=WEEK)
    assert _stored(row) == _direct(west, WEEK)
    assert "usage" in [step["step"] for step in cycle.report["close"]["steps"]]


def test_the_running_weeks_refresh_writes_its_row(usage):
    west, _ = usage
    running = current_week(west)
    Output.objects.filter(project=west, external_id="o-0").update(occurred_at=datetime.now(UTC))

    cycles.refresh_metrics(project=west, week=running)

    row = ProjectWeek.objects.get(project=west, week=running)
    assert row.outputs == 1 and _stored(row) == _direct(west, running)


def test_the_backfill_command_computes_each_projects_last_weeks(usage):
    west, east = usage

    call_command("refresh_usage", "--weeks", "3")

    for project in usage:
        running = current_week(project)
        weeks = set(ProjectWeek.objects.filter(project=project).values_list("week", flat=True))
        assert weeks == {running - timedelta(days=7 * back) for back in range(3)}
    call_command("refresh_usage", "--project", "west", "--weeks", "1")
    assert ProjectWeek.objects.filter(project=west).count() == 3  # recomputed, not added


def test_the_backfill_command_refuses_an_unknown_project_and_a_bad_week_count(usage):
    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        call_command("refresh_usage", "--project", "nope")
    for weeks in ("0", "521", "twelve"):
        with pytest.raises(CommandError, match=f"argument --weeks: '{weeks}' is not a number of weeks from 1 to 520"):
            call_command("refresh_usage", "--weeks", weeks)


def test_the_backfill_writes_no_week_before_the_project_began():
    """A project created two weeks ago got rows of zeros for the weeks before it existed (as many as asked). It gets
    the weeks since its creation; one whose history was sent with past timestamps, since its first output or event."""
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)  # a Wednesday: the running (Monday) week began 23 Nov
    young, imported = ProjectFactory(slug="young"), ProjectFactory(slug="imported")
    Project.objects.filter(pk=young.pk).update(created_at=now - timedelta(days=9))  # in the week of 16 Nov
    Project.objects.filter(pk=imported.pk).update(created_at=now - timedelta(hours=1))
    UsageEvent.objects.create(
        project=imported, end_user_id="u", name="message", occurred_at=datetime(2026, 11, 3, tzinfo=UTC),
        received_at=now, content_hash="0" * 64,
    )  # fmt: skip
    young.refresh_from_db()
    imported.refresh_from_db()

    written = backfill_usage(projects=[young, imported], weeks=12, now=now)

    assert sorted(ProjectWeek.objects.filter(project=young).values_list("week", flat=True)) == [
        date(2026, 11, 16), date(2026, 11, 23),
    ]  # fmt: skip
    assert sorted(ProjectWeek.objects.filter(project=imported).values_list("week", flat=True)) == [
        date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 23),
    ]  # fmt: skip
    assert written == 6
