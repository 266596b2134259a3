"""Rewrite the queue rules stored with a condition listing nothing, which `rules.listed_values` now refuses.

Such a rule was saved before the check (the project spec and the old editor's `topic=|` took it), and re-checking it
refused every later edit or copy of its queue, rename and pause too. Each is rewritten to route exactly as it did:

- `tags_all: []` (all of no tag) held for every output: the condition goes.
- `tags_any`, `models`, `feedback_scores` or `text_any` of `[]`, or a metadata key of `[]` (any of nothing), held for
  no output, so the queue routed nothing new: the condition goes and the queue samples none (`sample_rate` 0), which
  routes nothing new too and reads as what it does. Its items stay and are handed out as before.

The rules are copied here as they stand, not imported (no migration imports the app's code). Reversing changes
nothing: the old rules said nothing the new ones do not.
"""

from django.db import migrations

MATCHED_NOTHING = ("tags_any", "models", "feedback_scores", "text_any")


def routed_alike(rule):
    """(The rule without its conditions listing nothing, whether one of them held for no output)."""
    rule = dict(rule)
    took_nothing = False
    for name in MATCHED_NOTHING:
        if rule.get(name) == []:
            del rule[name]
            took_nothing = True
    if rule.get("tags_all") == []:
        del rule["tags_all"]
    metadata = rule.get("metadata")
    if isinstance(metadata, dict) and [] in metadata.values():
        took_nothing = True
        kept = {key: values for key, values in metadata.items() if values != []}
        if kept:
            rule["metadata"] = kept
        else:
            del rule["metadata"]
    return rule, took_nothing


def rewrite_rules(apps, schema_editor):
    Queue = apps.get_model("labeling", "Queue")
    for queue in Queue.objects.only("pk", "rule").order_by("pk").iterator(chunk_size=500):
        if not isinstance(queue.rule, dict):
            continue
        rule, took_nothing = routed_alike(queue.rule)
        if rule != queue.rule:
            Queue.objects.filter(pk=queue.pk).update(rule=rule, **({"sample_rate": 0} if took_nothing else {}))


class Migration(migrations.Migration):
    dependencies = [("labeling", "0054_clean_control_characters_from_names")]

    operations = [migrations.RunPython(rewrite_rules, migrations.RunPython.noop, elidable=True)]
