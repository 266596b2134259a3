"""The events whose properties the raw-retention purge has still to empty, indexed so a night reads only those.

Built CONCURRENTLY on PostgreSQL (so this migration is not atomic): usage events are a large table that ingest writes
to all day, and a plain CREATE INDEX would hold its writes for the whole build. SQLite (the demo) builds it plainly.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgreSQL(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("labeling", "0037_add_outbox_sent_unfinished"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="usageevent",
            index=models.Index(
                condition=~models.Q(properties={}), fields=["project", "occurred_at"], name="event_project_unemptied"
            ),
        ),
    ]
