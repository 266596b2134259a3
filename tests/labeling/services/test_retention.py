"""Weekly cohort retention of end users: hand-computed grids, local-time weeks, verdict split, refresh."""

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labeling.metrics.retention import cohorts, weighted_mean
from labeling.models import (
    Item,
    ItemStatus,
    Output,
    Queue,
    Resolution,
    ResolutionStatus,
    RetentionCell,
    RetentionState,
    RetentionUser,
    UsageEvent,
)
from labeling.rules.calendar import cycle_week, week_function
from labeling.services import retention as retention_service
from labeling.services.assignment import next_item
from labeling.services.labels import submit_label
from labeling.services.privacy import erase_end_user
from labeling.services.resolution import adjudicate, resolve_item
from labeling.services.retention import activity_weeks, refresh_retention
from labeling.services.routing import route_outputs
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, OutputFactory, ProjectFactory, UserFactory
from tests.helpers.labeling import bulk_labeled_items
from tests.helpers.metrics import retention_grid as grid
from tests.helpers.plans import analyze, rows_handled

W = date.fromisoformat


# ---------------------------------------------------------------- the hand-computed fixture

NEW_YORK = ZoneInfo("America/New_York")
# Monday-start weeks in New York: W0 = 2026-11-02 … W4 = 2026-11-30 (EST, UTC-5, since 1 November).
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=NEW_YORK)  # a Wednesday in W4, the current and incomplete week

# (end user, "O" for an Output or "E" for a UsageEvent, local time in New York)
ACTIVITY = [
    # First seen in the week of 2026-10-26 (EDT), before the window: cohort 10-26, never in a later cohort.
    ("p1", "O", "2026-10-28 09:00"), ("p1", "E", "2026-11-03 12:00"), ("p1", "O", "2026-11-18 12:00"),
    # Cohort W0 = 2026-11-02
    ("a1", "O", "2026-11-08 23:30"),  # Sunday 23:30 EST = Monday 04:30 UTC: W0 here, W1 in UTC
    ("a1", "E", "2026-11-09 00:10"),  # Monday 00:10 EST: W1 (UTC puts both events in W1)
    ("a2", "O", "2026-11-02 00:00"), ("a2", "O", "2026-11-04 10:00"), ("a2", "E", "2026-11-06 18:00"),  # 3× week 0
    ("a3", "O", "2026-11-03 09:00"), ("a3", "O", "2026-11-17 09:00"),
    ("a4", "E", "2026-11-05 08:00"), ("a4", "E", "2026-11-10 08:00"), ("a4", "E", "2026-11-19 08:00"),
    ("a4", "E", "2026-11-27 08:00"),
    ("a5", "O", "2026-11-07 15:00"), ("a5", "O", "2026-11-25 15:00"),
    ("a6", "E", "2026-11-02 07:00"), ("a6", "E", "2026-12-01 07:00"),
    ("a7", "O", "2026-11-04 13:00"), ("a7", "O", "2026-11-12 13:00"), ("a7", "O", "2026-12-02 08:00"),
    ("a8", "O", "2026-11-05 20:00"), ("a8", "E", "2026-11-20 20:00"), ("a8", "O", "2026-11-28 20:00"),
    # Cohort W1 = 2026-11-09
    ("b1", "E", "2026-11-09 00:10"), ("b1", "E", "2026-11-16 09:00"),
    ("b2", "O", "2026-11-15 22:00"),  # Sunday 22:00 EST = Monday 03:00 UTC: W1 here, W2 in UTC
    ("b2", "O", "2026-11-16 10:00"),
    ("b3", "O", "2026-11-10 11:00"), ("b3", "E", "2026-11-24 11:00"),
    ("b4", "E", "2026-11-11 16:00"), ("b4", "E", "2026-11-30 00:05"),
    ("b5", "O", "2026-11-12 09:30"),
    ("b6", "O", "2026-11-13 10:00"), ("b6", "O", "2026-11-18 10:00"), ("b6", "O", "2026-11-23 10:00"),
    ("b6", "O", "2026-12-01 10:00"),
    # Cohort W2 = 2026-11-16
    ("c1", "O", "2026-11-16 06:00"), ("c1", "O", "2026-11-26 06:00"),
    ("c2", "E", "2026-11-17 12:00"), ("c2", "E", "2026-11-30 12:00"),
    ("c3", "O", "2026-11-18 14:00"), ("c3", "E", "2026-11-18 14:05"),  # both sources, same week: once
    ("c4", "E", "2026-11-19 09:00"), ("c4", "E", "2026-11-24 09:00"), ("c4", "E", "2026-12-01 09:00"),
    # Cohort W3 = 2026-11-23
    ("d1", "O", "2026-11-23 09:00"), ("d1", "O", "2026-12-01 09:00"),
    ("d2", "E", "2026-11-29 23:59"),
    ("d3", "O", "2026-11-26 12:00"), ("d3", "O", "2026-12-08 12:00"),  # 12-08 is after NOW: ignored
    # Cohort W4 = 2026-11-30 (current week)
    ("e1", "O", "2026-11-30 00:00"),
    ("e2", "E", "2026-12-02 11:59"),
]  # fmt: skip

