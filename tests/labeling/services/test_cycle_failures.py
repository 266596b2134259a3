"""One project's poisoned data never stops the others: failures are recorded, shown, and retried with backoff."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from labeling import tasks
from labeling.models import CycleStatus, Item, Output, Project, Queue, RetentionCell, ReviewCycle, RoutingState
from labeling.rules import calendar, weekly_close
from labeling.services import cycles, routing
from labeling.services.health import record_heartbeat
from tests.conftest import Api, output_record
from tests.factories import MembershipFactory, OutputFactory, ProjectFactory, UserFactory
from tests.outbox import enqueued

# A row stored before ingest had a range: its end user's cohort is older than the 32,767 weeks a RetentionCell.offset
# (a smallint) can hold. Ingest refuses it today. (Go's zero time, year 1, is the case seen: 105,000 weeks. 650 years
# fail the same way, and the close builds a third as many cells before it does: 1 s instead of 3.5 s.)
LEGACY_MOMENT = datetime(1376, 6, 1, tzinfo=UTC)


@pytest.fixture
def two_projects(db):
    """Two projects a month old, each with a lead, an expert, a queue and this week's outputs to route."""
    made = {}
    for slug in ("support-bot", "sql-assistant"):
        project = ProjectFactory(slug=slug, name=slug.replace("-", " ").title())
        Project.objects.filter(pk=project.pk).update(created_at=F("created_at") - timedelta(days=30))
        project.refresh_from_db()
        Queue.objects.create(project=project, slug="all", name="All")
        lead = MembershipFactory(project=project, user=UserFactory(username=f"lead-{slug}"), role="lead").user
        expert = MembershipFactory(project=project, user=UserFactory(username=f"expert-{slug}"), role="expert").user
        made[slug] = {"project": project, "lead": lead, "expert": expert}
    return made


def _close_due_weeks(now=None) -> dict[int, str]:
    """What beat's close sweep does, with each queued close run here as the worker would run it."""
    outcomes = {}
    for project_id, week in cycles.due_weeks(now):
        try:
            outcomes[project_id] = tasks.close_week(project_id, week.isoformat())
        except Exception as exc:  # the worker logs the failed task; the cycle records it
            outcomes[project_id] = f"failed: {exc}"
    return outcomes


def _last_week(project) -> datetime:
    return calendar.current_week(project) - timedelta(days=7)


@pytest.mark.parametrize(
    "attempts, seconds",
    [(0, 600), (1, 600), (2, 1200), (3, 2400), (4, 4800), (5, 9600), (6, 19200), (7, 38400), (8, 43200), (60, 43200)],
)
def test_a_failed_close_waits_twice_as_long_after_each_failure_up_to_the_cap(settings, attempts, seconds):
    settings.CYCLE_RETRY_BASE_SECONDS, settings.CYCLE_RETRY_MAX_SECONDS = 600, 12 * 3600

    assert cycles.retry_delay(attempts) == timedelta(seconds=seconds)


