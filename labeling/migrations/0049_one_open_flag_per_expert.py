from django.conf import settings
from django.db import migrations, models

NOTE_LIMIT = 2000


def merge_open_flags(apps, schema_editor):
    """Fold each expert's open flags on an item into the oldest one: its note becomes their notes, oldest first (each
    once), and the others go. An expert flagging an item again now changes their open flag instead."""
    Flag = apps.get_model("labeling", "Flag")
    duplicated = (
        Flag.objects.filter(resolved_at__isnull=True)
        .values("item_id", "expert_id")
        .annotate(count=models.Count("pk"))
        .filter(count__gt=1)
        .values_list("item_id", "expert_id")
    )
    for item_id, expert_id in duplicated:
        flags = list(Flag.objects.filter(item_id=item_id, expert_id=expert_id, resolved_at__isnull=True).order_by("pk"))
        kept, notes = flags[0], []
        for flag in flags:
            if flag.note not in notes:
                notes.append(flag.note)
        kept.note = "\n\n".join(notes)[:NOTE_LIMIT]
        kept.save(update_fields=["note"])
        Flag.objects.filter(pk__in=[flag.pk for flag in flags[1:]]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0048_flag_resolution"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The merged flags cannot be told apart again: going back keeps the one flag.
        migrations.RunPython(merge_open_flags, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="flag",
            constraint=models.UniqueConstraint(
                condition=models.Q(("resolved_at__isnull", True)),
                fields=("item", "expert"),
                name="flag_one_open_per_expert",
            ),
        ),
    ]
