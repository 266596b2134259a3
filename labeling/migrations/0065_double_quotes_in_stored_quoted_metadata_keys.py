"""Write the quoted metadata keys of stored explore queries with their quotes doubled, so they keep their meaning.

A metadata key in quotes was written as it was (`"x""y:z":v`, the key `x""y:z`) and read up to the first quote
followed by a colon. It is now written with a quote inside it doubled (that key with four quotes in a row) and read
up to the quote that is not doubled (`rules.explore.read_pair`): the old writing above now reads as the key `x"y:z`.
So every stored canonical query is rewritten: each `meta` value read as it was read before, and written as `typed_pair` writes it now.
Stored canonical queries are the saved views' (`SavedView.query`) and the links of a closed week's "what changed"
(`ReviewCycle.report["changes"][n]["explore_query"]`, a metadata slice's `meta=` among them; the restatement of a
week compares them with the links written now). Other stored queries are records of what was asked (audit events,
webhook deliveries sent) and stay as they were. A value the old reading did not read as a pair (no saved view holds
one) is left as it is. The rules are copied here, as they stood, so that later changes leave this alone.
"""

import re
from urllib.parse import parse_qsl, urlencode

from django.db import migrations


def _read_value(text):
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _typed_value(value):
    return value if _read_value(value) == value else f'"{value}"'


_UNDOUBLED_QUOTED_KEY = re.compile(r'"(.*?)"\s*:(.*)', re.DOTALL)


def _read_pair_before(text):
    """A `key:value` as it was read before quotes in a quoted key were doubled; None when it was not one."""
    text = text.strip()
    quoted = _UNDOUBLED_QUOTED_KEY.fullmatch(text)
    if quoted:
        key, rest = quoted[1], quoted[2]
    else:
        key, colon, rest = text.partition(":")
        if not colon:
            return None
        key = key.strip()
    return (key, _read_value(rest)) if key else None


def _typed_pair(key, value):
    """The pair as it is written now: a quote inside a quoted key doubled."""
    if key != key.strip() or ":" in key or key.startswith('"'):
        key = '"{}"'.format(key.replace('"', '""'))
    return f"{key}:{_typed_value(value)}"


def doubled(query):
    """The query with each `meta` pair written as it is now, meaning what it meant; the same string when none
    changes."""
    read = parse_qsl(query, keep_blank_values=True)
    pairs = []
    for name, value in read:
        if name == "meta" and (pair := _read_pair_before(value)) is not None:
            value = _typed_pair(*pair)
        pairs.append((name, value))
    return query if pairs == read else urlencode(pairs)


def double_quotes(apps, schema_editor):
    SavedView = apps.get_model("labeling", "SavedView")
    changed = []
    for view in SavedView.objects.order_by("pk").iterator(chunk_size=500):
        query = doubled(view.query)
        if query != view.query:
            view.query = query
            changed.append(view)
    SavedView.objects.bulk_update(changed, ["query"], batch_size=500)

    ReviewCycle = apps.get_model("labeling", "ReviewCycle")
    cycles = ReviewCycle.objects.filter(report__has_key="changes").only("pk", "report")
    for cycle in cycles.order_by("pk").iterator(chunk_size=100):
        entries = cycle.report["changes"]
        if not isinstance(entries, list):
            continue
        rewritten = [
            entry | {"explore_query": doubled(entry["explore_query"])}
            if isinstance(entry, dict) and isinstance(entry.get("explore_query"), str)
            else entry
            for entry in entries
        ]
        if rewritten != entries:
            ReviewCycle.objects.filter(pk=cycle.pk).update(report=cycle.report | {"changes": rewritten})


class Migration(migrations.Migration):
    dependencies = [("labeling", "0064_dataset_rows_know_every_rubric_version_answered")]

    operations = [migrations.RunPython(double_quotes, migrations.RunPython.noop, elidable=True)]
