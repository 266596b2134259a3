"""The outbox counts the resends of a message a worker had started (`resends`) and marks one it gave up on
(`given_up_at`).

The outbox is written inside the label-submit transactions, so this migration must hold its ACCESS EXCLUSIVE lock for
no scan: both columns are added without one on PostgreSQL 11 and later (a nullable column; a constant default, and no
CHECK, which a PositiveIntegerField would add and validate over every row). The index /readyz reads follows in 0070,
built concurrently."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0067_versionfile_render_started_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxmessage",
            name="given_up_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="outboxmessage",
            name="resends",
            field=models.IntegerField(db_default=0, default=0),
        ),
    ]