# Worked out by hand from ACTIVITY (weeks each user was active in, counted from their cohort):
# p1 {0,1,3} · a1 {0,1} a2 {0} a3 {0,2} a4 {0,1,2,3} a5 {0,3} a6 {0,4} a7 {0,1,4} a8 {0,2,3}
# b1 {0,1} b2 {0,1} b3 {0,2} b4 {0,3} b5 {0} b6 {0,1,2,3} · c1 {0,1} c2 {0,2} c3 {0} c4 {0,1,2}
# d1 {0,1} d2 {0} d3 {0} · e1 {0} e2 {0}
# cohort: (users, active on week k, active on week k or later, incomplete offsets)
EXPECTED = {
    W("2026-10-26"): (1, [1, 1, 0, 1, 0, 0], [1, 1, 1, 1, 0, 0], {5}),
    W("2026-11-02"): (8, [8, 3, 3, 3, 2], [8, 7, 6, 5, 2], {4}),
    W("2026-11-09"): (6, [6, 3, 2, 2], [6, 5, 3, 2], {3}),
    W("2026-11-16"): (4, [4, 2, 2], [4, 3, 2], {2}),
    W("2026-11-23"): (3, [3, 1], [3, 1], {1}),
    W("2026-11-30"): (2, [2], [2], {0}),
}


def local(text: str, tz=NEW_YORK) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def add_output(project, user, when, **fields):
    return OutputFactory(project=project, end_user_id=user, occurred_at=when, received_at=when, **fields)


def add_event(project, user, when):
    return UsageEvent.objects.create(
        project=project, end_user_id=user, name="session", occurred_at=when, received_at=when, content_hash="0" * 64
    )


def add_activity(project, rows, tz=NEW_YORK):
    for user, source, when in rows:
        (add_output if source == "O" else add_event)(project, user, local(when, tz))


@pytest.fixture
def fixture_project(db):
    project = ProjectFactory(slug="retention-ny", time_zone="America/New_York", cycle_weekday=0)
    add_activity(project, ACTIVITY)
    # Noise that must not count: activity without an end user, and another project's users (same ids too).
    add_output(project, "", local("2026-11-03 10:00"))
    add_event(project, "", local("2026-11-10 10:00"))
    other = ProjectFactory(slug="retention-other", time_zone="America/New_York")
    add_activity(other, [("a3", "O", "2026-11-24 10:00"), ("zz", "E", "2026-11-17 10:00")])
    return project


@pytest.fixture(params=[pytest.param("sql", marks=pytest.mark.postgres), "python"])
def weeks_path(request, monkeypatch):
    """Run the SQL bucketing (PostgreSQL) or force the portable Python one (any database)."""
    if request.param == "python":

        def portable(*, project, until=None):
            return retention_service._weeks_in_python(project, until)

        monkeypatch.setattr(retention_service, "activity_weeks", portable)
    return request.param


def test_retention_matches_the_hand_computed_table(fixture_project, weeks_path):
    count = refresh_retention(project=fixture_project, now=NOW)
    cells = list(RetentionCell.objects.filter(project=fixture_project).values())
    assert grid(cells) == EXPECTED
    assert count == len(cells) == 6 + 5 + 4 + 3 + 2 + 1
    assert {cell["segment"] for cell in cells} == {"all"}  # no rubric, no verdict split


