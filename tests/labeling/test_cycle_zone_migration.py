"""Migration 0058: a week closed before 0056 kept its zone had it blank, and its meeting page named the project's zone
now; it now names the zone the week was closed in, as the audited zone changes tell it."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from labeling.models import ReviewCycle, week_label
from tests.factories import created_weeks_ago
from tests.helpers.migrations import migrate, migrate_to_latest

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BEFORE = [("labeling", "0057_template_queue_descriptions")]
AFTER = [("labeling", "0058_cycle_closed_zone_from_audit")]


def _monday(weeks_ago: int) -> date:
    today = datetime.now(UTC).date()
    return today - timedelta(days=today.weekday(), weeks=weeks_ago)


def test_a_week_closed_before_its_zone_was_kept_names_the_zone_it_was_closed_in(client, project, lead):
    created_weeks_ago(project, 10)
    weeks = {name: _monday(ago) for name, ago in (("utc", 6), ("new_york", 4), ("paris", 2), ("kept", 3), ("open", 5))}
    moment = {
        name: datetime.combine(week + timedelta(days=8), datetime.min.time(), UTC) for name, week in weeks.items()
    }
    apps = migrate(BEFORE)
    try:
        OldCycle, OldEvent, OldProject = (apps.get_model("labeling", name) for name in ("ReviewCycle", "AuditEvent",
                                                                                       "Project"))  # fmt: skip
        OldProject.objects.filter(pk=project.pk).update(time_zone="Europe/Paris")
        for name in ("utc", "new_york", "paris"):
            OldCycle.objects.create(project_id=project.pk, week=weeks[name], status="closed", closed_at=moment[name])
        OldCycle.objects.create(project_id=project.pk, week=weeks["kept"], status="closed", closed_at=moment["kept"],
                                closed_in_time_zone="Asia/Tokyo")  # fmt: skip
        OldCycle.objects.create(project_id=project.pk, week=weeks["open"])
        # UTC until after the first week's close, New York until after the second's; an edit of another setting too.
        for at, changes in (
            (moment["utc"] + timedelta(hours=1), {"time_zone": {"before": "UTC", "after": "America/New_York"}}),
            (moment["new_york"] + timedelta(hours=1), {"name": {"before": "Old", "after": "New"}}),
            (moment["new_york"] + timedelta(hours=2),
             {"time_zone": {"before": "America/New_York", "after": "Europe/Paris"}}),
        ):  # fmt: skip
            event = OldEvent.objects.create(project_id=project.pk, action="project.settings_changed",
                                            details={"changes": changes})  # fmt: skip
            OldEvent.objects.filter(pk=event.pk).update(at=at)

        migrate(AFTER)
    finally:
        migrate_to_latest()

    zones = dict(ReviewCycle.objects.filter(project=project).values_list("week", "closed_in_time_zone"))
    assert zones == {
        weeks["utc"]: "UTC",
        weeks["new_york"]: "America/New_York",
        weeks["paris"]: "Europe/Paris",
        weeks["kept"]: "Asia/Tokyo",
        weeks["open"]: "",
    }
    client.force_login(lead)
    page = client.get(reverse("labeling:meeting-week", args=[project.slug, week_label(weeks["new_york"])]))
    assert "· America/New_York" in page.content.decode()
