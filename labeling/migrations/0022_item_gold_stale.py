"""Mark the items whose gold answer may be out of date, so the weekly close resolves those and no others (issue 19).

Until now the close's first step rechecked every resolution ever made (a label newer than its gold answer?):
its cost grew with the project's age. An item now carries `gold_stale`, true from its creation until its gold
answer is computed from its current labels, and set again when a label is edited; a partial index holds the
complete, stale items.

Without holding the item table: each step commits on its own (not atomic). The column is added with a false
default (no rewrite, a moment's lock), only the few complete items whose gold is not current are marked (no gold
yet, or a label newer than it: a scan that blocks no writer), then new rows default to true (a catalogue change),
and the index is built CONCURRENTLY on PostgreSQL. Items still open are marked when they complete.
"""

from django.db import migrations, models
from django.db.models import Exists, OuterRef, Q

GOLD_STALE_INDEX = models.Index(
    condition=models.Q(("gold_stale", True), ("status", "complete")),
    fields=["project", "week"],
    name="item_gold_stale",
)


def mark_stale_gold(apps, schema_editor):
    Item, Label = apps.get_model("labeling", "Item"), apps.get_model("labeling", "Label")
    newer_label = Label.objects.filter(item=OuterRef("pk"), updated_at__gt=OuterRef("resolution__updated_at"))
    Item.objects.filter(Q(resolution__isnull=True) | Exists(newer_label), status="complete").update(gold_stale=True)


def add_index(apps, schema_editor):
    Item = apps.get_model("labeling", "Item")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_index(Item, GOLD_STALE_INDEX)
        return
    sql = str(GOLD_STALE_INDEX.create_sql(Item, schema_editor)).replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1)
    schema_editor.execute(sql.replace("CONCURRENTLY", "CONCURRENTLY IF NOT EXISTS", 1))


def remove_index(apps, schema_editor):
    Item = apps.get_model("labeling", "Item")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.remove_index(Item, GOLD_STALE_INDEX)
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {GOLD_STALE_INDEX.name}")


class Migration(migrations.Migration):
    atomic = False  # each step commits on its own; CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("labeling", "0021_incremental_dataset_versions"),
    ]

    operations = [
        migrations.AddField(
            model_name="item",
            name="gold_stale",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.RunPython(mark_stale_gold, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="item",
            name="gold_stale",
            field=models.BooleanField(db_default=True, default=True),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="item", index=GOLD_STALE_INDEX)],
            database_operations=[migrations.RunPython(add_index, remove_index)],
        ),
    ]
