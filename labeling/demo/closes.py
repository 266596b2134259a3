"""When the demo's weeks closed: minutes after each ended, as beat closes them, not when the demo was seeded.

The close service stamps its own moment (the seed's); the demo dates each close back to its place in the story, in
the cycle's row, the dataset versions it built and the audit entries it wrote, so a week's close comes before its
meeting and tells the moment its Slack posts do (webhooks.record_slack_answers)."""

from datetime import datetime, timedelta

from labeling.models import AuditEvent, DatasetVersion, Project, ReviewCycle
from labeling.rules.calendar import cycle_week, week_end
from labeling.services import cycles


def closed_at(project: Project, week, now: datetime) -> datetime:
    """When beat closed the week: minutes after it ended; seeded sooner than that, halfway from its end to now, so
    the failed delivery's retries have moments of their own before now (at now, every attempt shared it)."""
    ended = week_end(project, week)
    return min(ended + timedelta(minutes=5), ended + (now - ended) / 2)


def close_in_its_time(*, project: Project, week, closed_by, now: datetime, at: datetime | None = None) -> ReviewCycle:
    """Close the week through the service, dated at `at` (by default `closed_at`): its row, the dataset versions it
    built (made, built and in the week of that moment) and the audit entries the close wrote (`cycle.closed`, and any
    comparison it made again)."""
    written_before = AuditEvent.objects.filter(project=project).order_by("-pk").values_list("pk", flat=True).first()
    built_before = DatasetVersion.objects.order_by("-pk").values_list("pk", flat=True).first()
    cycle = cycles.close_week(project_id=project.pk, week=week, closed_by=closed_by, now=now)
    at = at or closed_at(project, week, now)
    ReviewCycle.objects.filter(pk=cycle.pk, status="closed").update(closed_at=at)
    DatasetVersion.objects.filter(dataset__project=project, pk__gt=built_before or 0).update(
        created_at=at, built_at=at, cycle_week=cycle_week(project, at)
    )
    AuditEvent.objects.filter(project=project, pk__gt=written_before or 0).update(at=at)
    cycle.refresh_from_db()
    return cycle
