"""Quote the values of saved explore views that the filter now reads differently.

Models, tags, metadata, end users and sessions were read as stored, spaces at their ends included; a typed value is
now read without them, and a value in double quotes exactly as they hold it (`rules.explore.read_value`). A view
saved for the tag " vip" (`tag=+vip`) would now open "vip": its value is written in quotes (`tag=%22+vip%22`), as
`filter_query` writes it now. The rules are copied here, as they stood, so that later changes leave this alone.
"""

from urllib.parse import parse_qsl, urlencode

from django.db import migrations

AS_STORED = {"model", "tag", "has_meta", "end_user", "session"}  # and `meta`, a pair


def _read(text):
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _typed(value):
    return value if _read(value) == value else f'"{value}"'


def _typed_pair(key, value):
    if key != key.strip() or ":" in key or key.startswith('"'):
        key = f'"{key}"'
    return f"{key}:{_typed(value)}"


def _quoted(query):
    """The query with its values quoted where they must be; the same string when none must."""
    read = parse_qsl(query, keep_blank_values=True)
    pairs = []
    for name, value in read:
        if name in AS_STORED and value.strip():
            value = _typed(value)
        elif name == "meta":
            key, colon, rest = value.partition(":")
            if colon and key.strip():
                value = _typed_pair(key, rest)
        pairs.append((name, value))
    return query if pairs == read else urlencode(pairs)


def quote_values(apps, schema_editor):
    SavedView = apps.get_model("labeling", "SavedView")
    changed = []
    for view in SavedView.objects.order_by("pk").iterator(chunk_size=500):
        quoted = _quoted(view.query)
        if quoted != view.query:
            view.query = quoted
            changed.append(view)
    SavedView.objects.bulk_update(changed, ["query"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("labeling", "0045_stamp_decisions_with_their_rubric_version")]

    operations = [migrations.RunPython(quote_values, migrations.RunPython.noop, elidable=True)]
