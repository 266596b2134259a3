"""When a version file's last render started, so a download tells a render still running from one that died.

A nullable column without a default: PostgreSQL adds it without rewriting the table or holding its lock for long."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("labeling", "0066_record_rubric_versions_rows_stored_during_the_0064_deploy")]

    operations = [
        migrations.AddField(
            model_name="versionfile",
            name="render_started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