def test_local_weeks_not_utc_weeks_decide_the_cohorts(fixture_project, weeks_path):
    weeks = {}
    for user, week in retention_service.activity_weeks(project=fixture_project):
        weeks.setdefault(user, set()).add(week)
    assert weeks["a1"] == {W("2026-11-02"), W("2026-11-09")}  # Sunday 23:30 and Monday 00:10, apart
    assert weeks["b2"] == {W("2026-11-09"), W("2026-11-16")}  # Sunday 22:00 local is Monday in UTC
    assert weeks["a2"] == {W("2026-11-02")}
    assert weeks["p1"] == {W("2026-10-26"), W("2026-11-02"), W("2026-11-16")}
    assert "" not in weeks and "zz" not in weeks
    assert len(weeks) == 24


def test_refresh_is_idempotent_and_replaces_every_row(fixture_project):
    first = refresh_retention(project=fixture_project, now=NOW)
    rows = list(RetentionCell.objects.filter(project=fixture_project).order_by("pk").values())
    assert refresh_retention(project=fixture_project, now=NOW) == first
    again = list(RetentionCell.objects.filter(project=fixture_project).order_by("pk").values())
    assert [{k: v for k, v in row.items() if k != "id"} for row in again] == [
        {k: v for k, v in row.items() if k != "id"} for row in rows
    ]
    assert RetentionCell.objects.filter(project=fixture_project).count() == first

    # As of a week earlier: the week of 11-30 does not exist yet, 11-23 is the incomplete one; no stale row left.
    earlier = refresh_retention(project=fixture_project, now=local("2026-11-25 09:00"))
    cells = list(RetentionCell.objects.filter(project=fixture_project).values())
    assert earlier == len(cells) == 5 + 4 + 3 + 2 + 1
    assert grid(cells) == {
        W("2026-10-26"): (1, [1, 1, 0, 1, 0], [1, 1, 1, 1, 0], {4}),
        W("2026-11-02"): (8, [8, 3, 3, 0], [8, 5, 3, 0], {3}),  # a4, a5, a8 come back later: not yet
        W("2026-11-09"): (6, [6, 3, 2], [6, 4, 2], {2}),  # b3 on Tuesday 11-24 counts, b4 on 11-30 not yet
        W("2026-11-16"): (4, [4, 1], [4, 1], {1}),
        W("2026-11-23"): (1, [1], [1], {0}),  # d1 only: d2 (Sunday) and d3 (Thursday) are still to come
    }


def test_refresh_touches_only_its_project(fixture_project):
    other = ProjectFactory(slug="retention-kept")
    RetentionCell.objects.create(
        project=other, segment="all", cohort_week=W("2026-11-02"), offset=0, cohort_users=1, active_on=1,
        active_on_or_after=1,
    )  # fmt: skip
    refresh_retention(project=fixture_project, now=NOW)
    assert RetentionCell.objects.filter(project=other).count() == 1


def test_a_project_without_activity_has_no_cells(db):
    project = ProjectFactory(time_zone="Asia/Kolkata")
    assert refresh_retention(project=project) == 0


# ---------------------------------------------------------------- weeks: Python and SQL agree with cycle_week


