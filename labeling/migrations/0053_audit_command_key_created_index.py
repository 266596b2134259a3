"""The keys page finds the command that issued a key (an `api_key.created` event no person made) by this index.

Built CONCURRENTLY on PostgreSQL (so this migration is not atomic): every audited write inserts into the audit log,
and a plain CREATE INDEX would hold them all for the whole build. SQLite (the demo) builds it plainly. The operation
is 0038's, copied so that later changes leave this migration alone.
"""

import django.db.models.fields.json
from django.conf import settings
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
        ("labeling", "0052_cycle_figures_refreshed_at"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="auditevent",
            index=models.Index(
                models.F("project"),
                django.db.models.fields.json.KeyTextTransform("prefix", "details"),
                condition=models.Q(("action", "api_key.created"), ("actor__isnull", True)),
                name="audit_command_key_created",
            ),
        ),
    ]
