"""Fill the time zone of the weeks closed before 0056 kept it (`ReviewCycle.closed_in_time_zone`, blank for them).

The meeting page names a closed week's zone; a blank one read as the project's zone now, wrong for a week closed before
the zone changed. Every change of the zone made in the app is audited (`project.settings_changed`, with the zone
`before` and `after`), so the zone a week was closed in is the `before` of the first change after its close, or, with
none since, the zone now. A change made where nothing audits it (the Django admin) cannot be seen: such a week gets the
zone the trail gives, never one worse than the blank's fall-back. A week closed without a close time stays blank.

Reversing changes nothing: 0056's reverse drops the field.
"""

from django.db import migrations


def _zone_changes(events):
    """(moment, zone before) of each audited change of the zone, oldest first."""
    changes = []
    for at, details in events:
        changed = details.get("changes") if isinstance(details, dict) else None
        zone = changed.get("time_zone") if isinstance(changed, dict) else None
        before = zone.get("before") if isinstance(zone, dict) else None
        if isinstance(before, str) and before:
            changes.append((at, before))
    return changes


def fill_closed_zones(apps, schema_editor):
    ReviewCycle = apps.get_model("labeling", "ReviewCycle")
    AuditEvent = apps.get_model("labeling", "AuditEvent")
    Project = apps.get_model("labeling", "Project")
    blank = ReviewCycle.objects.filter(status="closed", closed_in_time_zone="", closed_at__isnull=False)
    for project_id in set(blank.values_list("project_id", flat=True)):
        zone_now = Project.objects.filter(pk=project_id).values_list("time_zone", flat=True).get()
        changes = _zone_changes(
            AuditEvent.objects.filter(project_id=project_id, action="project.settings_changed")
            .order_by("at", "pk")
            .values_list("at", "details")
        )
        by_zone = {}
        for pk, closed_at in blank.filter(project_id=project_id).values_list("pk", "closed_at"):
            zone = next((before for at, before in changes if at > closed_at), zone_now)
            by_zone.setdefault(zone, []).append(pk)
        for zone, pks in by_zone.items():
            ReviewCycle.objects.filter(pk__in=pks).update(closed_in_time_zone=zone[:64])


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0057_template_queue_descriptions"),
    ]

    operations = [
        migrations.RunPython(fill_closed_zones, migrations.RunPython.noop),
    ]
