"""Rewrite the starter queues' descriptions that still read as the rubric templates wrote them.

Those texts carried the queue's numbers ("One answer in five, up to 50 a week, labeled by two experts"), stored once
when the project was created: after a lead changed the sample rate, quota or overlap, the project page went on
showing the old ones. The templates now say what such a queue is for; the pages show the numbers from the settings.
Only a description a lead has not edited (exactly the template's text) is rewritten. The texts are copied here, not
imported (no migration imports the app's code). Reversing restores the old text where the new one is unedited.
"""

from django.db import migrations

NEW_TEXT_BY_OLD = {
    "One answer in five, up to 50 a week, labeled by two experts to measure agreement.": (
        "A steady sample of every answer: the week's quality figures and the experts' agreement."
    ),
    "About one reply in eight, up to 40 a week, labeled by two experts to measure agreement.": (
        "A steady sample of every reply: the week's quality figures and the experts' agreement."
    ),
    "One summary in ten, up to 30 a week (checking against the source takes time), labeled twice.": (
        "A steady sample of every summary: the week's quality figures and the experts' agreement."
    ),
    "One query in five, up to 40 a week, labeled by two experts to measure agreement.": (
        "A steady sample of every query: the week's quality figures and the experts' agreement."
    ),
    "One output in five, up to 50 a week, labeled by two experts to measure agreement.": (
        "A steady sample of every output: the week's quality figures and the experts' agreement."
    ),
}


def rewrite(apps, schema_editor, texts):
    Queue = apps.get_model("labeling", "Queue")
    for old, new in texts.items():
        Queue.objects.filter(description=old).update(description=new)


def forwards(apps, schema_editor):
    rewrite(apps, schema_editor, NEW_TEXT_BY_OLD)


def backwards(apps, schema_editor):
    rewrite(apps, schema_editor, {new: old for old, new in NEW_TEXT_BY_OLD.items()})


class Migration(migrations.Migration):
    dependencies = [("labeling", "0056_cycle_closed_in_time_zone")]

    operations = [migrations.RunPython(forwards, backwards)]
