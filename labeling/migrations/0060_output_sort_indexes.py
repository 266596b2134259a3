"""The explore list's longest-first and slowest-first orders (`sort=longest`, `sort=slowest`) read these indexes,
keyset-paged by (key, id), instead of sorting every output of a project (a million in bench W5) for each page.

Built CONCURRENTLY on PostgreSQL (so this migration is not atomic): ingest inserts outputs all the time, and a plain
CREATE INDEX would hold it for the whole build. SQLite (the demo) cannot index NULLS LAST and sorts its few outputs
without them: there the operation only records the index in the state. Copied so that later changes leave this
migration alone.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

import labeling.models.outputs


class AddIndexConcurrentlyOnPostgreSQLOnly(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("labeling", "0059_webhook_event_compared_again"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQLOnly(
            model_name="output",
            index=models.Index(
                models.F("project"),
                models.OrderBy(models.F("output_chars"), descending=True, nulls_last=True),
                models.OrderBy(models.F("id"), descending=True),
                name="output_project_longest",
            ),
        ),
        AddIndexConcurrentlyOnPostgreSQLOnly(
            model_name="output",
            index=models.Index(
                models.F("project"),
                models.OrderBy(labeling.models.outputs.MetadataNumber("latency_ms"), descending=True, nulls_last=True),
                models.OrderBy(models.F("id"), descending=True),
                name="output_project_latency",
            ),
        ),
    ]
