"""When a paused queue's figures count as work expected of it: one rule for the platform page, the meeting page's
report and the dashboard, so none of them shows a quota missed that another leaves out.

A queue its lead paused (`Queue.is_active` off) hands out nothing (`access.hands_out_items`): in the running week its
labels wanted and its quota are no work expected. Any other week's figures are what that week had, as stored: the
pause is judged as it stands now, which says nothing about a week that is over (a closed week's report is the one its
close froze). The alerts judge a closed week's quota on their own terms (`alerts.quota_missed`: a pause overlapping
that week spares it).
"""

from datetime import date

from django.db.models import Q


def expects_work(*, queue_active: bool, week: date, running_week: date) -> bool:
    """Whether a queue's figures of the week count as work expected of it: not in the running week while paused."""
    return queue_active or week != running_week


def expecting_work(running_week: date) -> Q:
    """`expects_work` as a filter on QueueWeek rows."""
    return ~Q(week=running_week, queue__is_active=False)
