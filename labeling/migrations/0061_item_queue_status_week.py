"""The labeling screen's week line counts a queue's complete items of the week and its open items of earlier weeks by
this index, instead of reading every item the queue ever had.

Built CONCURRENTLY on PostgreSQL (so this migration is not atomic): routing inserts items and every completed item
updates one, and a plain CREATE INDEX would hold them all for the whole build. SQLite (the demo) builds it plainly.
The operation is 0053's, copied so that later changes leave this migration alone.
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

    dependencies = [("labeling", "0060_webhook_event_labels_say_what_is_sent")]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="item",
            index=models.Index(fields=["queue", "status", "week"], name="item_queue_status_week"),
        ),
    ]
