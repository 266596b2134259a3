"""The search index also answers the filters searches come with, and the search vector stays in the row.

W5 (bench/README.md) showed a search with a model and a tag reading every row that holds the term, to check
the model and the tag on the heap. The GIN index now holds project, vector, model and tags (`btree_gin` for
the scalar columns, `jsonb_path_ops` for the tags), so the bitmap holds only the real matches; it is partial
(outputs not indexed yet have no vector), so ingest writes no entry into it. The vector's storage becomes
MAIN: compressed in the row and moved out of line last, after the input and output, so a search that
filters rows in time order reads no TOAST for it (rows written from now on; older rows keep theirs until
they are indexed again). PostgreSQL only.
"""

from django.db import migrations

FORWARD = """
CREATE EXTENSION IF NOT EXISTS btree_gin;
DROP INDEX IF EXISTS output_search;
CREATE INDEX output_search ON labeling_output USING gin (project_id, search_vector, model, tags jsonb_path_ops)
    WHERE search_vector IS NOT NULL;
ALTER TABLE labeling_output ALTER COLUMN search_vector SET STORAGE MAIN;
"""

BACKWARD = """
DROP INDEX IF EXISTS output_search;
CREATE INDEX output_search ON labeling_output USING gin (search_vector);
ALTER TABLE labeling_output ALTER COLUMN search_vector SET STORAGE EXTENDED;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("labeling", "0014_explore")]

    operations = [migrations.RunPython(forward, backward)]
