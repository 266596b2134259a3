"""Vacuum label slots often: every hand-out and label updates a slot row, and the partial index that
"next item" scans (`slot_open_by_priority`) keeps the dead entries of done slots until a vacuum. With
PostgreSQL's default (20% of the table changed), a 100,000-slot queue collects 20,000 of them first,
and the claim reads thousands of index pages instead of a few (bench/README.md, W2)."""

from django.db import migrations

TABLE = "labeling_slot"


def tune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"ALTER TABLE {TABLE} SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02)"
        )


def reset(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"ALTER TABLE {TABLE} RESET (autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor)"
        )


class Migration(migrations.Migration):
    dependencies = [("labeling", "0006_add_review_cycles_and_metrics")]

    operations = [migrations.RunPython(tune, reset)]
