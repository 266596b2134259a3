"""Make one expert's correction the gold of the items resolved before that rule (issue 15).

Until now an item only one expert labeled kept that expert's correction as an undecided `list`, like several
experts' texts; the gold rule now makes it the gold correction (`single`), so the item's dataset row has an
`expected_output`. Items resolved before the deploy keep the old answer until they are resolved again: this marks
stale the complete items with one label that answered a correction question, so the next weekly
close (its first step resolves the stale items) recomputes their gold. Nothing is recomputed here: the rule lives
in code that a migration must not import.
"""

from django.db import migrations

def mark_single_corrections_stale(apps, schema_editor):
    """One UPDATE per rubric version that has a correction question, joined in the database (no rows read here).

    It marks every complete one-label item whose label answered a correction question, blank answers included:
    re-resolving one of those gives the gold it has, and checking for blanks would mean reading the labels."""
    Item, Rubric = apps.get_model("labeling", "Item"), apps.get_model("labeling", "Rubric")
    for rubric_id, questions in Rubric.objects.values_list("pk", "questions").iterator():
        keys = [question["key"] for question in questions if question["kind"] == "correction"]
        if keys:
            Item.objects.filter(
                status="complete", gold_stale=False, overlap=1,
                labels__rubric_id=rubric_id, labels__answers__has_any_keys=keys,
            ).update(gold_stale=True)  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [("labeling", "0023_webhooks")]

    operations = [migrations.RunPython(mark_single_corrections_stale, migrations.RunPython.noop, elidable=True)]
