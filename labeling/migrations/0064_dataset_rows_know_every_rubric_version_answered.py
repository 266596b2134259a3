"""Record on each dataset row the rubric versions its labels answered, and make each version's `rubric_versions`
every version its rows' labels answered.

A version's `rubric_versions` held each row's newest rubric version only, and the typed downloads (Parquet, `hf`)
took their columns from it: an older label's answer to a question the newest version dropped was null there. The
rows' versions are read from their stored lines (each annotation names its `rubric_version`); a line is read once
however many versions' rows point at it. Versions without rows (withdrawn) keep theirs. On PostgreSQL the rows are
filled by one UPDATE per range of line ids (`_ROWS_PG`, the rule of `_answered`) and the versions by one more
(`_VERSIONS_PG`); SQLite (the demo) reads the lines in Python, a chunk of them at a time.
"""

import json

from django.db import connections, migrations

LINES_PER_CHUNK = 5000  # line ids per UPDATE on PostgreSQL, lines per read in Python; tests lower it


def _answered(text: str) -> list[int]:
    """The versions a line's annotations answered: each annotation's (an object's; an annotation stored before
    annotations named their version: the row's), and the row's own. A version is a JSON integer: not `true`, not
    `2.0`; an odd value is skipped, as `_ROWS_PG` skips it."""
    row = json.loads(text)
    newest = row.get("rubric_version")
    annotations = row.get("annotations")
    versions = [
        annotation.get("rubric_version", newest)
        for annotation in (annotations if isinstance(annotations, list) else [])
        if isinstance(annotation, dict)
    ]
    # Filtered before they are a set: in one, `true` and `1` (or `2.0` and `2`) are one member.
    return sorted({v for v in [*versions, newest] if isinstance(v, int) and not isinstance(v, bool)})


# `_answered` in SQL, for the rows of one range of line ids: done in Python in one transaction, a large database's
# rows (tens of millions: a line is shared by every version that copied it) held their row locks until the last one
# was written, and builds copying them waited. Each range commits on its own. Each line is parsed once (the CTE is
# materialized and the LATERAL's OFFSET 0 keeps the cast from being inlined: flattened into the join, the text was
# parsed again for every row, 4 times at 4 versions a line: counted below), and the rows are found by their own
# line ids' range (the line_id index; joined to the CTE alone, every range hashed the whole table). A version is a
# JSON integer, as in `_answered` (a jsonb's text: not `true`, `"2"` or `2.0`; `1e2`, which no build writes, is 100
# here and a float there), and an annotation that is not an object is skipped. jsonb numbers sort as numbers (10 after
# 9); a row already filled (a stopped run run again, or written by a build meanwhile) is left as it is, and a line whose
# rows are all filled is not parsed again: the range's lines are kept to those with a row still null before any is
# parsed (OFFSET 0 again, so that the parse is not pulled below the filter), the rows probed by their line ids' range
# too (bounded by the line_id index; by `p.line_id = l.id` alone the planner hashed the whole table's null rows for
# every range).
# EXPLAIN VERBOSE still prints the cast at each use of `j.d`: it names the subplan's parameter by the expression of the
# Result node that computes it, once a line. Counted (the cast swapped for a function counting its calls): 5,000 parses
# for 5,000 lines of 4 rows each, and 20,000 without the LATERAL's OFFSET 0.
_ROWS_PG = """
WITH answered AS MATERIALIZED (
    SELECT l.id,
           coalesce((SELECT jsonb_agg(DISTINCT s.version ORDER BY s.version)
                       FROM (SELECT coalesce(e.annotation -> 'rubric_version', j.d -> 'rubric_version')
                               FROM jsonb_array_elements(CASE jsonb_typeof(j.d -> 'annotations')
                                                         WHEN 'array' THEN j.d -> 'annotations'
                                                         ELSE '[]'::jsonb END) AS e (annotation)
                              WHERE jsonb_typeof(e.annotation) = 'object'
                              UNION ALL
                             SELECT j.d -> 'rubric_version') AS s (version)
                      WHERE s.version::text ~ '^-?[0-9]+$'), '[]'::jsonb) AS versions
      FROM (SELECT l.id, l.text
              FROM {line} AS l
             WHERE l.id BETWEEN %(first)s AND %(last)s
               AND EXISTS (SELECT 1
                             FROM {row} AS p
                            WHERE p.line_id = l.id AND p.line_id BETWEEN %(first)s AND %(last)s
                              AND p.annotation_versions IS NULL)
            OFFSET 0) AS l
     CROSS JOIN LATERAL (SELECT l.text::jsonb OFFSET 0) AS j (d))
UPDATE {row} AS r SET annotation_versions = answered.versions
  FROM answered
 WHERE r.line_id BETWEEN %(first)s AND %(last)s AND r.line_id = answered.id AND r.annotation_versions IS NULL
"""

