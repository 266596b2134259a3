"""The audit log's reads: pages cut on (at, id) that neither repeat nor skip events sharing a timestamp, in
either direction; filters by action, actor (or nobody) and days in the project's time zone."""

from datetime import UTC, date, datetime, timedelta

import pytest

from labeling.exceptions import InvalidInput
from labeling.models import AuditEvent
from labeling.selectors.audit import AuditFilter, actions_in_log, actors_in_log, audit_page

EVERYTHING = AuditFilter()


def event(project, action="queue.created", *, at, actor=None, **details) -> AuditEvent:
    made = AuditEvent.objects.create(project=project, action=action, actor=actor, details=details)
    AuditEvent.objects.filter(pk=made.pk).update(at=at)  # `at` is auto_now_add
    made.at = at
    return made


def ids(page) -> list[int]:
    return [e.pk for e in page.events]


@pytest.fixture
def crowded(project):
    """Eleven events, seven of them at the very same moment (a bulk action), newest first by (at, id)."""
    noon = datetime(2026, 11, 20, 12, tzinfo=UTC)
    events = [event(project, at=noon - timedelta(hours=2)), event(project, at=noon - timedelta(hours=1))]
    events += [event(project, at=noon, n=n) for n in range(7)]
    events += [event(project, at=noon + timedelta(hours=1)), event(project, at=noon + timedelta(hours=2))]
    return sorted(events, key=lambda e: (e.at, e.pk), reverse=True)


def test_pages_going_older_neither_repeat_nor_skip_events_that_share_a_timestamp(project, crowded):
    pages = [audit_page(project, where=EVERYTHING, size=3)]
    while pages[-1].older:
        pages.append(audit_page(project, where=EVERYTHING, older_than=pages[-1].older, size=3))

    assert [ids(page) for page in pages] == [[e.pk for e in crowded[i : i + 3]] for i in range(0, 11, 3)]
    assert pages[0].newer is None and all(page.newer for page in pages[1:])


def test_pages_going_newer_give_back_the_same_pages(project, crowded):
    older = [audit_page(project, where=EVERYTHING, size=3)]
    while older[-1].older:
        older.append(audit_page(project, where=EVERYTHING, older_than=older[-1].older, size=3))

    back = [older[-1]]
    while back[-1].newer:
        back.append(audit_page(project, where=EVERYTHING, newer_than=back[-1].newer, size=3))

    # From the oldest page back to the newest: every event once, in order, ending at the newest page.
    walked = [e for page in reversed(back) for e in ids(page)]
    assert walked == [e.pk for e in crowded] and len(set(walked)) == 11
    assert ids(back[-1]) == [e.pk for e in crowded[:3]] and back[-1].newer is None


def test_a_cursor_from_another_project_is_refused(project, other_project):
    theirs = event(other_project, at=datetime(2026, 11, 20, tzinfo=UTC))
    with pytest.raises(InvalidInput):
        audit_page(project, where=EVERYTHING, older_than=theirs.pk)
    with pytest.raises(InvalidInput):
        audit_page(project, where=EVERYTHING, newer_than=theirs.pk)


def test_only_the_projects_own_events_are_read(project, other_project):
    mine = event(project, at=datetime(2026, 11, 20, tzinfo=UTC))
    event(other_project, at=datetime(2026, 11, 21, tzinfo=UTC))
    assert ids(audit_page(project, where=EVERYTHING)) == [mine.pk]


def test_filters_by_action_actor_and_nobody(project, lead, engineer):
    at = datetime(2026, 11, 20, tzinfo=UTC)
    created = event(project, "api_key.created", at=at, actor=lead)
    revoked = event(project, "api_key.revoked", at=at, actor=engineer)
    closed = event(project, "cycle.closed", at=at)

    def where(**kwargs):
        return set(ids(audit_page(project, where=AuditFilter(**kwargs))))

    assert where(actions=("api_key.created", "api_key.revoked")) == {created.pk, revoked.pk}
    assert where(actions=("cycle.closed",)) == {closed.pk}
    assert where(actor_id=lead.pk) == {created.pk}
    assert where(automatic=True) == {closed.pk}
    assert where(actions=("api_key.revoked",), actor_id=lead.pk) == set()
    assert actions_in_log(project) == ["api_key.created", "api_key.revoked", "cycle.closed"]
    assert [user.username for user in actors_in_log(project)] == ["enzo", "lena"]


def test_days_are_the_projects_days(project):
    """In New York, 03:00 UTC on the 21st is still the evening of the 20th."""
    project.time_zone = "America/New_York"
    project.save()
    evening = event(project, at=datetime(2026, 11, 21, 3, tzinfo=UTC))  # 22:00 on the 20th in New York
    morning = event(project, at=datetime(2026, 11, 21, 14, tzinfo=UTC))  # 09:00 on the 21st
    late = event(project, at=datetime(2026, 11, 22, 4, 59, tzinfo=UTC))  # 23:59 on the 21st

    def days(first=None, last=None):
        return set(ids(audit_page(project, where=AuditFilter(first_day=first, last_day=last))))

    assert days(first=date(2026, 11, 21)) == {morning.pk, late.pk}
    assert days(last=date(2026, 11, 20)) == {evening.pk}
    assert days(first=date(2026, 11, 21), last=date(2026, 11, 21)) == {morning.pk, late.pk}
    assert days(first=date(2026, 11, 22)) == set()
