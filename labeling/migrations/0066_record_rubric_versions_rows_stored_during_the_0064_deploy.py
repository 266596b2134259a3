"""Migration 0064's forward step again, for the dataset rows still without `annotation_versions`, and the typed files
of every ready version it widens rendered again.

During the rolling deploy of 0063-0064, a server older than them went on storing rows (built, or copied by an
erasure) without `annotation_versions` after 0064 had filled those before it, and its versions' `rubric_versions`
held each row's newest version only: their Parquet and Hugging Face files, whose columns come from that list, left
out the answers to questions only an older rubric version asked. The rules are 0064's, copied here (a migration keeps
its own): a row's versions are read from its stored line, and a version's `rubric_versions` becomes every version its
rows answered. A ready version so widened gets, in the same transaction as its new figure, its rendered (or pending)
files marked pending and a render asked for through the outbox, as `version_files.request_files` asks: beat's
`publish_outbox` sweep sends the message once the migration is done (a swept or failed file is rendered when someone
asks for it, from the new figure).

Run again, it changes nothing: filled rows are left as they are, and a version no longer widens. Its reverse changes
nothing either: what it writes is what a build of the same rows writes. Rows an old server still stores after it
has run are made again, not copied, by the next build (`write_incremental`), so the versions built from then on are
whole; a version such a server made itself stays narrow until this runs again (`migrate labeling 0065`, then
`migrate labeling`: its reverse is a no-op).
"""

import json

from django.db import connections, migrations, transaction
from django.utils import timezone

LINES_PER_CHUNK = 5000  # line ids per UPDATE on PostgreSQL, lines per read in Python; tests lower it
RENDER_TASK = "labeling.render_version_files"


def _answered(text: str) -> list[int]:
    """The versions a line's annotations answered (0064's rule): each annotation's (an object's; an annotation stored
    before annotations named their version: the row's), and the row's own. A version is a JSON integer: not `true`,
    not `2.0`."""
    row = json.loads(text)
    newest = row.get("rubric_version")
    annotations = row.get("annotations")
    versions = [
        annotation.get("rubric_version", newest)
        for annotation in (annotations if isinstance(annotations, list) else [])
        if isinstance(annotation, dict)
    ]
    return sorted({v for v in [*versions, newest] if isinstance(v, int) and not isinstance(v, bool)})


# 0064's `_ROWS_PG`, unchanged (see its comments: each line parsed once, each range of line ids its own statement and
# commit, only the lines with a row still null read).
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

# 0064's `_VERSIONS_PG`, returning the versions it widened (and whether each is ready).
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
RETURNING v.id, v.status = 'ready'
"""


def record_rows_left_unrecorded(apps, schema_editor):
    DatasetRow = apps.get_model("labeling", "DatasetRow")
    DatasetLine = apps.get_model("labeling", "DatasetLine")
    DatasetVersion = apps.get_model("labeling", "DatasetVersion")
    connection = connections[DatasetRow.objects.db]
    if connection.vendor != "postgresql":
        _fill_rows_in_python(DatasetRow, DatasetLine)
        with transaction.atomic(using=connection.alias):
            _render_again(apps, _widen_versions_in_python(DatasetRow, DatasetVersion))
        return
    tables = {name: connection.ops.quote_name(model._meta.db_table)
              for name, model in (("row", DatasetRow), ("line", DatasetLine), ("version", DatasetVersion))}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM {tables['line']}")
        first, last = cursor.fetchone()
        for start in range(first or 0, (last or -1) + 1, LINES_PER_CHUNK):
            cursor.execute(_ROWS_PG.format(**tables), {"first": start, "last": start + LINES_PER_CHUNK - 1})
    # A widened version and the request for its files commit together: a run stopped between them would leave the
    # files narrow, and a run again would no longer see the version widen.
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(_VERSIONS_PG.format(**tables))
        _render_again(apps, [version_id for version_id, ready in cursor.fetchall() if ready])


def _fill_rows_in_python(DatasetRow, DatasetLine) -> None:
    """What `_ROWS_PG` does, for SQLite: 0064's Python path."""
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


def _widen_versions_in_python(DatasetRow, DatasetVersion) -> list[int]:
    """What `_VERSIONS_PG` does, for SQLite; the ready versions it widened."""
    answered: dict[int, set[int]] = {}
    for version_id, versions in DatasetRow.objects.values_list("version_id", "annotation_versions").distinct():
        answered.setdefault(version_id, set()).update(versions or [])
    widened = []
    for version in DatasetVersion.objects.filter(pk__in=answered).only("pk", "status", "rubric_versions"):
        every = sorted(answered[version.pk] | set(version.rubric_versions or []))
        if every != version.rubric_versions:
            DatasetVersion.objects.filter(pk=version.pk).update(rubric_versions=every)
            if version.status == "ready":
                widened.append(version.pk)
    return widened


def _render_again(apps, version_ids: list[int]) -> None:
    """Mark the versions' rendered or pending files pending (a render already running, from the narrower figure, then
    does not mark its file ready: `version_files._record`), and ask for a render of each through the outbox."""
    VersionFile = apps.get_model("labeling", "VersionFile")
    OutboxMessage = apps.get_model("labeling", "OutboxMessage")
    now = timezone.now()
    wanted = VersionFile.objects.filter(version_id__in=version_ids, state__in=["ready", "pending"])
    asked = sorted(set(wanted.values_list("version_id", flat=True)))
    wanted.update(state="pending", requested_at=now, error="")
    # One unpublished message per key (the outbox's partial unique index): a render already queued is left as it is.
    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                task=RENDER_TASK,
                args=[version_id],
                kwargs={},
                created_at=now,
                dedupe_key=f"render_version_files:{version_id}",
            )
            for version_id in asked
        ],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    # Outside a transaction, as 0064: each range's UPDATE (PostgreSQL) commits and frees its row locks at once.
    atomic = False

    dependencies = [("labeling", "0065_double_quotes_in_stored_quoted_metadata_keys")]

    operations = [migrations.RunPython(record_rows_left_unrecorded, migrations.RunPython.noop, elidable=True)]