@pytest.mark.postgres
def test_a_poisoned_project_fails_its_close_visibly_while_the_other_routes_and_closes(client, settings, two_projects):
    settings.CYCLE_RETRY_BASE_SECONDS, settings.CYCLE_RETRY_MAX_SECONDS = 600, 12 * 3600
    settings.READYZ_TOKEN = "operator-token"
    bad, good = two_projects["support-bot"], two_projects["sql-assistant"]
    legacy = OutputFactory(project=bad["project"], end_user_id="u-legacy", occurred_at=LEGACY_MOMENT)
    week = _last_week(bad["project"])

    outcomes = _close_due_weeks()

    # The healthy project closed its week; the poisoned one's close failed, and says why.
    assert outcomes[good["project"].pk] == CycleStatus.CLOSED
    assert outcomes[bad["project"].pk].startswith("failed")
    failed = ReviewCycle.objects.get(project=bad["project"], week=week)
    assert failed.status == CycleStatus.OPEN and failed.failure_kind == "close"
    assert "out of range for type smallint" in failed.last_error and failed.attempts == 1
    assert failed.next_attempt_at == failed.failed_at + timedelta(seconds=600)

    # Not a loop: the sweep leaves it alone until its backoff is over, then tries again, waiting longer. (The weeks up
    # to this one: run in the last minutes of a week, 601 s on make the next one due too, in both projects.)
    def due_up_to_this_week(now=None):
        return [(project_id, due) for project_id, due in cycles.due_weeks(now) if due <= week]

    assert due_up_to_this_week() == []
    assert due_up_to_this_week(timezone.now() + timedelta(seconds=601)) == [(bad["project"].pk, week)]
    ReviewCycle.objects.filter(pk=failed.pk).update(next_attempt_at=timezone.now())
    assert _close_due_weeks()[bad["project"].pk].startswith("failed")
    failed.refresh_from_db()
    assert failed.attempts == 2 and failed.next_attempt_at == failed.failed_at + timedelta(seconds=1200)

    # Its leads see it on the meeting page, on every week's page; its experts and the other project do not.
    client.force_login(bad["lead"])
    page = client.get(f"/p/support-bot/meeting/{calendar.current_week(bad['project']):%G-W%V}/").content.decode()
    assert 'id="cycle-failures"' in page and f'data-week="{week:%G-W%V}"' in page
    assert "out of range for type smallint" in page and "2 times in a row" in page
    client.force_login(bad["expert"])
    assert 'id="cycle-failures"' not in client.get(f"/p/support-bot/meeting/{week:%G-W%V}/").content.decode()
    client.force_login(good["lead"])
    assert 'id="cycle-failures"' not in client.get(f"/p/sql-assistant/meeting/{week:%G-W%V}/").content.decode()
    client.logout()

    # The operator sees it on /readyz: degraded (the app serves), with the project named for the token only.
    record_heartbeat(hostname="celery@worker-1")
    public = client.get("/readyz")
    assert public.status_code == 200
    assert public.json()["status"] == "degraded" and public.json()["components"]["closes"] == "failing"
    assert "support-bot" not in public.content.decode()
    detail = {
        row["project"]: row
        for row in client.get("/readyz", HTTP_AUTHORIZATION="Bearer operator-token").json()["projects"]
    }
    failure = detail["support-bot"]["failures"][0]
    assert (failure["week"], failure["kind"], failure["attempts"]) == (f"{week:%G-W%V}", "close", 2)
    assert "smallint" in failure["error"] and failure["next_attempt_at"]
    assert detail["sql-assistant"]["last_close"]["week"] == f"{week:%G-W%V}"
    assert detail["sql-assistant"]["failures"] == []

    # The healthy project keeps routing: new outputs are placed by the sweep, whatever the other holds.
    from labeling.services.api_keys import create_api_key

    key = create_api_key(project=good["project"], name="app", scopes=["ingest"])
    assert (
        Api(client, key.secret).post("/api/v1/outputs", {"outputs": [output_record(7, occurred_at=None)]}).status_code
        == 200
    )
    Output.objects.update(received_at=timezone.now() - timedelta(minutes=10))  # as if the broker lost the task
    tasks.route_pending_outputs()
    assert Item.objects.filter(project=good["project"], output__external_id="conv-7").exists()

    # Once the data is fixed, the next retry closes the week and clears the failure.
    legacy.delete()
    ReviewCycle.objects.filter(pk=failed.pk).update(next_attempt_at=timezone.now())
    assert _close_due_weeks() == {bad["project"].pk: CycleStatus.CLOSED}
    failed.refresh_from_db()
    assert (failed.failure_kind, failed.last_error, failed.failed_at, failed.attempts) == ("", "", None, 0)
    assert client.get("/readyz").json()["status"] == "ok"


@pytest.mark.postgres
def test_a_failed_refresh_is_recorded_backs_off_and_clears_when_it_works(settings, two_projects):
    settings.CYCLE_RETRY_BASE_SECONDS = 600
    bad, good = two_projects["support-bot"]["project"], two_projects["sql-assistant"]["project"]
    legacy = OutputFactory(project=bad, end_user_id="u-legacy", occurred_at=LEGACY_MOMENT)
    running = calendar.current_week(bad)

    for project_id, week in cycles.running_weeks_to_refresh():
        try:
            tasks.refresh_metrics(project_id, week.isoformat())
        except Exception:
            pass  # the worker logs it

    cycle = ReviewCycle.objects.get(project=bad, week=running)
    assert cycle.failure_kind == "refresh" and "out of range for type smallint" in cycle.last_error
    assert not ReviewCycle.objects.filter(project=good, failed_at__isnull=False).exists()
    assert cycles.running_weeks_to_refresh() == [(good.pk, calendar.current_week(good))]

    legacy.delete()
    cycles.refresh_metrics(project=bad, week=running)
    cycle.refresh_from_db()
    assert (cycle.failure_kind, cycle.failed_at, cycle.attempts) == ("", None, 0)


