"""The hourly limit both keys and invitations use: rows within the window count, older ones and other
projects' do not; past the limit a TooManyRequests says when the oldest counted row leaves the window."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.exceptions import TooManyRequests
from labeling.models import AuditEvent
from labeling.rules.limits import check_window_limit

HOUR = timedelta(hours=1)
REFUSAL = "{limit} sends in the last hour. Try again in {wait}."


def sent(project, minutes_ago: float):
    made = AuditEvent.objects.create(project=project, action="member.invited", details={})
    AuditEvent.objects.filter(pk=made.pk).update(at=timezone.now() - timedelta(minutes=minutes_ago))


def check(project, limit=3):
    rows = AuditEvent.objects.filter(project=project)
    check_window_limit(rows, at="at", limit=limit, window=HOUR, refusal=REFUSAL)


def test_below_the_limit_passes_and_old_or_foreign_rows_do_not_count(project, other_project):
    sent(project, 5)
    sent(project, 10)
    sent(project, 61)  # left the window
    for minutes in (1, 2, 3):
        sent(other_project, minutes)
    check(project)  # two in the window: one more is allowed


@pytest.mark.parametrize(
    ("ages", "minutes"),
    # In the last case the limit counts the three newest: the fourth, older row does not set the wait.
    [((1, 2, 3.5), 57), ((1, 2, 59.5), 1), ((0.5, 0.5, 0.5, 30), 60)],
)
def test_past_the_limit_it_says_when_the_oldest_counted_row_leaves_the_window(project, ages, minutes):
    for age in ages:
        sent(project, age)
    with pytest.raises(TooManyRequests) as refused:
        check(project)
    oldest_counted = sorted(ages)[2]
    expected = (60 - oldest_counted) * 60
    assert expected - 5 <= refused.value.retry_after <= expected + 1
    unit = "minute" if minutes == 1 else "minutes"
    assert refused.value.message == f"3 sends in the last hour. Try again in {minutes} {unit}."