# Each version's `rubric_versions` with every version its rows answered added, in one statement: the rows are read
# once, read-only (their distinct (version, versions answered) pairs, a few per version); only the versions' rows
# are locked, as they are written at the end.
_VERSIONS_PG = """
UPDATE {version} AS v
   SET rubric_versions = (SELECT jsonb_agg(DISTINCT s.version ORDER BY s.version)
                            FROM (SELECT jsonb_array_elements(v.rubric_versions)
                                   UNION ALL
                                  SELECT jsonb_array_elements(a.versions)) AS s (version))
  FROM (SELECT d.version_id, jsonb_agg(DISTINCT e.version) AS versions
          FROM (SELECT DISTINCT version_id, annotation_versions FROM {row}) AS d
         CROSS JOIN LATERAL jsonb_array_elements(d.annotation_versions) AS e (version)
         GROUP BY d.version_id) AS a
 WHERE v.id = a.version_id AND NOT v.rubric_versions @> a.versions
"""


def record_answered_versions(apps, schema_editor):
    DatasetRow = apps.get_model("labeling", "DatasetRow")
    DatasetLine = apps.get_model("labeling", "DatasetLine")
    DatasetVersion = apps.get_model("labeling", "DatasetVersion")
    connection = connections[DatasetRow.objects.db]
    if connection.vendor != "postgresql":
        record_answered_versions_in_python(DatasetRow, DatasetLine, DatasetVersion)
        return
    tables = {name: connection.ops.quote_name(model._meta.db_table)
              for name, model in (("row", DatasetRow), ("line", DatasetLine), ("version", DatasetVersion))}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM {tables['line']}")
        first, last = cursor.fetchone()
        for start in range(first or 0, (last or -1) + 1, LINES_PER_CHUNK):
            cursor.execute(_ROWS_PG.format(**tables), {"first": start, "last": start + LINES_PER_CHUNK - 1})
        cursor.execute(_VERSIONS_PG.format(**tables))


def record_answered_versions_in_python(DatasetRow, DatasetLine, DatasetVersion) -> None:
    """What the PostgreSQL statements do, for SQLite."""
    pending = DatasetRow.objects.filter(annotation_versions__isnull=True)
    after = 0
    while True:
        lines = pending.filter(line_id__gt=after).order_by("line_id").values_list("line_id", flat=True).distinct()
        chunk = list(lines[:LINES_PER_CHUNK])
        if not chunk:
            break
        by_versions: dict[tuple[int, ...], list[int]] = {}
        for line_id, text in DatasetLine.objects.filter(pk__in=chunk).values_list("pk", "text"):
            by_versions.setdefault(tuple(_answered(text)), []).append(line_id)
        for versions, line_ids in by_versions.items():
            pending.filter(line_id__in=line_ids).update(annotation_versions=list(versions))
        after = chunk[-1]
    answered: dict[int, set[int]] = {}
    for version_id, versions in DatasetRow.objects.values_list("version_id", "annotation_versions").distinct():
        answered.setdefault(version_id, set()).update(versions or [])
    for version in DatasetVersion.objects.filter(pk__in=answered).only("pk", "rubric_versions"):
        every = sorted(answered[version.pk] | set(version.rubric_versions or []))
        if every != version.rubric_versions:
            DatasetVersion.objects.filter(pk=version.pk).update(rubric_versions=every)


def keep_newest_versions_only(apps, schema_editor):
    """Each version's `rubric_versions` as it was: its rows' own (newest) rubric versions."""
    DatasetRow = apps.get_model("labeling", "DatasetRow")
    DatasetVersion = apps.get_model("labeling", "DatasetVersion")
    newest: dict[int, set[int]] = {}
    for version_id, version in DatasetRow.objects.values_list("version_id", "rubric_version").distinct():
        if version is not None:
            newest.setdefault(version_id, set()).add(version)
    for version_id, versions in newest.items():
        DatasetVersion.objects.filter(pk=version_id).update(rubric_versions=sorted(versions))


class Migration(migrations.Migration):
    # Outside a transaction: each range's UPDATE (PostgreSQL) commits and frees its row locks at once. A run stopped
    # part way is simply run again: it fills only the rows still null, and widening a version again changes nothing.
    atomic = False

    dependencies = [("labeling", "0063_add_datasetrow_annotation_versions")]

    operations = [migrations.RunPython(record_answered_versions, keep_newest_versions_only, elidable=True)]
