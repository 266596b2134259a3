"""The weekly close resolves only the items whose gold answer may be out of date (`Item.gold_stale`): never
resolved, or a label edited since. Resolutions made from the current labels are not read again, however many
weeks of them the project holds (issue 19: the stale-gold check followed the project's age)."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection

from labeling.models import Item, Label, Resolution
from labeling.rules.gold import gold_answers
from labeling.services.labels import submit_label
from labeling.services.resolution import adjudicate, mark_for_adjudication, resolve_item, resolve_stale_items
from labeling.services.rubrics import publish_rubric
from tests.factories import OutputFactory
from tests.helpers.labeling import TIE, label_outputs, make_items
from tests.helpers.rubrics import QUESTIONS

AGREE_TRUE = [{"correct": True, "helpful": 4}, {"correct": True, "helpful": 4}]


def gold(item) -> dict:
    return gold_answers(**Resolution.objects.values("automatic", "adjudicated").get(item=item))


def test_a_complete_item_is_stale_until_resolved_and_an_edited_label_makes_it_stale_again(project, rubric):
    [item] = label_outputs(project, answers=AGREE_TRUE, rubric=rubric, resolve=False)
    assert Item.objects.get(pk=item.pk).gold_stale  # the resolve task has not run (no worker in this test)

    assert resolve_stale_items(project_id=project.pk, through_week=item.week) == 1
    assert gold(item)["correct"] is True
    assert not Item.objects.get(pk=item.pk).gold_stale

    label = Label.objects.filter(item=item).order_by("pk").first()
    submit_label(expert=label.expert, item=item, rubric=rubric, answers={"correct": False, "helpful": 4})
    assert Item.objects.get(pk=item.pk).gold_stale  # the edit's resolve task may never run: the close must see it
    assert resolve_stale_items(project_id=project.pk, through_week=item.week) == 1
    assert "correct" not in gold(item)  # one true, one false: a tie, no gold answer yet
    assert resolve_stale_items(project_id=project.pk, through_week=item.week) == 0


def test_the_close_does_not_reread_current_gold_answers(project, rubric):
    items = label_outputs(project, 5, answers=AGREE_TRUE, rubric=rubric, resolve=False)
    assert resolve_stale_items(project_id=project.pk, through_week=items[0].week) == 5
    # A resolution the close would recompute differently if it read it: it does not, nothing changed.
    Resolution.objects.filter(item=items[0]).update(automatic={})
    assert resolve_stale_items(project_id=project.pk, through_week=items[0].week) == 0
    assert Resolution.objects.get(item=items[0]).automatic == {}


def test_the_close_stores_what_resolving_each_item_alone_stores_and_keeps_a_leads_decision(project, rubric, lead):
    """The close writes a chunk's resolutions in bulk (one statement each for the new and the recomputed ones): every
    field is what `resolve_item` makes of the same labels, and what a lead decided or noted stays."""
    agreed = label_outputs(project, 2, answers=AGREE_TRUE, rubric=rubric, resolve=False)
    [tied] = label_outputs(project, answers=TIE, rubric=rubric, resolve=False, start=10)
    [decided] = label_outputs(project, answers=TIE, rubric=rubric, resolve=False, start=20)
    week = agreed[0].week
    assert resolve_stale_items(project_id=project.pk, through_week=week) == 4  # four new resolutions
    adjudicate(lead=lead, item=decided, answers={"correct": True}, note="Checked the tracking page.")
    mark_for_adjudication(lead=lead, item=agreed[1], note="Ask the carrier.")
    label = Label.objects.filter(item=decided).order_by("pk").first()
    submit_label(expert=label.expert, item=decided, rubric=rubric, answers={"correct": False, "helpful": 1})
    before = Resolution.objects.get(item=decided).updated_at

    assert resolve_stale_items(project_id=project.pk, through_week=week) == 1  # the decided item, recomputed

    fields = (
        "status", "automatic", "adjudicated", "marked_for_adjudication", "adjudicated_by", "adjudicated_at", "note",
    )  # fmt: skip
    stored = {row["item"]: row for row in Resolution.objects.values("item", "updated_at", *fields)}
    assert stored[decided.pk]["updated_at"] > before
    assert stored[decided.pk]["adjudicated"] == {
        "correct": {"value": True, "method": "adjudicated", "rubric_version": 1}
    }
    assert stored[decided.pk]["note"] == "Checked the tracking page."
    assert stored[decided.pk]["adjudicated_by"] == lead.pk
    assert stored[tied.pk]["status"] == "needs_adjudication" and stored[agreed[0].pk]["status"] == "resolved"
    for item in (*agreed, tied, decided):
        resolve_item(item_id=item.pk)  # the same labels, one item at a time
    alone = {row["item"]: row for row in Resolution.objects.values("item", *fields)}
    assert alone == {item: {key: row[key] for key in ("item", *fields)} for item, row in stored.items()}


def test_items_of_later_weeks_wait_for_their_own_close(project, rubric):
    [item] = label_outputs(project, answers=AGREE_TRUE, rubric=rubric, resolve=False)
    assert resolve_stale_items(project_id=project.pk, through_week=item.week - timedelta(days=7)) == 0
    assert Item.objects.get(pk=item.pk).gold_stale


@pytest.mark.postgres
def test_the_stale_items_are_found_through_their_partial_index(project, rubric):
    items = label_outputs(project, 3, answers=AGREE_TRUE, rubric=rubric, resolve=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'item_gold_stale'")
        [(definition,)] = cursor.fetchall()
        assert "(project_id, week) WHERE (gold_stale AND ((status)::text = 'complete'::text))" in definition
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM labeling_item WHERE project_id = %s AND week <= %s AND status = 'complete' "
            "AND gold_stale",
            [project.pk, items[0].week],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "item_gold_stale" in plan


def test_the_migration_marks_stale_the_items_whose_gold_is_older_than_their_labels_or_not_made_yet(project, rubric):
    resolved = label_outputs(project, 2, answers=AGREE_TRUE, rubric=rubric)
    [unresolved] = label_outputs(project, answers=AGREE_TRUE, rubric=rubric, resolve=False)
    [still_open] = make_items(project, 1)
    edited = resolved[1]
    Label.objects.filter(item=edited).update(updated_at=Resolution.objects.get(item=edited).updated_at + timedelta(1))
    Item.objects.update(gold_stale=False)  # as the new column's first default leaves every existing item

    migration = importlib.import_module("labeling.migrations.0022_item_gold_stale")
    migration.mark_stale_gold(apps, None)

    stale = dict(Item.objects.values_list("pk", "gold_stale"))
    # An open item too: the code running before the deploy completes it without marking it.
    assert stale == {resolved[0].pk: False, edited.pk: True, unresolved.pk: True, still_open.pk: True}
    assert Item.objects.create(  # new rows: stale until resolved (the database default the migration ends with)
        project=project, queue=still_open.queue, output=OutputFactory(project=project), week=still_open.week, overlap=1
    ).gold_stale


def test_the_upgrade_makes_one_experts_correction_the_gold_of_items_resolved_before_that_rule(project, rubric):
    def solo(answers: dict) -> Item:
        return label_outputs(project, answers=(answers,), rubric=rubric, queue="solo")[0]

    fixed = solo({"correct": False, "fix": "It arrives on Monday."})
    unfixed = solo({"correct": True, "fix": " "})  # the form's empty correction: no gold correction
    [pair] = label_outputs(project, answers=({"correct": False, "fix": "Monday."}, {"correct": False}), rubric=rubric)
    automatic = Resolution.objects.get(item=fixed).automatic
    # As the rule before left it: the one expert's text as an undecided list.
    Resolution.objects.filter(item=fixed).update(
        automatic={**automatic, "fix": {"value": ["It arrives on Monday."], "method": "list"}}
    )
    complete = Item.objects.filter(status="complete")  # (the outputs also wait, open, in the other queue)
    assert not complete.filter(gold_stale=True).exists()

    migration = importlib.import_module("labeling.migrations.0024_gold_stale_single_corrections")
    migration.mark_single_corrections_stale(apps, None)

    # Every one-label item that answered the correction question (blank or not: the migration reads no answers);
    # never an item of several labels.
    assert set(complete.filter(gold_stale=True).values_list("pk", flat=True)) == {fixed.pk, unfixed.pk}
    assert resolve_stale_items(project_id=project.pk, through_week=fixed.week) == 2  # the close's first step
    assert gold(fixed)["fix"] == "It arrives on Monday." and gold(unfixed)["fix"] == [" "]  # no text: no correction
    assert gold(pair)["fix"] == ["Monday."]


def test_the_upgrade_recomputes_the_gold_of_items_labeled_under_several_rubric_versions(project, rubric):
    """Before the rule that compares only answers asked alike, an item labeled across a change of scale took the median
    of both scales; the upgrade marks such items stale, and the close's first step recomputes them: the one answer on
    the newest scale is no agreement, so no gold. Items labeled under one version are left as they are."""
    [same] = label_outputs(project, answers=AGREE_TRUE, rubric=rubric)
    rescaled = publish_rubric(
        project=project,
        questions=[
            {**question, "scale": [1, 3]} if question["key"] == "helpful" else question for question in QUESTIONS
        ],
    )
    [across] = label_outputs(project, answers=AGREE_TRUE, rubric=rubric, resolve=False)
    newest = Label.objects.filter(item=across).order_by("pk").last()
    Label.objects.filter(pk=newest.pk).update(rubric=rescaled, answers={"correct": True, "helpful": 2})
    resolve_item(item_id=across.pk)
    # As the rule before left it: the median of a 4 of five and a 2 of three.
    Resolution.objects.filter(item=across).update(
        automatic={"correct": {"value": True, "method": "unanimous", "votes": {"true": 2}},
                   "helpful": {"value": 3, "method": "median", "spread": 2, "votes": [2, 4]}}
    )  # fmt: skip

    migration = importlib.import_module("labeling.migrations.0042_gold_stale_items_labeled_under_several_versions")
    migration.mark_items_of_several_versions_stale(apps, None)

    assert set(Item.objects.filter(gold_stale=True).values_list("pk", flat=True)) == {across.pk}
    assert resolve_stale_items(project_id=project.pk, through_week=across.week) == 1
    assert "helpful" not in gold(across) and gold(across)["correct"] is True and gold(same)["helpful"] == 4


def test_the_upgrade_recomputes_the_gold_that_rests_on_one_answer_of_several_experts(project, rubric):
    """Before the rule that one answer is no agreement, a question only one of two experts answered took that answer
    as its unanimous gold; the upgrade marks such items stale and the close's first step drops that gold. Items whose
    gold every expert agreed on are left as they are."""
    [agreed] = label_outputs(project, answers=AGREE_TRUE, rubric=rubric)
    [one] = label_outputs(project, answers=[{"correct": True, "tone": "curt"}, {"correct": True}], rubric=rubric)
    Resolution.objects.filter(item=one).update(  # as the rule before left it
        automatic={"correct": {"value": True, "method": "unanimous", "votes": {"true": 2}},
                   "tone": {"value": "curt", "method": "unanimous", "votes": {"curt": 1}}}
    )  # fmt: skip
    # The same rule for a rating and a multi-choice question (no option ticked twice); a tie, or an option two ticked,
    # rests on more than one answer. PostgreSQL reads these in SQL, SQLite in Python: both must agree.
    rated, ticked, tied, twice = label_outputs(project, 4, answers=AGREE_TRUE, rubric=rubric)
    agreed_on_correct = {"value": True, "method": "unanimous", "votes": {"true": 2}}
    for item, entry in (
        (rated, {"value": 4, "method": "median", "spread": 0, "votes": [4]}),
        (ticked, {"value": ["wrong"], "method": "majority", "votes": {"wrong": 1, "long": 1}}),
        (tied, {"value": None, "method": "tie", "votes": {"curt": 1, "rude": 1}}),
        (twice, {"value": ["wrong"], "method": "majority", "votes": {"wrong": 2, "long": 1}}),
    ):
        Resolution.objects.filter(item=item).update(automatic={"correct": agreed_on_correct, "other": entry})
    [across] = label_outputs(project, answers=AGREE_TRUE, rubric=rubric)  # labeled under two versions
    Label.objects.filter(pk=Label.objects.filter(item=across).order_by("pk").last().pk).update(
        rubric=publish_rubric(project=project, questions=QUESTIONS)
    )

    migration = importlib.import_module("labeling.migrations.0062_gold_stale_items_with_one_answer_gold")
    migration.mark_items_with_one_answer_gold_stale(apps, None)

    marked = set(Item.objects.filter(gold_stale=True).values_list("pk", flat=True))
    assert marked == {one.pk, rated.pk, ticked.pk, across.pk}
    assert resolve_stale_items(project_id=project.pk, through_week=one.week) == 4
    assert gold(one) == {"correct": True} and gold(agreed) == {"correct": True, "helpful": 4}


def test_the_upgrade_dates_a_decision_by_the_labels_version_then_and_sets_it_aside_when_they_ask_it_anew(
    project, rubric, lead
):
    """A decision stored before decisions named their rubric version is dated by the newest version of the item's labels
    when the lead made it: a 5 of five decided before an expert's label was edited onto a 1-3 scale is set aside at
    the next close, while the decision on `correct`, asked alike, stays the gold."""
    [item] = label_outputs(project, answers=AGREE_TRUE, rubric=rubric)
    adjudicate(lead=lead, item=item, answers={"correct": False, "helpful": 5})
    legacy = {"correct": {"value": False, "method": "adjudicated"}, "helpful": {"value": 5, "method": "adjudicated"}}
    Resolution.objects.filter(item=item).update(adjudicated=legacy)
    rescaled = publish_rubric(
        project=project,
        questions=[
            {**question, "scale": [1, 3]} if question["key"] == "helpful" else question for question in QUESTIONS
        ],
    )
    for label in Label.objects.filter(item=item).select_related("expert"):
        submit_label(expert=label.expert, item=item, rubric=rescaled, answers={"correct": True, "helpful": 2})

    migration = importlib.import_module("labeling.migrations.0045_stamp_decisions_with_their_rubric_version")
    migration.stamp_versions(apps, None)

    stamped = Resolution.objects.get(item=item).adjudicated
    assert {key: entry["rubric_version"] for key, entry in stamped.items()} == {"correct": 1, "helpful": 1}
    resolve_stale_items(project_id=project.pk)
    assert gold(item) == {"correct": False, "helpful": 2}
