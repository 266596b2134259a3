"""/readyz asks for the messages the outbox gave up on lately by this partial index: a few rows, however large the
table.

Built CONCURRENTLY on PostgreSQL (so this migration is not atomic): the outbox is written inside the label-submit
transactions, and a plain CREATE INDEX would hold them all for the whole build. SQLite (the demo) builds it plainly.
The operation is 0038's, copied so that later changes leave this migration alone.
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
        ("labeling", "0069_datasetversion_created_at_by_the_build"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="outboxmessage",
            index=models.Index(
                condition=models.Q(("given_up_at__isnull", False)), fields=["given_up_at"], name="outbox_given_up"
            ),
        ),
    ]
