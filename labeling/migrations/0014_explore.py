"""The explore page: saved views, the experts' setting, and full-text search over outputs.

On PostgreSQL this also creates the `unaccent` extension, the text search configuration
`expertloop_search` (English stemming with accents folded, so "creme" finds "crème"), the GIN index on
the search vector, and fills the vector and length of the outputs stored before (one UPDATE; new outputs
are indexed by the routing task, `labeling.services.search_index`, whose SQL this copies as of today: each
part's words from at most 100,000 characters, as PostgreSQL refuses a tsvector over 1 MB).
"""

import django.contrib.postgres.search
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

CONFIGURATION = """
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TEXT SEARCH CONFIGURATION expertloop_search (COPY = pg_catalog.english);
ALTER TEXT SEARCH CONFIGURATION expertloop_search
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;
CREATE INDEX output_search ON labeling_output USING gin (search_vector);
"""

UNCONFIGURE = """
DROP INDEX IF EXISTS output_search;
DROP TEXT SEARCH CONFIGURATION IF EXISTS expertloop_search;
"""

FILL = """
UPDATE labeling_output SET
    search_vector = setweight(to_tsvector('expertloop_search', left(coalesce((
            SELECT string_agg(value #>> '{}', ' ') FROM jsonb_path_query(coalesce(output, '""'),
                'strict $.** ? (@.type() == "string")') AS value), ''), 100000)), 'A')
        || setweight(to_tsvector('expertloop_search', left(coalesce((
            SELECT string_agg(value #>> '{}', ' ') FROM jsonb_path_query(coalesce(input, '""'),
                'strict $.** ? (@.type() == "string")') AS value), ''), 100000)), 'B')
        || setweight(to_tsvector('expertloop_search', left(feedback_comment, 100000)), 'B')
        || setweight(to_tsvector('expertloop_search', left(coalesce((
            SELECT string_agg(value #>> '{}', ' ') FROM jsonb_path_query(coalesce(context, '""'),
                'strict $.** ? (@.type() == "string")') AS value), ''), 100000)), 'C'),
    output_chars = (
        SELECT coalesce(sum(char_length(value #>> '{}')), 0)
        FROM jsonb_path_query(output, 'strict $.**') AS value
        WHERE jsonb_typeof(value) = 'string'
    )
"""


def configure_search(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CONFIGURATION)
        schema_editor.execute(FILL)


def unconfigure_search(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNCONFIGURE)


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0013_redaction_rules"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SavedView",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100)),
                ("query", models.TextField(blank=True, max_length=4000)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["project", "name"],
            },
        ),
        migrations.AddField(
            model_name="output",
            name="output_chars",
            field=models.PositiveIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="output",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="project",
            name="experts_can_explore",
            field=models.BooleanField(
                default=True, help_text="Experts may open the explore page (leads, engineers and admins always may)."
            ),
        ),
        migrations.AddIndex(
            model_name="output",
            index=models.Index(fields=["project", "session_id", "occurred_at"], name="output_project_session"),
        ),
        migrations.AddField(
            model_name="savedview",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="savedview",
            name="project",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="saved_views", to="labeling.project"
            ),
        ),
        migrations.AddConstraint(
            model_name="savedview",
            constraint=models.UniqueConstraint(fields=("project", "name"), name="saved_view_unique_name"),
        ),
        migrations.RunPython(configure_search, unconfigure_search),
    ]
