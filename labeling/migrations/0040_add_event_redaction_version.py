"""The redaction rule-set version `redact_outputs` last applied to a usage event's properties (NULL: not known).

A nullable integer without a CHECK: adding it changes only the catalogue, so ingest's writes to this large table
are not held while it runs.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0039_add_cycle_digest_deferred"),
    ]

    operations = [
        migrations.AddField(
            model_name="usageevent",
            name="redaction_version",
            field=models.IntegerField(blank=True, null=True),
        ),
    ]
