"""Recompute the gold of the items whose labels answered several rubric versions.

The gold rule now counts an answer only where its label's rubric version asked the question alike (same kind, same
scale, same options: `rules.gold.asked_alike`), so an item labeled across a change of scale no longer takes the median
of a 5 of five and a 3 of three. Items resolved before keep the mixed answer until they are resolved again: this marks
stale the complete items whose labels name more than one version, so the next weekly close (its first step resolves
the stale items) recomputes their gold. Nothing is recomputed here: the rule lives in code a migration must not import.
"""

from django.db import migrations
from django.db.models import Count


def mark_items_of_several_versions_stale(apps, schema_editor):
    """One UPDATE over a subquery (no rows read here). An item whose versions asked every question alike is marked too:
    resolving it again gives the gold it has."""
    Item = apps.get_model("labeling", "Item")
    several = (
        Item.objects.filter(status="complete", gold_stale=False)
        .annotate(versions=Count("labels__rubric", distinct=True))
        .filter(versions__gt=1)
        .values("pk")
    )
    Item.objects.filter(pk__in=several).update(gold_stale=True)


class Migration(migrations.Migration):
    dependencies = [("labeling", "0041_version_withdrawal")]

    operations = [migrations.RunPython(mark_items_of_several_versions_stale, migrations.RunPython.noop, elidable=True)]
