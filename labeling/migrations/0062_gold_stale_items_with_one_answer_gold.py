"""Recompute the gold of the items whose gold may rest on one answer, or across an added multi-choice option.

The gold rule now gives no automatic answer to a question only one of an item's several experts answered (one answer
is no agreement), and counts a multi-choice answer given before options were added. Items resolved before keep a
gold of one vote until they are resolved again: this marks stale the complete items of more than one label whose
automatic answer holds an entry of one vote (for a multi-choice question, no option chosen more than once), and those
whose labels name more than one rubric version, so the next weekly close (its first step resolves the stale items)
recomputes them. Nothing is recomputed here: the rule lives in code a migration must not import. On PostgreSQL the
items are selected and marked in one UPDATE (`_MARK_PG`, the rule of `_one_vote`); SQLite (the demo) reads them
in Python.
"""

from django.db import connections, migrations
from django.db.models import Count


def _one_vote(entry) -> bool:
    if not isinstance(entry, dict) or entry.get("method") not in ("unanimous", "majority", "median"):
        return False
    votes = entry.get("votes")
    if isinstance(votes, list):  # a rating's answers
        return len(votes) < 2
    if isinstance(votes, dict):  # yes/no and choice: votes per answer; multi-choice: per option (no option twice)
        return all(count < 2 for count in votes.values())
    return False


# `_one_vote` in one statement over the items, for PostgreSQL: a large database's multi-label items read and parsed in
# Python, then marked, held their row locks for tens of seconds at a million items while experts' saves waited.
_MARK_PG = """
UPDATE {item} AS i SET gold_stale = true
 WHERE i.status = 'complete' AND NOT i.gold_stale
   AND (SELECT count(*) FROM {label} WHERE item_id = i.id) > 1
   AND ((SELECT count(DISTINCT rubric_id) FROM {label} WHERE item_id = i.id) > 1
        OR EXISTS (
            SELECT 1
              FROM {resolution} r
             CROSS JOIN LATERAL jsonb_each(CASE jsonb_typeof(r.automatic) WHEN 'object' THEN r.automatic
                                           ELSE '{{}}'::jsonb END) AS e (key, entry)
             WHERE r.item_id = i.id
               AND jsonb_typeof(e.entry) = 'object'
               AND e.entry ->> 'method' IN ('unanimous', 'majority', 'median')
               AND CASE jsonb_typeof(e.entry -> 'votes')
                   WHEN 'array' THEN jsonb_array_length(e.entry -> 'votes') < 2
                   WHEN 'object' THEN NOT EXISTS (
                        SELECT 1 FROM jsonb_each(e.entry -> 'votes') AS v (answer, count)
                         WHERE jsonb_typeof(v.count) = 'number' AND v.count::numeric >= 2)
                   ELSE false END))
"""


def mark_items_with_one_answer_gold_stale(apps, schema_editor):
    """An item whose recompute gives the gold it has is marked too: resolving it again changes nothing."""
    Item = apps.get_model("labeling", "Item")
    Label = apps.get_model("labeling", "Label")
    Resolution = apps.get_model("labeling", "Resolution")
    connection = connections[Item.objects.db]
    if connection.vendor == "postgresql":
        tables = {model.__name__.lower(): model._meta.db_table for model in (Item, Label, Resolution)}
        with connection.cursor() as cursor:
            cursor.execute(_MARK_PG.format(**{name: connection.ops.quote_name(t) for name, t in tables.items()}))
        return
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
    # Outside a transaction: the one UPDATE (PostgreSQL) commits and frees its row locks at once; marking again is
    # harmless, so a run stopped part way (or a batch of the Python path) is simply run again.
    atomic = False

    dependencies = [("labeling", "0061_item_queue_status_week")]

    operations = [migrations.RunPython(mark_items_with_one_answer_gold_stale, migrations.RunPython.noop, elidable=True)]