@pytest.mark.parametrize(
    "time_zone, weekday, moment, week",
    [
        ("America/New_York", 0, "2026-11-09T04:30:00+00:00", "2026-11-02"),  # Sun 23:30 EST
        ("America/New_York", 0, "2026-11-09T05:10:00+00:00", "2026-11-09"),  # Mon 00:10 EST
        ("America/New_York", 6, "2026-11-08T04:59:00+00:00", "2026-11-01"),  # Sat 23:59 EST, Sunday start
        ("America/New_York", 6, "2026-11-08T05:00:00+00:00", "2026-11-08"),  # Sun 00:00 EST
        ("America/New_York", 6, "2026-11-01T03:59:00+00:00", "2026-10-25"),  # Sat 23:59 EDT
        ("America/New_York", 6, "2026-11-01T05:30:00+00:00", "2026-11-01"),  # 01:30 EDT, clocks go back at 02:00
        ("America/New_York", 6, "2026-11-01T06:30:00+00:00", "2026-11-01"),  # 01:30 EST, the second time
        ("Asia/Kolkata", 0, "2026-11-08T18:29:00+00:00", "2026-11-02"),  # Sun 23:59 IST
        ("Asia/Kolkata", 0, "2026-11-08T18:30:00+00:00", "2026-11-09"),  # Mon 00:00 IST, still Sunday in UTC
        ("Asia/Kolkata", 2, "2026-11-10T18:35:00+00:00", "2026-11-11"),  # Wed 00:05 IST, Wednesday start
        ("Pacific/Auckland", 4, "2026-11-05T11:00:00+00:00", "2026-11-06"),  # Fri 00:00 NZDT, Thursday in UTC
    ],
)
def test_week_function_is_cycle_week(db, time_zone, weekday, moment, week):
    project = ProjectFactory.build(time_zone=time_zone, cycle_weekday=weekday)
    moment = datetime.fromisoformat(moment)
    assert week_function(project)(moment) == cycle_week(project, moment) == W(week)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "time_zone, weekday",
    [("America/New_York", 0), ("America/New_York", 6), ("Asia/Kolkata", 2), ("Pacific/Auckland", 4), ("UTC", 0)],
)
def test_sql_weeks_match_python_weeks_across_dst_and_midnights(db, time_zone, weekday):
    project = ProjectFactory(time_zone=time_zone, cycle_weekday=weekday)
    rng = random.Random(f"{time_zone}{weekday}")
    start = datetime.fromisoformat("2025-03-01T00:00:00+00:00")  # three years: DST changes, 63-week masks
    for index in range(400):
        day = (start + timedelta(days=rng.randrange(1100))).astimezone(project.tzinfo).date()
        midnight = datetime.combine(day, datetime.min.time(), project.tzinfo)
        # Half the moments sit within minutes of a local midnight, where a wrong offset or weekday shows.
        minutes = rng.randrange(-20, 20) if index % 2 else rng.randrange(24 * 60)
        moment = (midnight + timedelta(minutes=minutes)).astimezone(ZoneInfo("UTC"))
        (add_output if index % 3 else add_event)(project, f"u{index % 37}", moment)
    sql = retention_service._weeks_in_sql(project)
    assert len(sql) == len(set(sql))
    assert sorted(sql) == retention_service._weeks_in_python(project)
    assert {week.weekday() for _, week in sql} == {weekday}


# ---------------------------------------------------------------- verdict split

KOLKATA = ZoneInfo("Asia/Kolkata")
# Wednesday-start weeks in Kolkata: V0 = 2026-11-04, V1 = 2026-11-11, V2 = 2026-11-18 (current).
V_NOW = datetime(2026, 11, 20, 12, 0, tzinfo=KOLKATA)
QUESTIONS_V1 = [{"key": "correct", "kind": "binary", "prompt": "Correct?"}]
# The current rubric's first binary question, `safe`, is the verdict question (not `correct`).
QUESTIONS_V2 = [
    {"key": "helpful", "kind": "rating", "prompt": "Helpful?", "scale": [1, 5], "required": False},
    {"key": "safe", "kind": "binary", "prompt": "Safe?"},
    {"key": "correct", "kind": "binary", "prompt": "Correct?", "required": False},
]


def entry(value, method="unanimous"):
    return {"value": value, "method": method, "votes": {}}


class Judge:
    """Gives outputs gold answers: a complete item in a queue and its Resolution row."""

    def __init__(self, project):
        self.project = project
        self.queues = [
            Queue.objects.get_or_create(project=project, slug=slug, defaults={"name": slug, "is_active": False})[0]
            for slug in ("q1", "q2")
        ]

    def __call__(self, output, automatic, adjudicated=None, queue=0):
        item = Item.objects.create(
            project=self.project,
            queue=self.queues[queue],
            output=output,
            week=cycle_week(self.project, output.occurred_at),
            overlap=1,
            status=ItemStatus.COMPLETE,
        )
        return Resolution.objects.create(
            item=item, status=ResolutionStatus.RESOLVED, automatic=automatic, adjudicated=adjudicated or {}
        )


