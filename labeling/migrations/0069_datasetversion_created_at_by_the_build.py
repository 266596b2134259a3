"""A dataset version's `created_at` defaults to the clock instead of being forced to it, so a weekly close's build
is made at the close's moment (`build_version(now=...)`).

The default lives in Python only: nothing changes in the database."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0068_outbox_gives_up_after_max_resends"),
    ]

    operations = [
        migrations.AlterField(
            model_name="datasetversion",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
    ]
