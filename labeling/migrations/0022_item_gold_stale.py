"""Mark the items whose gold answer may be out of date, so the weekly close resolves those and no others (issue 19).

Until now the close's first step rechecked every resolution ever made (a label newer than its gold answer?):
its cost grew with the project's age. An item now carries `gold_stale`, true from its creation until its gold
answer is computed from its current labels, and set again when a label is edited; a partial index holds the
complete, stale items. Existing complete items whose resolution is at least as new as every label are marked
current here; the rest (no resolution, or a newer label) stay stale and the next close resolves them.
"""

from django.db import migrations, models
from django.db.models import Exists, OuterRef


def mark_current_gold(apps, schema_editor):
    Item, Label = apps.get_model("labeling", "Item"), apps.get_model("labeling", "Label")
    newer_label = Label.objects.filter(item=OuterRef("pk"), updated_at__gt=OuterRef("resolution__updated_at"))
    Item.objects.filter(status="complete", resolution__isnull=False).exclude(Exists(newer_label)).update(
        gold_stale=False
    )


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0021_incremental_dataset_versions"),
    ]

    operations = [
        migrations.AddField(
            model_name="item",
            name="gold_stale",
            field=models.BooleanField(db_default=True, default=True),
        ),
        migrations.RunPython(mark_current_gold, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="item",
            index=models.Index(
                condition=models.Q(("gold_stale", True), ("status", "complete")),
                fields=["project", "week"],
                name="item_gold_stale",
            ),
        ),
    ]