def _unrouted_outputs(*projects, each: int = 3) -> None:
    """Outputs whose routing task was lost ten minutes ago: what the routing sweep picks up."""
    a_while_ago = timezone.now() - timedelta(minutes=10)
    for project in projects:
        for _ in range(each):
            OutputFactory(project=project, received_at=a_while_ago)


def test_the_routing_sweep_routes_each_project_on_its_own_and_records_the_one_that_fails(two_projects):
    bad, good = two_projects["support-bot"]["project"], two_projects["sql-assistant"]["project"]
    _unrouted_outputs(bad, good)
    # Stored before the rule validator: every output of this project fails its queue's rule check.
    Queue.objects.filter(project=bad).update(rule={"tags_any": 5})

    made = tasks.route_pending_outputs()

    assert made == 3
    assert Item.objects.filter(project=good).count() == 3 and not Item.objects.filter(project=bad).exists()
    failing, fine = RoutingState.objects.get(project=bad), RoutingState.objects.get(project=good)
    assert failing.failed_at and "TypeError" in failing.last_error and failing.failures == 1
    assert fine.succeeded_at and not fine.failed_at
    assert Output.objects.filter(project=bad, routed_at__isnull=True).count() == 3  # retried by the next sweep


def test_a_project_whose_time_zone_tzdata_dropped_runs_its_weeks_in_utc(two_projects):
    odd, other = two_projects["support-bot"]["project"], two_projects["sql-assistant"]["project"]
    _unrouted_outputs(odd, other)
    # Stored when tzdata still had it (removed in 2020b): its weeks fall back to UTC's instead of failing.
    Project.objects.filter(pk=odd.pk).update(time_zone="US/Pacific-New")
    odd.refresh_from_db()

    made = tasks.route_pending_outputs()

    assert made == 6
    assert not odd.time_zone_known and str(odd.tzinfo) == "UTC"
    assert not RoutingState.objects.filter(failed_at__isnull=False).exists()
    utc_day = timezone.now().astimezone(UTC).date()
    assert calendar.current_week(odd) == utc_day - timedelta(days=(utc_day.weekday() - odd.cycle_weekday) % 7)
    assert {project_id for project_id, _ in cycles.due_weeks()} == {odd.pk, other.pk}
    assert {project_id for project_id, _ in cycles.running_weeks_to_refresh()} == {odd.pk, other.pk}


@pytest.mark.postgres
@pytest.mark.parametrize("zone", ["US/Pacific-New", "Mars/Olympus_Mons"])
def test_a_project_whose_time_zone_tzdata_dropped_closes_its_weeks_in_utc(two_projects, zone):
    """Retention buckets its users' weeks in SQL: with the stored name PostgreSQL refused the zone (or, knowing it,
    would count other weeks than Python's UTC ones), so every close of the project failed."""
    odd = two_projects["support-bot"]["project"]
    Project.objects.filter(pk=odd.pk).update(time_zone=zone)
    odd.refresh_from_db()
    week = _last_week(odd)
    OutputFactory(project=odd, end_user_id="u-1", occurred_at=calendar.week_start(odd, week) + timedelta(hours=1))

    cycle = cycles.close_week(project_id=odd.pk, week=week)

    assert cycle.status == CycleStatus.CLOSED and not cycle.failure_kind
    assert RetentionCell.objects.filter(project=odd, cohort_week=week, offset=0, cohort_users=1).exists()


def test_a_project_with_a_large_backlog_does_not_crowd_the_others_out_of_a_sweep(db):
    big, small = ProjectFactory(), ProjectFactory()
    a_while_ago = timezone.now() - timedelta(minutes=10)
    for _ in range(25):
        OutputFactory(project=big, received_at=a_while_ago)
    OutputFactory(project=small, received_at=a_while_ago)

    batches = routing.unrouted_batches(older_than_seconds=60, batch_size=2, batches_per_project=2)

    assert [(project_id, len(ids)) for project_id, ids in batches] == [(big.pk, 2), (big.pk, 2), (small.pk, 1)]


def test_the_closing_page_stops_reloading_when_the_close_failed(client, two_projects):
    bad = two_projects["support-bot"]
    week = _last_week(bad["project"])
    cycles.record_failure(project=bad["project"], week=week, kind="close", error="OperationalError: disk full")
    client.force_login(bad["lead"])

    page = client.get(f"/p/support-bot/meeting/{week:%G-W%V}/?closing=3").content.decode()

    assert 'http-equiv="refresh"' not in page
    assert "The close did not finish" in page and "disk full" in page


