"""Stamp each lead's decision (a resolution's adjudicated entry) with the rubric version it was decided under.

A decision counts only while the item's newest labels ask its question alike (`rules.gold.asked_alike`), so each
entry now records its version (`adjudicate` writes it). Decisions made before did not: their version is taken as the
newest version of the item's labels at the resolution's `adjudicated_at` (a label edited since answered then what its
first revision after that moment keeps). A resolution whose questions were decided at different times dates them all
by its last decision: the newest version of the labels can only have grown since the earlier ones.
Then the items are marked stale, so the next weekly close resolves them under the rule.
"""

from django.db import migrations


def stamp_versions(apps, schema_editor):
    Resolution = apps.get_model("labeling", "Resolution")
    Label = apps.get_model("labeling", "Label")
    LabelRevision = apps.get_model("labeling", "LabelRevision")
    Item = apps.get_model("labeling", "Item")
    decided = Resolution.objects.exclude(adjudicated={}).exclude(adjudicated_at=None).order_by("pk")
    stamped, items = [], []
    for resolution in decided.iterator(chunk_size=500):
        if all("rubric_version" in entry for entry in resolution.adjudicated.values()):
            continue
        moment = resolution.adjudicated_at
        newest = 0
        for label in Label.objects.filter(item_id=resolution.item_id).select_related("rubric"):
            later = (
                LabelRevision.objects.filter(label=label, replaced_at__gt=moment)
                .select_related("rubric")
                .order_by("replaced_at", "pk")
                .first()
            )
            newest = max(newest, (later.rubric if later else label.rubric).version)
        if not newest:
            continue
        resolution.adjudicated = {
            key: {**entry, "rubric_version": entry.get("rubric_version", newest)}
            for key, entry in resolution.adjudicated.items()
        }
        stamped.append(resolution)
        items.append(resolution.item_id)
    Resolution.objects.bulk_update(stamped, ["adjudicated"], batch_size=500)
    Item.objects.filter(pk__in=items, status="complete").update(gold_stale=True)


class Migration(migrations.Migration):
    dependencies = [("labeling", "0044_resolution_set_aside_decisions")]

    operations = [migrations.RunPython(stamp_versions, migrations.RunPython.noop, elidable=True)]
