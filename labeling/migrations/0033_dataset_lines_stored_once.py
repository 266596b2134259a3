"""Dataset lines stored once: each row points at a `DatasetLine` instead of holding its line.

Every stored row's line becomes a line of its own, with the row's id as its id (no two rows share one yet;
builds from now on share the lines they copy). Rows stored before `rubric_version` existed get it from their
line, so that copies never need to decode a line.
"""

import django.db.models.deletion
from django.core.management.color import no_style
from django.db import migrations, models


def move_lines(apps, schema_editor):
    connection = schema_editor.connection
    octets = "octet_length(line)" if connection.vendor == "postgresql" else "length(CAST(line AS BLOB))"
    rubric = (
        "(line::jsonb ->> 'rubric_version')::integer"
        if connection.vendor == "postgresql"
        else "json_extract(line, '$.rubric_version')"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO labeling_datasetline (id, dataset_id, text) SELECT stored.id, version.dataset_id, stored.line "
            "FROM labeling_datasetrow stored JOIN labeling_datasetversion version ON version.id = stored.version_id"
        )
        # One pass, every expression reading the row as it was. The old column is emptied in it: the rewritten
        # rows keep no copy of the text, so the dead versions' space is reused by later rows once vacuumed (a
        # dropped column's values stay on disk).
        cursor.execute(
            f"UPDATE labeling_datasetrow SET line_ref_id = id, octets = {octets}, "
            f"rubric_version = coalesce(rubric_version, {rubric}), line = ''"
        )
        # The lines took their rows' ids: the next line must be numbered past them.
        for statement in connection.ops.sequence_reset_sql(no_style(), [apps.get_model("labeling", "DatasetLine")]):
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0032_change_week_tallies"),
    ]

    operations = [
        migrations.CreateModel(
            name="DatasetLine",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("text", models.TextField()),
                (
                    "dataset",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="labeling.dataset",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="datasetrow",
            name="line_ref",
            field=models.ForeignKey(
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="labeling.datasetline",
            ),
        ),
        migrations.AddField(
            model_name="datasetrow",
            name="octets",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(move_lines),  # irreversible: the lines are shared from the first build on
        migrations.RemoveField(model_name="datasetrow", name="line"),
        migrations.RenameField(model_name="datasetrow", old_name="line_ref", new_name="line"),
        migrations.AlterField(
            model_name="datasetrow",
            name="line",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="labeling.datasetline",
            ),
        ),
    ]