@pytest.fixture
def verdict_project(db):
    project = ProjectFactory(slug="retention-in", time_zone="Asia/Kolkata", cycle_weekday=2)
    publish_rubric(project=project, questions=QUESTIONS_V1)
    rubric = publish_rubric(project=project, questions=QUESTIONS_V2)
    lead = MembershipFactory(project=project, user=UserFactory(username="vlead"), role="lead").user

    # "ad": a real review. Two experts disagree on `safe`, the tie goes to the lead, who says fail.
    queue = Queue.objects.create(project=project, slug="pair", name="Pair", overlap=2)
    output = add_output(project, "ad", local("2026-11-12 10:00", KOLKATA))
    route_outputs(project_id=project.pk, output_ids=[output.pk])
    for index, safe in enumerate([True, False]):
        expert = MembershipFactory(project=project, user=UserFactory(username=f"vexpert{index}")).user
        submit_label(expert=expert, item=next_item(expert=expert, queue=queue), rubric=rubric, answers={"safe": safe})
    item = Item.objects.get(output=output)
    assert resolve_item(item_id=item.pk).status == ResolutionStatus.NEEDS_ADJUDICATION
    adjudicate(lead=lead, item=item, answers={"safe": False}, note="Leaks an internal URL.")
    queue.is_active = False
    queue.save()

    judge = Judge(project)
    out = lambda user, when: add_output(project, user, local(when, KOLKATA))  # noqa: E731
    event = lambda user, when: add_event(project, user, local(when, KOLKATA))  # noqa: E731
    # Cohort V0 = 11-04
    judge(out("fw", "2026-11-04 09:00"), {"safe": entry(True)})
    judge(out("fw", "2026-11-06 09:00"), {"safe": entry(False, "majority")})  # fail wins over pass
    event("fw", "2026-11-12 09:00")
    judge(out("ps", "2026-11-05 09:00"), {"safe": entry(True), "correct": entry(False)})  # `correct` is not asked
    out("ps", "2026-11-05 10:00")  # no item, no gold
    judge(out("nt", "2026-11-07 09:00"), {"safe": entry(None, "tie")})  # a tie nobody adjudicated: no gold
    judge(out("nt", "2026-11-08 09:00"), {"helpful": {"value": 2, "method": "median", "spread": 0, "votes": [2]}})
    event("nt", "2026-11-19 09:00")
    event("lt", "2026-11-04 00:00")
    judge(out("lt", "2026-11-12 09:00"), {"safe": entry(False)})  # after the cohort week: does not count
    judge(out("lp", "2026-11-10 22:00"), {"safe": entry(True)})
    judge(out("lp", "2026-11-11 09:00"), {"safe": entry(False)})  # after the cohort week: does not count
    event("ed", "2026-11-10 23:50")  # Tuesday 23:50 IST: V0
    judge(out("ed", "2026-11-11 00:05"), {"safe": entry(False)})  # Wednesday 00:05 IST (still Tuesday in UTC): V1
    # Cohort V1 = 11-11 ("ad" above, a fail)
    in_two_queues = out("mq", "2026-11-13 09:00")
    judge(in_two_queues, {"safe": entry(True)}, queue=0)
    judge(in_two_queues, {"safe": entry(False)}, queue=1)  # one fail among its gold answers
    event("mq", "2026-11-18 09:00")
    overruled = {"safe": entry(False, "adjudicated")}  # a lead overrules the experts' pass
    judge(out("ap", "2026-11-14 09:00"), {"safe": entry(True, "majority")}, adjudicated=overruled)
    out("ap", "2026-11-19 09:00")
    judge(out("p2", "2026-11-16 09:00"), {"safe": entry(True)})
    return project


def test_user_verdicts_follow_the_gold_on_cohort_week_outputs(verdict_project):
    first_weeks = cohorts(activity_weeks(project=verdict_project))
    assert first_weeks["ed"] == W("2026-11-04") and first_weeks["ad"] == W("2026-11-11")
    verdicts = retention_service.user_verdicts(project=verdict_project, cohorts=first_weeks)
    assert verdicts == {
        "fw": "fail", "ps": "pass", "lp": "pass", "ad": "fail", "mq": "fail", "ap": "fail", "p2": "pass",
    }  # fmt: skip
    # nt (tie, rating only), lt and ed (judged only after their cohort week): no verdict.


@pytest.mark.parametrize("probed_users", [0, 2000])  # verdicts read in one pass, or each user's cohort week probed
def test_retention_split_by_verdict(verdict_project, monkeypatch, probed_users):
    monkeypatch.setattr(retention_service, "_PROBED_USERS", probed_users)
    assert refresh_retention(project=verdict_project, now=V_NOW) == 5 + 5 + 5
    cells = list(RetentionCell.objects.filter(project=verdict_project).values())
    # all: V0 = fw {0,1} ps {0} nt {0,2} lt {0,1} lp {0,1} ed {0,1}; V1 = ad {0} mq {0,1} ap {0,1} p2 {0}
    assert grid(cells, "all") == {
        W("2026-11-04"): (6, [6, 4, 1], [6, 5, 1], {2}),
        W("2026-11-11"): (4, [4, 2], [4, 2], {1}),
    }
    assert grid(cells, "fail") == {
        W("2026-11-04"): (1, [1, 1, 0], [1, 1, 0], {2}),  # fw
        W("2026-11-11"): (3, [3, 2], [3, 2], {1}),  # ad, mq, ap
    }
    assert grid(cells, "pass") == {
        W("2026-11-04"): (2, [2, 1, 0], [2, 1, 0], {2}),  # ps, lp
        W("2026-11-11"): (1, [1, 0], [1, 0], {1}),  # p2
    }
    mean = weighted_mean(cells, offset=1, segment="fail")
    assert mean == {"rate": 1.0, "returned": 1, "users": 1, "cohorts": 1}  # V1's week 1 is still running


