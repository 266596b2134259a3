"""A week closed while the close was catching up leaves its digest to the newest week's (ReviewCycle.digest_deferred).

Existing cycles are not deferred: each already sent its digest, or is owed its own. A constant default, so PostgreSQL
adds the column without rewriting the table.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0038_add_event_project_unemptied"),
    ]

    operations = [
        migrations.AddField(
            model_name="reviewcycle",
            name="digest_deferred",
            field=models.BooleanField(default=False),
        ),
    ]
