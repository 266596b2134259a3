"""Each failure theme row keeps the SHA-256 of what its week's themes were made from (`services.themes`), so that a
recompute from the same inputs keeps the rows instead of grouping the failures again.

The column has a database default (""): adding it rewrites no row (a catalogue change), and the code running before
this migration, while a deploy rolls, still inserts theme rows without naming it. Rows stored before it hold "", which
matches no fingerprint: each week's themes are made once more, then kept.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0035_version_files_made_on_request"),
    ]

    operations = [
        migrations.AddField(
            model_name="failuretheme",
            name="inputs_sha256",
            field=models.CharField(blank=True, db_default="", default="", max_length=64),
        ),
    ]
