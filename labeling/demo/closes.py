"""When the demo's weeks closed: minutes after each ended, as beat closes them, not when the demo was seeded.

The demo closes each week through the service at that moment (its `now`): the cycle's row, the report it froze and the
dataset versions it built say so. Only the audit entries the close wrote take the clock's moment, and are dated back
here, so a week's close comes before its meeting and tells the moment its Slack posts do
(webhooks.record_slack_answers)."""

from datetime import datetime, timedelta

from labeling.models import AuditEvent, Project, ReviewCycle
from labeling.rules.calendar import week_end
from labeling.services import cycles


def closed_at(project: Project, week, now: datetime) -> datetime:
    """When beat closed the week: minutes after it ended; seeded sooner than that, halfway from its end to now, so
    the failed delivery's retries have moments of their own before now (at now, every attempt shared it)."""
    ended = week_end(project, week)
    return min(ended + timedelta(minutes=5), ended + (now - ended) / 2)


def close_in_its_time(*, project: Project, week, closed_by, now: datetime, at: datetime | None = None) -> ReviewCycle:
    """Close the week through the service at `at` (by default `closed_at`), with the audit entries the close wrote
    (`cycle.closed`, and any comparison it made again) dated there too.

    A week the week after which has ended too had its experts' digests sent by its close back then: marked so, the
    seed prints only the digests of the last week's close (sent as it commits), not one per week of the story."""
    written_before = AuditEvent.objects.filter(project=project).order_by("-pk").values_list("pk", flat=True).first()
    at = at or closed_at(project, week, now)
    cycle = cycles.close_week(project_id=project.pk, week=week, closed_by=closed_by, now=at)
    AuditEvent.objects.filter(project=project, pk__gt=written_before or 0).update(at=at)
    if week_end(project, week + timedelta(days=7)) <= now:
        ReviewCycle.objects.filter(pk=cycle.pk, digests_sent_at__isnull=True).update(digests_sent_at=at)
    cycle.refresh_from_db()
    return cycle