def test_a_failed_refresh_neither_delays_nor_hides_the_weeks_close(two_projects):
    """Close and refresh back off on their own: a refresh failure never holds back or masks a close failure."""
    project = two_projects["support-bot"]["project"]
    week = _last_week(project)
    for _ in range(3):
        cycles.record_failure(project=project, week=week, kind="refresh", error="OperationalError: refresh")

    assert (project.pk, week) in cycles.due_weeks()  # the refresh's backoff does not hold the close back

    closed = cycles.record_failure(project=project, week=week, kind="close", error="DataError: close")
    assert (closed.failure_kind, closed.attempts) == ("close", 1)  # its own backoff, from the base delay
    assert (project.pk, week) not in cycles.due_weeks()

    kept = cycles.record_failure(project=project, week=week, kind="refresh", error="OperationalError: again")
    assert (kept.failure_kind, kept.last_error, kept.attempts) == ("close", "DataError: close", 1)


def test_the_sweeps_queue_one_close_and_one_refresh_per_project_week_and_no_more(settings, two_projects):
    """Beat's two sweeps, as the tasks run them: each due week once through the outbox, asked twice or not."""
    settings.CYCLE_RETRY_BASE_SECONDS = 600
    bad, good = two_projects["support-bot"]["project"], two_projects["sql-assistant"]["project"]
    ended = {project.pk: calendar.current_week(project) - timedelta(days=7) for project in (bad, good)}
    cycles.record_failure(project=bad, week=calendar.current_week(bad), kind="refresh", error="boom")

    assert tasks.close_due_weeks() == 2
    assert tasks.close_due_weeks() == 2  # still due: the closes are queued, not run
    closes = enqueued("labeling.close_week")
    assert sorted((m.args[0], m.args[1]) for m in closes) == sorted((pk, w.isoformat()) for pk, w in ended.items())

    assert tasks.refresh_running_weeks() == 1  # the failed refresh waits out its backoff
    [refresh] = enqueued("labeling.refresh_metrics")
    assert refresh.args == [good.pk, calendar.current_week(good).isoformat()]


# Created late on Sunday 4 October in UTC, already Monday 5 October in Berlin: its first week is 2026-W41 there.
CREATED_AT = datetime(2026, 10, 4, 23, 30, tzinfo=UTC)
SWEPT_AT = datetime(2026, 11, 25, 9, tzinfo=UTC)  # 2026-W47 running: 2026-W46 (16 November) the last week due


@pytest.mark.parametrize("weeks_after_created", [-2, -1, 0, 1, 3])
def test_a_failed_close_is_left_to_a_lead_exactly_when_the_sweep_never_retries_it(project, weeks_after_created):
    """The pages, /readyz and the close_failed alert say whether beat tries a failed close again from
    `rules.weekly_close.close_retry`; `services.cycles.due_weeks` is what beat does. They agree for a week before the
    project's first, its first and later ones, each failed with its retry moment past: left to a lead exactly when the
    sweep never hands the week out."""
    Project.objects.filter(pk=project.pk).update(created_at=CREATED_AT, time_zone="Europe/Berlin")
    project.refresh_from_db()
    created, last_due = calendar.created_week(project), weekly_close.last_due_week(project, SWEPT_AT)
    assert (created, last_due) == (date(2026, 10, 5), date(2026, 11, 16))
    # The last week due closed: the only week the sweep may hand out is the failed one, as a retry.
    ReviewCycle.objects.create(project=project, week=last_due, status=CycleStatus.CLOSED)
    failed = created + timedelta(weeks=weeks_after_created)
    retry_at = SWEPT_AT - timedelta(minutes=1)
    ReviewCycle.objects.create(
        project=project, week=failed, status=CycleStatus.OPEN, failure_kind="close", last_error="boom",
        failed_at=retry_at - timedelta(minutes=10), attempts=1, next_attempt_at=retry_at,
    )  # fmt: skip

    retry = weekly_close.close_retry(failed, created=created, next_attempt_at=retry_at, now=SWEPT_AT)
    retried = (project.pk, failed) in cycles.due_weeks(SWEPT_AT)

    assert (retry == weekly_close.CloseRetry.LEFT_TO_A_LEAD) == (not retried)
    assert retried == (weeks_after_created >= 0)  # what both say: beat never closes a week before the project's first
