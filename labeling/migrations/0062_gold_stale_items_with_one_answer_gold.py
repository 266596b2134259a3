"""Recompute the gold of the items whose gold may rest on one answer, or across an added multi-choice option.

The gold rule now gives no automatic answer to a question only one of an item's several experts answered (one answer
is no agreement), and counts a multi-choice answer given before options were added. Items resolved before keep a
gold of one vote until they are resolved again: this marks stale the complete items of more than one label whose
automatic answer holds an entry of one vote (for a multi-choice question, no option chosen more than once), and those
whose labels name more than one rubric version, so the next weekly close (its first step resolves the stale items)
recomputes them. Nothing is recomputed here: the rule lives in code a migration must not import.
"""

from django.db import migrations
from django.db.models import Count


def _one_vote(entry) -> bool:
    if not isinstance(entry, dict) or entry.get("method") not in ("unanimous", "majority", "median"):
        return False
    votes = entry.get("votes")
    if isinstance(votes, list):  # a rating's answers
        return len(votes) < 2
    if isinstance(votes, dict):  # yes/no and choice: votes per answer; multi-choice: per option
        return sum(votes.values()) < 2 or all(count < 2 for count in votes.values())
    return False


def mark_items_with_one_answer_gold_stale(apps, schema_editor):
    """An item whose recompute gives the gold it has is marked too: resolving it again changes nothing."""
    Item = apps.get_model("labeling", "Item")
    Resolution = apps.get_model("labeling", "Resolution")
    several = (
        Item.objects.filter(status="complete", gold_stale=False)
        .annotate(labeled=Count("labels", distinct=True), versions=Count("labels__rubric", distinct=True))
        .filter(labeled__gt=1)
    )
    Item.objects.filter(pk__in=several.filter(versions__gt=1).values("pk")).update(gold_stale=True)
    stale = [
        item_id
        for item_id, automatic in Resolution.objects.filter(item__in=several.values("pk"))
        .values_list("item_id", "automatic")
        .iterator(chunk_size=2000)
        if any(_one_vote(entry) for entry in (automatic or {}).values())
    ]
    for start in range(0, len(stale), 2000):
        Item.objects.filter(pk__in=stale[start : start + 2000]).update(gold_stale=True)


class Migration(migrations.Migration):
    dependencies = [("labeling", "0061_item_queue_status_week")]

    operations = [migrations.RunPython(mark_items_with_one_answer_gold_stale, migrations.RunPython.noop, elidable=True)]
