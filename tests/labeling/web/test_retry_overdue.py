"""A failed close (or refresh) names when it is tried again; once that moment is well past and nothing has tried it
(no worker, no beat), the meeting page says so instead of promising a retry that is not coming; the close of a week
from before the project's first is never tried again (`rules.weekly_close.close_retry`, as the close_failed alert
says), nor the refresh of a week that has ended (`refresh_retry`: beat refreshes only the running week). /readyz
names no next attempt for those. Time is pinned to Monday 2026-12-07 23:00 UTC (2026-W50 running, Tuesday 00:00 in
the project's Europe/Berlin time)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from labeling.models import CycleStatus, ReviewCycle
from labeling.rules.weekly_close import OVERDUE_AFTER, retry_overdue
from labeling.services import cycles
from labeling.services.health import record_heartbeat
from tests.factories import OutputFactory, UserFactory

NOW = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
W50 = date(2026, 12, 7)
W49 = date(2026, 11, 30)
W48 = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def pinned(project, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    project.created_at, project.time_zone = NOW - timedelta(weeks=104), "Europe/Berlin"
    project.save(update_fields=["created_at", "time_zone"])


def failures_notice(client, project, *, kind: str, next_attempt_at: datetime, week: date = W49, page="2026-W49") -> str:
    ReviewCycle.objects.create(
        project=project,
        week=week,
        status=CycleStatus.OPEN,
        failure_kind=kind,
        last_error="boom",
        failed_at=next_attempt_at - timedelta(minutes=10),
        attempts=1,
        next_attempt_at=next_attempt_at,
    )
    html = client.get(reverse("labeling:meeting-week", args=[project.slug, page])).content.decode()
    return " ".join(html.split('id="cycle-failures"')[1].split("</section>")[0].split())


def test_a_retry_still_to_come_is_announced(client, lead, project):
    client.force_login(lead)

    notice = failures_notice(client, project, kind="close", next_attempt_at=NOW + timedelta(minutes=5))

    assert "It is tried again automatically from 2026-12-08 00:05 CET, or close the week by hand below." in notice


def test_another_weeks_retry_still_to_come_sends_the_lead_to_that_weeks_page(client, lead, project):
    """As the other retries say: the close-by-hand button below acts on the page's week, not on another's."""
    client.force_login(lead)

    notice = failures_notice(client, project, kind="close", next_attempt_at=NOW + timedelta(minutes=5), week=W48)

    assert (
        "It is tried again automatically from 2026-12-08 00:05 CET, or close the week by hand from its page." in notice
    )


def test_a_failed_refresh_of_the_running_week_is_announced_and_beat_tries_it_then(client, lead, project):
    client.force_login(lead)
    retry_at = NOW + timedelta(minutes=5)

    notice = failures_notice(client, project, kind="refresh", next_attempt_at=retry_at, week=W50, page="2026-W50")

    assert "It is tried again automatically from 2026-12-08 00:05 CET." in notice
    assert (project.pk, W50) not in cycles.running_weeks_to_refresh(retry_at - timedelta(seconds=1))
    assert (project.pk, W50) in cycles.running_weeks_to_refresh(retry_at + timedelta(seconds=1))


@pytest.mark.parametrize(
    "next_attempt_at",
    [NOW + timedelta(minutes=5), datetime(2026, 12, 6, 23, 15, tzinfo=UTC)],
    ids=["retry-time-to-come", "retry-time-long-past"],
)
@pytest.mark.parametrize(
    "page, by_hand",
    [("2026-W49", "Refresh the figures by hand below"), ("2026-W50", "Refresh the figures by hand from its page")],
)
def test_the_failed_refresh_of_a_week_that_has_ended_is_not_promised_a_retry(
    client, lead, project, next_attempt_at, page, by_hand
):
    """W49's refresh failed while it ran (or a lead's refresh of it failed since): its recorded next attempt is no
    retry, as beat refreshes only the running week. The page said "It is tried again automatically from …" until the
    week closed, or, once that moment was past, that a worker or beat must be down."""
    client.force_login(lead)

    notice = failures_notice(client, project, kind="refresh", next_attempt_at=next_attempt_at, page=page)

    assert "tried again automatically from" not in notice and "has not been" not in notice
    assert (
        "It is not tried again automatically: the week has ended, and only the running week's figures are refreshed "
        f"by themselves. {by_hand}, or close the week: its close computes them again."
    ) in notice
    for moment in (NOW, NOW + timedelta(days=1)):
        assert (project.pk, W49) not in cycles.running_weeks_to_refresh(moment)


@pytest.mark.parametrize(
    "kind, week, page, by_hand",
    [
        ("close", W49, "2026-W49", "Close the week by hand below."),
        ("refresh", W50, "2026-W50", "Refresh the figures by hand below."),
    ],
)
def test_a_retry_long_past_says_it_has_not_happened_and_what_to_do(client, lead, project, kind, week, page, by_hand):
    client.force_login(lead)

    notice = failures_notice(
        client, project, kind=kind, next_attempt_at=datetime(2026, 12, 6, 23, 15, tzinfo=UTC), week=week, page=page
    )

    assert "tried again automatically from" not in notice
    assert (
        "It was due to be tried again at 2026-12-07 00:15 CET and has not been: are a worker and beat running? "
        f"{by_hand}"
    ) in notice


@pytest.mark.parametrize(
    "next_attempt_at",
    [NOW + timedelta(minutes=5), datetime(2026, 12, 6, 23, 15, tzinfo=UTC)],
    ids=["retry-time-to-come", "retry-time-long-past"],
)
def test_the_failed_close_of_a_week_before_the_projects_first_is_left_to_a_lead(client, lead, project, next_attempt_at):
    """Created on Monday of W50, the project's first week; W49 holds an output sent with its date, and a lead's close
    of it failed. Beat never closes a week before the project's first (its failure's next attempt is no retry), so
    the notice promises none and says it is not late either: the lead closes it, with the button below."""
    project.created_at = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    project.save(update_fields=["created_at"])
    OutputFactory(project=project, occurred_at=datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
    client.force_login(lead)

    notice = failures_notice(client, project, kind="close", next_attempt_at=next_attempt_at)

    assert "tried again automatically from" not in notice and "has not been" not in notice
    assert (
        "It is not tried again automatically: the weekly close will not close it (it never closes a week before the "
        "one the project was created in). Close the week by hand below."
    ) in notice
    page = client.get(reverse("labeling:meeting-week", args=[project.slug, "2026-W49"])).content.decode()
    assert 'id="close-week"' in page


@pytest.mark.parametrize(
    "kind, week, by_hand",
    [
        ("close", W48, "Close the week by hand from its page."),
        ("refresh", W50, "Refresh the figures by hand from its page."),
    ],
)
def test_another_weeks_overdue_retry_sends_the_lead_to_that_weeks_page(client, lead, project, kind, week, by_hand):
    """The notice lists every failing week on each week's meeting page; the buttons below act on the page's week."""
    client.force_login(lead)

    notice = failures_notice(
        client, project, kind=kind, next_attempt_at=datetime(2026, 12, 6, 23, 15, tzinfo=UTC), week=week
    )

    assert f"are a worker and beat running? {by_hand}" in notice and "by hand below" not in notice


def test_a_retry_is_overdue_once_a_sweep_and_the_close_should_have_run():
    due = datetime(2026, 12, 7, 0, 15, tzinfo=UTC)

    assert not retry_overdue(None, NOW)
    assert not retry_overdue(due, due + OVERDUE_AFTER - timedelta(seconds=1))
    assert retry_overdue(due, due + OVERDUE_AFTER)


@pytest.mark.redis
@pytest.mark.parametrize(
    "kind, week, created, next_attempt",
    [
        ("refresh", W50, NOW - timedelta(weeks=104), "2026-12-07T23:05:00Z"),
        ("refresh", W49, NOW - timedelta(weeks=104), None),  # the week has ended: beat refreshes only the running one
        ("close", W49, NOW - timedelta(weeks=104), "2026-12-07T23:05:00Z"),
        ("close", W49, datetime(2026, 12, 7, 11, 0, tzinfo=UTC), None),  # before the project's first: left to a lead
    ],
    ids=["running-refresh", "ended-refresh", "close", "close-left-to-a-lead"],
)
def test_readyz_names_a_next_attempt_only_when_beat_makes_one(client, project, kind, week, created, next_attempt):
    """The operator's /readyz detail gave every failure the `next_attempt_at` recorded when it failed, also when beat
    never tries it again: as the meeting page's notice, it now says none (null)."""
    project.created_at = created
    project.save(update_fields=["created_at"])
    OutputFactory(project=project, occurred_at=datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
    ReviewCycle.objects.create(
        project=project, week=week, status=CycleStatus.OPEN, failure_kind=kind, last_error="boom",
        failed_at=NOW - timedelta(minutes=5), attempts=1, next_attempt_at=NOW + timedelta(minutes=5),
    )  # fmt: skip
    record_heartbeat(hostname="celery@worker-1")
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))

    [row] = client.get("/readyz").json()["projects"]

    [failure] = row["failures"]
    assert (failure["week"], failure["kind"], failure["next_attempt_at"]) == (
        week.strftime("%G-W%V"),
        kind,
        next_attempt,
    )
