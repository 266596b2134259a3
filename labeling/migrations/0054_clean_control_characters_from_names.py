"""Clean the names stored before a name had to be one line of text.

`rules.text.name_problem` now refuses a name (of a project, queue, dataset, saved view, API key or operator token)
holding a line break or another control character (Unicode category Cc, or U+2028/U+2029), which would start lines of
their own in crumbs and e-mail subjects; names stored before keep them. Each such character becomes a space, runs of
spaces one space, and the ends are trimmed: the name the person would have typed once the form refused it. Names
without such a character are left exactly as stored. A name of nothing else becomes "Unnamed"; a saved view's name,
unique in its project, gets " (2)", " (3)", … when another view has the cleaned one.

The rule is copied here as it stands, not imported, as 0046 copies its rules (no migration imports the app's code):
a later change to the rule must not change what this migration did. Reversing changes nothing (the characters are
gone, and no page needs them back).
"""

import re
import unicodedata

from django.db import migrations

NAMED_MODELS = ("Project", "Queue", "Dataset", "ApiKey", "OperatorToken")  # and SavedView, whose names are unique
UNNAMED = "Unnamed"


def _breaks_the_line(char):
    return unicodedata.category(char) == "Cc" or char in "\u2028\u2029"


def _one_line(name):
    """The name with each control character a space, spaces squeezed and the ends trimmed; as stored without one."""
    if not any(_breaks_the_line(char) for char in name):
        return name
    spaced = "".join(" " if _breaks_the_line(char) else char for char in name)
    return re.sub(" {2,}", " ", spaced).strip() or UNNAMED


def _free_name(name, taken, max_length):
    """The name, or the name with the smallest " (n)" no other view of the project has."""
    number = 1
    found = name
    while found in taken:
        number += 1
        suffix = f" ({number})"
        found = name[: max_length - len(suffix)].rstrip() + suffix
    return found


def clean_names(apps, schema_editor):
    for model_name in NAMED_MODELS:
        model = apps.get_model("labeling", model_name)
        changed = []
        for row in model.objects.only("pk", "name").order_by("pk").iterator(chunk_size=500):
            if (cleaned := _one_line(row.name)) != row.name:
                row.name = cleaned
                changed.append(row)
        model.objects.bulk_update(changed, ["name"], batch_size=500)
    SavedView = apps.get_model("labeling", "SavedView")
    max_length = SavedView._meta.get_field("name").max_length
    for view in SavedView.objects.only("pk", "project_id", "name").order_by("pk").iterator(chunk_size=500):
        if (cleaned := _one_line(view.name)) == view.name:
            continue
        taken = set(
            SavedView.objects.filter(project_id=view.project_id).exclude(pk=view.pk).values_list("name", flat=True)
        )
        view.name = _free_name(cleaned, taken, max_length)
        view.save(update_fields=["name"])  # one at a time: the next view's cleaned name may meet this one


class Migration(migrations.Migration):
    dependencies = [("labeling", "0053_audit_command_key_created_index")]

    operations = [migrations.RunPython(clean_names, migrations.RunPython.noop, elidable=True)]
