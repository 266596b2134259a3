"""Slot indexes the planner cannot misjudge when statistics are older than an expert's history (issue 19).

After a bulk import, or while a history grows faster than autoanalyze, the planner expects one row for any
lookup by expert and picked the cheapest-looking index holding `expert_id`: the partial `slot_one_per_expert`
(believed empty when ANALYZEd while nobody held a slot) or the foreign key's own index, and read every slot
of the expert to find their one lease (9-13 ms at 50,000 labels, for "next item"'s resume and the label's
submit). `slot_one_per_expert` becomes a whole index (the same uniqueness: free slots' NULLs are distinct)
and the foreign key index goes (`slot_expert_state` leads with the expert), so a lookup by expert and state
finds only `slot_expert_state`.

On PostgreSQL without locking the table while it builds: Django's own operations would rebuild the unique
index under a table lock and, for `db_index=False`, drop and re-add the foreign key (a check of every slot
against auth_user, which blocks writes to it until the migration ends). Here the indexes are built and dropped
CONCURRENTLY (so the migration is not atomic) and the foreign key is left alone; the unique index becomes the
constraint in place (`ADD CONSTRAINT … USING INDEX`, no scan). On SQLite (the demo) the database is left as it
is: its partial index allows exactly what the whole one does.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

OLD_UNIQUE = models.UniqueConstraint(
    condition=models.Q(expert__isnull=False), fields=("item", "expert"), name="slot_one_per_expert"
)
NEW_UNIQUE = models.UniqueConstraint(fields=("item", "expert"), name="slot_one_per_expert")


def expert_field(*, db_index: bool) -> models.ForeignKey:
    return models.ForeignKey(
        blank=True,
        db_index=db_index,
        null=True,
        on_delete=django.db.models.deletion.SET_NULL,
        related_name="slots",
        to=settings.AUTH_USER_MODEL,
    )


STATE_OPERATIONS = [
    migrations.RemoveConstraint(model_name="slot", name="slot_one_per_expert"),
    migrations.AlterField(model_name="slot", name="expert", field=expert_field(db_index=False)),
    migrations.AddConstraint(model_name="slot", constraint=NEW_UNIQUE),
]


def forwards(apps, schema_editor):
    Slot = apps.get_model("labeling", "Slot")
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite (the demo): the partial index allows exactly what the whole one does; no planner to mislead
    table = Slot._meta.db_table
    fk_index = schema_editor._create_index_name(table, ["expert_id"], suffix="")
    for statement in (
        f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS slot_one_per_expert_whole ON {table} (item_id, expert_id)",
        "DROP INDEX CONCURRENTLY IF EXISTS slot_one_per_expert",
        f"ALTER TABLE {table} ADD CONSTRAINT slot_one_per_expert UNIQUE USING INDEX slot_one_per_expert_whole",
        f"DROP INDEX CONCURRENTLY IF EXISTS {fk_index}",
    ):
        schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    Slot = apps.get_model("labeling", "Slot")
    schema_editor.remove_constraint(Slot, NEW_UNIQUE)
    schema_editor.add_constraint(Slot, OLD_UNIQUE)
    table = Slot._meta.db_table
    fk_index = schema_editor._create_index_name(table, ["expert_id"], suffix="")
    schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {fk_index} ON {table} (expert_id)")


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("labeling", "0016_add_invitations"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=STATE_OPERATIONS,
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
