"""Migration 0054: names stored before the one-line rule (`rules.text.name_problem`) lose their line breaks and other
control characters, as the rule would have had the person type them; every other name stays as it was."""

import pytest

from labeling.rules.text import name_problem
from tests.helpers.migrations import migrate, migrate_to_latest

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BEFORE = [("labeling", "0053_audit_command_key_created_index")]
AFTER = [("labeling", "0054_clean_control_characters_from_names")]


def test_names_with_control_characters_are_cleaned_and_the_rest_left_alone(project, lead):
    apps = migrate(BEFORE)
    try:
        models = {name: apps.get_model("labeling", name) for name in ("Project", "Queue", "Dataset", "SavedView")}
        models |= {name: apps.get_model("labeling", name) for name in ("ApiKey", "OperatorToken")}
        Project, Queue, Dataset, SavedView = (models[name] for name in ("Project", "Queue", "Dataset", "SavedView"))
        ApiKey, OperatorToken = models["ApiKey"], models["OperatorToken"]
        Project.objects.filter(pk=project.pk).update(name="Evil\r\nBcc: attacker@example.com")
        kept = Project.objects.create(slug="kept", name="  Réfund  Assistant (EU) \u202e", time_zone="UTC")
        queue = Queue.objects.create(project_id=project.pk, slug="q", name="返金\tの苦情\x07", overlap=1)
        dataset = Dataset.objects.create(project_id=project.pk, slug="d", name="\n\u2028Отзывы\x85 за неделю\n")
        blank = Dataset.objects.create(project_id=project.pk, slug="e", name="\r\n")
        taken = SavedView.objects.create(project_id=project.pk, name="Refunds EU", query="tag=eu")
        twin = SavedView.objects.create(project_id=project.pk, name="Refunds\nEU", query="tag=refund")
        triplet = SavedView.objects.create(project_id=project.pk, name="Refunds\x1fEU", query="tag=x")
        key = ApiKey.objects.create(project_id=project.pk, name="prod\x1b[31m key", prefix="p1", secret_hash="h")
        token = OperatorToken.objects.create(user_id=lead.pk, name="nightly\r", prefix="t1", secret_hash="h")

        apps = migrate(AFTER)

        def name_of(model, row):
            return apps.get_model("labeling", model).objects.get(pk=row.pk).name

        assert name_of("Project", project) == "Evil Bcc: attacker@example.com"
        assert name_of("Project", kept) == "  Réfund  Assistant (EU) \u202e"  # no control character: as stored
        assert name_of("Queue", queue) == "返金 の苦情"
        assert name_of("Dataset", dataset) == "Отзывы за неделю"
        assert name_of("Dataset", blank) == "Unnamed"
        # A saved view's name is unique in its project: a cleaned name another view has is told apart.
        assert [name_of("SavedView", view) for view in (taken, twin, triplet)] == [
            "Refunds EU", "Refunds EU (2)", "Refunds EU (3)",
        ]  # fmt: skip
        assert name_of("ApiKey", key) == "prod [31m key"
        assert name_of("OperatorToken", token) == "nightly"
        for model in models:
            for name in apps.get_model("labeling", model).objects.values_list("name", flat=True):
                assert name_problem(name) is None, (model, name)

        migrate(BEFORE)  # reversible: the characters are gone for good, so going back changes nothing
        assert apps.get_model("labeling", "Queue").objects.get(pk=queue.pk).name == "返金 の苦情"
    finally:
        migrate_to_latest()
