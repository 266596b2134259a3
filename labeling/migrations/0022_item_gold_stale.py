"""Mark the items whose gold answer may be out of date, so the weekly close resolves those and no others (issue 19).

Until now the close's first step rechecked every resolution ever made (a label newer than its gold answer?):
its cost grew with the project's age. An item now carries `gold_stale`, true from its creation until its gold
answer is computed from its current labels, and set again when a label is edited; a partial index holds the
complete, stale items.

Without holding the item table: each step commits on its own (not atomic). The column is added with a false
default (no rewrite, a moment's lock), only the few complete items whose gold is not current are marked (no gold
yet, or a label newer than it: a scan that blocks no writer), then new rows default to true (a catalogue change),
and the index is built CONCURRENTLY on PostgreSQL. Open items are marked too: the code running before this
deploy completes items without marking them, and the partial index never holds an open item.

Safe to run again after a failure part-way (a lock timeout, a cancelled deploy): the column is added only if it
is missing, an index left INVALID by a failed concurrent build is dropped and built again, and the marking is
idempotent. The ALTERs wait at most LOCK_TIMEOUT for their moment's lock instead of queueing every query on the
item table behind a long transaction.
"""

from django.db import migrations, models
from django.db.models import Exists, OuterRef, Q

GOLD_STALE_INDEX = models.Index(
    condition=models.Q(("gold_stale", True), ("status", "complete")),
    fields=["project", "week"],
    name="item_gold_stale",
)


LOCK_TIMEOUT = "10s"


def _field(*, default: bool) -> models.BooleanField:
    return models.BooleanField(db_default=default, default=default)


def add_column(apps, schema_editor):
    Item = apps.get_model("labeling", "Item")
    if schema_editor.connection.vendor != "postgresql":
        field = _field(default=False)
        field.set_attributes_from_name("gold_stale")
        schema_editor.add_field(Item, field)
        return
    table = Item._meta.db_table
    schema_editor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    schema_editor.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS gold_stale boolean DEFAULT false NOT NULL")
    schema_editor.execute("RESET lock_timeout")


def mark_stale_gold(apps, schema_editor):
    Item, Label = apps.get_model("labeling", "Item"), apps.get_model("labeling", "Label")
    newer_label = Label.objects.filter(item=OuterRef("pk"), updated_at__gt=OuterRef("resolution__updated_at"))
    stale = Q(status="complete") & (Q(resolution__isnull=True) | Exists(newer_label))
    Item.objects.filter(stale | Q(status="open"), gold_stale=False).update(gold_stale=True)


def default_to_stale(apps, schema_editor):
    Item = apps.get_model("labeling", "Item")
    if schema_editor.connection.vendor != "postgresql":
        old, new = _field(default=False), _field(default=True)
        for field in (old, new):
            field.set_attributes_from_name("gold_stale")
            field.model = Item
        schema_editor.alter_field(Item, old, new)
        return
    schema_editor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    schema_editor.execute(f"ALTER TABLE {Item._meta.db_table} ALTER COLUMN gold_stale SET DEFAULT true")
    schema_editor.execute("RESET lock_timeout")


def add_index(apps, schema_editor):
    Item = apps.get_model("labeling", "Item")
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.add_index(Item, GOLD_STALE_INDEX)
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [GOLD_STALE_INDEX.name],
        )
        found = cursor.fetchone()
    if found and found[0]:
        return  # built by an earlier run
    if found:  # left INVALID by a concurrent build that failed: it would never be used
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {GOLD_STALE_INDEX.name}")
    sql = str(GOLD_STALE_INDEX.create_sql(Item, schema_editor))
    schema_editor.execute(sql.replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1))


def remove_column(apps, schema_editor):
    Item = apps.get_model("labeling", "Item")  # the state before the column: build the field to drop
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {Item._meta.db_table} DROP COLUMN IF EXISTS gold_stale")
        return
    field = _field(default=False)
    field.set_attributes_from_name("gold_stale")
    field.model = Item
    schema_editor.remove_field(Item, field)


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
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddField(model_name="item", name="gold_stale", field=_field(default=False))],
            database_operations=[migrations.RunPython(add_column, remove_column)],
        ),
        migrations.RunPython(mark_stale_gold, migrations.RunPython.noop),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AlterField(model_name="item", name="gold_stale", field=_field(default=True))],
            database_operations=[migrations.RunPython(default_to_stale, migrations.RunPython.noop)],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="item", index=GOLD_STALE_INDEX)],
            database_operations=[migrations.RunPython(add_index, remove_index)],
        ),
    ]
