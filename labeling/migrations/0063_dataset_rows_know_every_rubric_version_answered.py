"""Record on each dataset row the rubric versions its labels answered, and make each version's `rubric_versions`
every version its rows' labels answered.

A version's `rubric_versions` held each row's newest rubric version only, and the typed downloads (Parquet, `hf`)
took their columns from it: an older label's answer to a question the newest version dropped was null there. The
rows' versions are read from their stored lines (each annotation names its `rubric_version`), a chunk of lines at a
time; a line is read once however many versions' rows point at it. Versions without rows (withdrawn) keep theirs.
"""

import json

from django.db import migrations, models

LINES_PER_CHUNK = 2000  # tests lower it to walk several chunks


def _answered(text: str) -> list[int]:
    row = json.loads(text)
    newest = row.get("rubric_version")  # an annotation stored before annotations named their version: the row's
    versions = {annotation.get("rubric_version", newest) for annotation in row.get("annotations") or []}
    return sorted(version for version in versions | {newest} if isinstance(version, int))


def record_answered_versions(apps, schema_editor):
    DatasetRow = apps.get_model("labeling", "DatasetRow")
    DatasetLine = apps.get_model("labeling", "DatasetLine")
    DatasetVersion = apps.get_model("labeling", "DatasetVersion")
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
    dependencies = [
        ("labeling", "0062_gold_stale_items_with_one_answer_gold"),
    ]

    operations = [
        migrations.AddField(
            model_name="datasetrow",
            name="annotation_versions",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunPython(record_answered_versions, keep_newest_versions_only),
    ]