def test_no_binary_question_means_no_split(verdict_project):
    publish_rubric(project=verdict_project, questions=[QUESTIONS_V2[0]])
    refresh_retention(project=verdict_project, now=V_NOW)
    assert set(RetentionCell.objects.filter(project=verdict_project).values_list("segment", flat=True)) == {"all"}


# ---------------------------------------------------------------- a refresh writes only the cells that changed


def stored_cells(project) -> dict:
    """(segment, cohort week, offset) → (pk, counts and the incomplete flag) of the project's stored cells."""
    fields = ("cohort_users", "active_on", "active_on_or_after", "incomplete")
    return {
        (row["segment"], row["cohort_week"], row["offset"]): (row["id"], tuple(row[name] for name in fields))
        for row in RetentionCell.objects.filter(project=project).values()
    }


def from_scratch(project, now) -> dict:
    """The cells a refresh stores into an empty table (the cells left as they were afterwards)."""
    kept = stored_cells(project)
    with transaction.atomic():
        RetentionCell.objects.filter(project=project).delete()
        refresh_retention(project=project, now=now, full=True)
        fresh = {key: values for key, (_, values) in stored_cells(project).items()}
        transaction.set_rollback(True)
    assert stored_cells(project) == kept
    return fresh


def cell_writes(queries) -> list[str]:
    return [q["sql"] for q in queries if "retentioncell" in q["sql"] and not q["sql"].startswith("SELECT")]


def test_a_refresh_with_nothing_new_writes_no_cell(fixture_project):
    refresh_retention(project=fixture_project, now=NOW)
    before = stored_cells(fixture_project)
    with CaptureQueriesContext(connection) as queries:
        assert refresh_retention(project=fixture_project, now=NOW) == len(before)
    assert cell_writes(queries.captured_queries) == []
    assert stored_cells(fixture_project) == before


def test_a_new_week_late_activity_and_an_erasure_write_only_their_cells(fixture_project):
    refresh_retention(project=fixture_project, now=local("2026-11-25 09:00"))
    week_before = stored_cells(fixture_project)

    # A week later: the week of 11-30 appears, 11-23 stops running, returning users change their cohorts' cells.
    refresh_retention(project=fixture_project, now=NOW)
    now_stored = stored_cells(fixture_project)
    assert grid(RetentionCell.objects.filter(project=fixture_project).values()) == EXPECTED
    assert {key: values for key, (_, values) in now_stored.items()} == from_scratch(fixture_project, NOW)
    kept = [key for key, (pk, values) in week_before.items() if now_stored[key] == (pk, values)]
    assert W("2026-11-30") not in {cohort for _, cohort, _ in week_before}
    assert kept  # untouched cells keep their rows: only what changed is written
    assert (("all", W("2026-11-16"), 0)) in kept and ("all", W("2026-11-23"), 0) not in kept

    # Late activity (an old week, a new user in an old cohort) and an erasure (a user's activity deleted).
    add_activity(fixture_project, [("p1", "O", "2026-11-10 10:00"), ("n1", "E", "2026-11-03 10:00")])
    Output.objects.filter(project=fixture_project, end_user_id="a3").delete()
    refresh_retention(project=fixture_project, now=NOW)
    assert {key: values for key, (_, values) in stored_cells(fixture_project).items()} == from_scratch(
        fixture_project, NOW
    )
    # Going back in time removes the cells of the weeks that no longer exist.
    refresh_retention(project=fixture_project, now=local("2026-11-18 09:00"))
    assert {key: values for key, (_, values) in stored_cells(fixture_project).items()} == from_scratch(
        fixture_project, local("2026-11-18 09:00")
    )
    assert max(cohort for _, cohort, _ in stored_cells(fixture_project)) == W("2026-11-16")


