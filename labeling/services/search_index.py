"""Make outputs findable: the search vector and length that the explore page filters on.

Not done in the ingest request (it would slow ingest, W1): the routing task indexes a batch just before it
places it, so an output is searchable as soon as it is routed, a second or so after ingest; late feedback
re-runs the task, which indexes the new comment. On PostgreSQL the vector holds the words of the output
(weight A), input and feedback comment (B) and context (C) under the `expertloop_search` configuration
(English stems, accents folded; migration 0014). On SQLite (the demo) only the length is filled and the
explore page searches with a plain substring match instead.
"""

from django.db import connection, transaction

from labeling.models import Output
from labeling.rules.text import text_chars

SEARCH_CONFIGURATION = "expertloop_search"

# Each part's words come from at most PART_CHARS characters of its strings: PostgreSQL refuses a tsvector over
# 1 MB, and one pasted screenshot (a data URL) or a long retrieved context would otherwise fail its whole batch.
PART_CHARS = 100_000


def _words(column: str, weight: str) -> str:
    strings = (
        f"(SELECT string_agg(value #>> '{{}}', ' ') FROM jsonb_path_query(coalesce({column}, '\"\"'), "
        f"'strict $.** ? (@.type() == \"string\")') AS value)"
    )
    return f"setweight(to_tsvector('{SEARCH_CONFIGURATION}', left(coalesce({strings}, ''), {PART_CHARS})), '{weight}')"


_INDEX_SQL = f"""
UPDATE labeling_output SET
    search_vector = {_words("output", "A")} || {_words("input", "B")}
        || setweight(to_tsvector('{SEARCH_CONFIGURATION}', left(feedback_comment, {PART_CHARS})), 'B')
        || {_words("context", "C")},
    output_chars = (
        SELECT coalesce(sum(char_length(value #>> '{{}}')), 0)
        FROM jsonb_path_query(output, 'strict $.**') AS value
        WHERE jsonb_typeof(value) = 'string'
    )
WHERE id = ANY(%s)
"""


def index_outputs(*, project_id: int, output_ids: list[int]) -> int:
    """(Re)compute the search vector and length of the project's outputs; return how many rows were indexed.

    The rows are locked first, in id order, by a statement of their own: two routing tasks over overlapping batches
    (a retry, late feedback) then wait for each other. Locking them in the UPDATE itself (a `FOR NO KEY UPDATE`
    subquery joined back) deadlocked now and then: the update could come to wait on a row its own lock held.
    """
    if not output_ids:
        return 0
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            locked = Output.objects.filter(project_id=project_id, pk__in=output_ids).locked_for_rewrite()
            cursor.execute(_INDEX_SQL, [list(locked.values_list("pk", flat=True))])
            return cursor.rowcount
    outputs = list(Output.objects.filter(project_id=project_id, pk__in=output_ids).only("pk", "output"))
    for output in outputs:
        output.output_chars = text_chars(output.output)
    Output.objects.bulk_update(outputs, ["output_chars"], batch_size=500)
    return len(outputs)
