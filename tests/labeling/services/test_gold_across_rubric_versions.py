"""An item labeled across a rubric change: one expert answered v2, the lead published v3, the other expert answered
v3. Gold is agreement: a question only one of the item's experts answered alike has no automatic gold."""

import json

from labeling.models import AgreementMetric, ExpertWeek, Resolution, ResolutionStatus
from labeling.rules.gold import gold_answers
from labeling.services.datasets import build_version, create_dataset
from labeling.services.metrics import refresh_week_metrics
from labeling.services.resolution import adjudicate, resolve_item
from tests.helpers.labeling import mixed_item


def test_a_question_only_the_v3_label_asked_has_no_gold_from_its_one_answer(project):
    item = mixed_item(
        project,
        {"correct": True, "helpful": 5, "tone": "friendly"},
        {"correct": True, "helpful": 3, "cites": True},
    )

    resolution = resolve_item(item_id=item.pk)

    # `correct` was asked alike by both: agreed. `cites` (new in v3) and `helpful` (5 of 1-5 against 3 of 1-3) were
    # answered alike by one expert of the two the item needs: one answer is no agreement, so no gold.
    assert resolution.automatic["correct"]["method"] == "unanimous"
    assert gold_answers(resolution.automatic, resolution.adjudicated) == {"correct": True}
    assert resolution.status == ResolutionStatus.RESOLVED  # nothing ties: the lead may decide them, no one must
    assert Resolution.objects.get(item=item).automatic.keys() == {"correct"}


def test_an_experts_agreement_with_gold_counts_only_questions_another_expert_answered_alike(project, lead):
    items = [
        mixed_item(
            project,
            {"correct": True, "helpful": 5},
            {"correct": n != 0, "helpful": 3, "cites": True},
            external_id=f"out-{n}",
        )
        for n in range(2)
    ]
    for item in items:
        resolve_item(item_id=item.pk)
    # The lead decides the new question on the first item: a gold answer, but the v3 expert's was the only one.
    adjudicate(lead=lead, item=items[0], answers={"correct": True, "cites": False})

    refresh_week_metrics(project=project, week=items[0].week)

    rows = {row.expert.username: row.gold_agreement for row in ExpertWeek.objects.filter(project=project)}
    # `correct`: both answered, so both are compared on both items (the tie of the first went to the lead: True).
    # `cites` and `helpful` (rescaled): one answer each, compared with nobody, as alpha counts no unit of one value.
    assert rows == {
        "lab0": {"correct": {"agree": 2, "compared": 2}},
        "lab1": {"correct": {"agree": 1, "compared": 2}},
    }
    assert set(AgreementMetric.objects.filter(project=project).values_list("question", flat=True)) <= {"correct"}


def test_a_mixed_rows_annotations_answer_their_own_rubric_version_and_its_gold_only_comparable_answers(project):
    item = mixed_item(
        project,
        {"correct": True, "helpful": 5, "tone": "friendly", "issues": ["wrong"]},
        {"correct": True, "helpful": 3, "cites": True, "issues": ["wrong"]},
    )
    resolve_item(item_id=item.pk)
    dataset = create_dataset(project=project, spec={"name": "Eval"})

    version = build_version(dataset_id=dataset.pk)

    row = json.loads(version.rows.get(external_id="out-mixed").line.text)
    assert row["rubric_version"] == 3
    # Each label as its own version asked it: the v2 label keeps its `tone` (dropped by v3) and its 5 on 1-5.
    assert [(a["rubric_version"], a["answers"]) for a in row["annotations"]] == [
        (2, {"correct": True, "helpful": 5, "tone": "friendly", "issues": ["wrong"]}),
        (3, {"correct": True, "helpful": 3, "cites": True, "issues": ["wrong"]}),
    ]
    # Gold only where both answers compare: `helpful` (rescaled) and `cites` (new) had one each; `issues` gained an
    # option, and the v2 label's ticks are among those v3 still offers.
    assert row["label"] == {
        "correct": {"value": True, "method": "unanimous"},
        "issues": {"value": ["wrong"], "method": "unanimous"},
    }


def test_an_option_added_to_a_multi_choice_question_keeps_the_earlier_answers_that_tick_only_offered_options(project):
    agreed = mixed_item(
        project, {"correct": True, "issues": ["wrong"]}, {"correct": True, "cites": True, "issues": ["wrong"]}
    )
    # Only the v3 expert could tick `outdated`: the v2 label neither ticked nor left it, so it counts only among those
    # offered it. One answer of two is no agreement: `outdated` has no vote, and `wrong`, which both ticked, stays gold
    # (counting the v2 label as "did not tick outdated" made the whole question a tie, and the item a lead's).
    new_option = mixed_item(
        project,
        {"correct": True, "issues": ["wrong"]},
        {"correct": True, "cites": True, "issues": ["wrong", "outdated"]},
        external_id="out-new",
    )

    assert resolve_item(item_id=agreed.pk).automatic["issues"] == {
        "value": ["wrong"],
        "method": "unanimous",
        "votes": {"wrong": 2},
    }
    resolution = resolve_item(item_id=new_option.pk)
    assert resolution.automatic["issues"] == {"value": ["wrong"], "method": "unanimous", "votes": {"wrong": 2}}
    assert resolution.status == ResolutionStatus.RESOLVED
