"""Write the quoted metadata keys of stored explore queries with their quotes doubled, so they keep their meaning.

A metadata key in quotes was written as it was (`"x""y:z":v`, the key `x""y:z`) and read up to the first quote
followed by a colon. It is now written with a quote inside it doubled (that key with four quotes in a row) and read
up to the quote that is not doubled (`rules.explore.read_pair`): the old writing above now reads as the key `x"y:z`.
So every stored canonical query is rewritten: each `meta` value read as it was read before, and written as
`typed_pair` writes it now.
Stored canonical queries are the saved views' (`SavedView.query`) and the links of a closed week's "what changed"
(`ReviewCycle.report["changes"][n]["explore_query"]`, a metadata slice's `meta=` among them; the restatement of a
week compares them with the links written now). Other stored queries are records of what was asked (audit events,
webhook deliveries sent) and stay as they were. A value the old reading did not read as a pair (no saved view holds
one) is left as it is. The rules are copied here, as they stood, so that later changes leave this alone.

Reversed, each pair is written again as it was written before (`_typed_pair_before`, 0046's writing) where the old
reading gives that pair back, so that migrating down then up again leaves the strings as the first migration left
them (run on the old writing, forward would double a doubled quote again: `"a""b:c":v` read the old way is the key
`a""b:c`).
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
_QUOTED_KEY = re.compile(r'"((?:[^"]|"")*)"\s*:(.*)', re.DOTALL)


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


def _read_pair_now(text):
    """A `key:value` as it is read now (`rules.explore.read_pair`): a quoted key up to the quote that is not doubled;
    None when it is not one."""
    quoted = _QUOTED_KEY.fullmatch(text.strip())
    if not quoted:
        return _read_pair_before(text)
    key = quoted[1].replace('""', '"')
    return (key, _read_value(quoted[2])) if key else None


def _typed_pair_before(key, value):
    """The pair as it was written before quotes in a quoted key were doubled (migration 0046's writing)."""
    if key != key.strip() or ":" in key or key.startswith('"'):
        key = f'"{key}"'
    return f"{key}:{_typed_value(value)}"


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


def undoubled(query):
    """The query with each `meta` pair written as it was before quotes were doubled, where the old reading gives the
    same pair back; a pair the old writing could not keep (the old reading would take another) is left as it is."""
    read = parse_qsl(query, keep_blank_values=True)
    pairs = []
    for name, value in read:
        if name == "meta" and (pair := _read_pair_now(value)) is not None:
            before = _typed_pair_before(*pair)
            if _read_pair_before(before) == pair:
                value = before
        pairs.append((name, value))
    return query if pairs == read else urlencode(pairs)


def _rewrite(apps, rewritten):
    SavedView = apps.get_model("labeling", "SavedView")
    changed = []
    for view in SavedView.objects.order_by("pk").iterator(chunk_size=500):
        query = rewritten(view.query)
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
        entries_now = [
            entry | {"explore_query": rewritten(entry["explore_query"])}
            if isinstance(entry, dict) and isinstance(entry.get("explore_query"), str)
            else entry
            for entry in entries
        ]
        if entries_now != entries:
            ReviewCycle.objects.filter(pk=cycle.pk).update(report=cycle.report | {"changes": entries_now})


def double_quotes(apps, schema_editor):
    _rewrite(apps, doubled)


def undouble_quotes(apps, schema_editor):
    _rewrite(apps, undoubled)


class Migration(migrations.Migration):
    dependencies = [("labeling", "0064_dataset_rows_know_every_rubric_version_answered")]

    operations = [migrations.RunPython(double_quotes, undouble_quotes, elidable=True)]