def test_a_changed_gold_answer_moves_its_user_between_segments_in_place(verdict_project):
    refresh_retention(project=verdict_project, now=V_NOW)
    resolution = Resolution.objects.get(item__output__end_user_id="ps", automatic__has_key="safe")
    resolution.adjudicated = {"safe": entry(False, "adjudicated")}  # a lead overrules the pass
    resolution.save()
    refresh_retention(project=verdict_project, now=V_NOW)
    stored = {key: values for key, (_, values) in stored_cells(verdict_project).items()}
    if connection.vendor == "postgresql":
        assert last_refresh(verdict_project) == "incremental"  # ps judged again: their gold was written since
    assert stored == from_scratch(verdict_project, V_NOW)
    assert stored["fail", W("2026-11-04"), 0][0] == 2 and stored["pass", W("2026-11-04"), 0][0] == 1


# ---------------------------------------------------------------- a refresh reads the recent weeks (PostgreSQL)


def last_refresh(project) -> str:
    return RetentionState.objects.get(project=project).last_refresh


def refreshed_as_from_scratch(project, now) -> str:
    """Refresh, check the cells are those a refresh from scratch stores, and say how the refresh went."""
    refresh_retention(project=project, now=now)
    assert {key: values for key, (_, values) in stored_cells(project).items()} == from_scratch(project, now)
    return last_refresh(project)


@pytest.mark.postgres
def test_week_by_week_a_refresh_reads_the_recent_weeks_and_stores_what_a_refresh_from_scratch_stores(
    fixture_project,
):
    project = fixture_project
    assert refreshed_as_from_scratch(project, local("2026-11-18 09:00")) == "full: no history yet"
    assert refreshed_as_from_scratch(project, local("2026-11-25 09:00")) == "incremental"
    assert refreshed_as_from_scratch(project, NOW) == "incremental"
    assert grid(RetentionCell.objects.filter(project=project).values()) == EXPECTED
    assert refreshed_as_from_scratch(project, NOW) == "incremental"  # nothing new: the same cells

    # Late by less than a week (the week before the current one is read again): a new user, a returning one.
    add_activity(project, [("z1", "E", "2026-11-24 10:00"), ("a2", "O", "2026-11-26 10:00")])
    assert refreshed_as_from_scratch(project, NOW) == "incremental"
    assert RetentionUser.objects.get(project=project, end_user_id="z1").first_week == W("2026-11-23")
    # e1's first activity moves a week earlier, within the weeks read again: from the 11-30 cohort to 11-23's.
    add_activity(project, [("e1", "O", "2026-11-25 10:00")])
    assert refreshed_as_from_scratch(project, NOW) == "incremental"
    assert RetentionUser.objects.get(project=project, end_user_id="e1").first_week == W("2026-11-23")

    # A user seen only in the weeks read again loses their activity: their history goes, no rebuild.
    UsageEvent.objects.filter(project=project, end_user_id="e2").delete()
    assert refreshed_as_from_scratch(project, NOW) == "incremental"
    assert not RetentionUser.objects.filter(project=project, end_user_id="e2").exists()
    UsageEvent.objects.filter(project=project, end_user_id="d2").delete()  # the cohort of the week before: 11-23
    assert refreshed_as_from_scratch(project, NOW) == "incremental"

    # Older weeks changed in any way: a row added, one deleted, one moved to another user: all rebuilt.
    add_activity(project, [("a2", "O", "2026-11-10 10:00")])
    assert refreshed_as_from_scratch(project, NOW) == "full: older activity changed"
    Output.objects.filter(project=project, end_user_id="b5").delete()
    assert refreshed_as_from_scratch(project, NOW) == "full: older activity changed"
    Output.objects.filter(project=project, end_user_id="c1", occurred_at__lt=local("2026-11-20 00:00")).update(
        end_user_id="c9"
    )
    assert refreshed_as_from_scratch(project, NOW) == "full: older activity changed"
    assert refreshed_as_from_scratch(project, local("2026-12-09 09:00")) == "incremental"  # d3's 12-08 now counts


