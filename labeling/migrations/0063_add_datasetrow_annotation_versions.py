"""The rubric versions a dataset row's labels answered: null until 0064 reads them from the row's line."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0062_gold_stale_items_with_one_answer_gold"),
    ]

    operations = [
        migrations.AddField(
            model_name="datasetrow",
            name="annotation_versions",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