@pytest.mark.postgres
@pytest.mark.parametrize("change", ["calendar", "question", "earlier", "asked"])
def test_a_refresh_rebuilds_when_the_calendar_the_verdict_question_or_time_went_back(verdict_project, change):
    project = verdict_project
    refresh_retention(project=project, now=V_NOW)
    now = V_NOW
    if change == "calendar":
        project.time_zone = "Europe/Paris"
        project.save()
    elif change == "question":
        publish_rubric(project=project, questions=[{"key": "correct", "kind": "binary", "prompt": "Correct?"}])
    elif change == "earlier":
        now = V_NOW - timedelta(days=7)
    refresh_retention(project=project, now=now, full=change == "asked")
    reason = {
        "calendar": "the calendar changed",
        "question": "the verdict question changed",
        "earlier": "an earlier moment",
        "asked": "asked",
    }[change]
    assert last_refresh(project) == f"full: {reason}"
    assert {key: values for key, (_, values) in stored_cells(project).items()} == from_scratch(project, now)


@pytest.mark.postgres
def test_an_erased_end_user_leaves_no_history_and_the_next_refresh_rebuilds_without_them(fixture_project):
    refresh_retention(project=fixture_project, now=NOW)
    assert RetentionUser.objects.filter(project=fixture_project, end_user_id="a3").exists()
    erase_end_user(project=fixture_project, end_user_id="a3")
    assert not RetentionUser.objects.filter(project=fixture_project, end_user_id="a3").exists()
    assert refreshed_as_from_scratch(fixture_project, NOW) == "full: an end user was erased"
    assert not RetentionUser.objects.filter(project=fixture_project, end_user_id="a3").exists()
    assert refreshed_as_from_scratch(fixture_project, NOW) == "incremental"  # the rebuild was paid once


@pytest.mark.postgres
def test_a_cohort_week_still_being_read_is_judged_again_though_its_gold_is_old(verdict_project):
    """rc's cohort week (V1) is read again at the next refresh: an output of it judged long ago that happened
    after the last refresh counts now, though no gold answer was written since."""
    event = add_event(verdict_project, "rc", local("2026-11-12 09:00", KOLKATA))
    Judge(verdict_project)(
        add_output(verdict_project, "rc", local("2026-11-14 09:00", KOLKATA)), {"safe": entry(False)}
    )
    refresh_retention(project=verdict_project, now=local("2026-11-13 12:00", KOLKATA))
    assert RetentionUser.objects.get(project=verdict_project, end_user_id="rc").verdict == ""
    Resolution.objects.filter(item__project=verdict_project).update(updated_at=event.received_at)  # judged long ago
    assert refreshed_as_from_scratch(verdict_project, V_NOW) == "incremental"
    assert RetentionUser.objects.get(project=verdict_project, end_user_id="rc").verdict == "fail"


@pytest.mark.postgres
def test_an_end_user_erased_with_only_recent_activity_leaves_their_cohort_too(fixture_project):
    """d2 was seen only in the week before the current one (the weeks read again): once erased, no cell counts them."""
    refresh_retention(project=fixture_project, now=NOW)
    erase_end_user(project=fixture_project, end_user_id="d2")
    assert refreshed_as_from_scratch(fixture_project, NOW) == "full: an end user was erased"
    assert not RetentionUser.objects.filter(project=fixture_project, end_user_id="d2").exists()


@pytest.mark.postgres
# Each user's cohort week probed (the path that went quadratic). The one-pass path (_PROBED_USERS = 0) was pinned here
# too, never having gone quadratic: it handled 9,215 rows alone but 84,557 in CI after other files, so its bound held
# only in some statistics states, and it was dropped rather than loosened.
@pytest.mark.parametrize("probed_users", [2000])
def test_a_refresh_reads_each_outputs_gold_once_even_with_stale_statistics(
    project, other_project, monkeypatch, probed_users
):
    """A project's 600 outputs, items and gold answers came after the last ANALYZE (a bulk import; autoanalyze not
    yet run): the statistics know only another project's, and the planner believes this one has a single item. Judging
    the new cohorts still handles rows in proportion to the outputs, where a nested loop that read all the project's
    items again for each output of a cohort week handled millions."""
    monkeypatch.setattr(retention_service, "_PROBED_USERS", probed_users)
    moment = timezone.now() - timedelta(days=14)
    bulk_labeled_items(other_project, 300, occurred_at=moment, end_users=100)
    analyze(Output, UsageEvent, Item, Resolution)
    outputs, _ = bulk_labeled_items(project, 600, occurred_at=moment, end_users=100)

    handled = rows_handled(lambda: refresh_retention(project=project))

    assert handled <= 20 * 3 * outputs, handled  # an output, its item and its resolution
