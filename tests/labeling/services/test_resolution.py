"""Gold answers: unanimous, majority, ties to adjudication, rating medians, multi-choice, corrections."""

import pytest

from labeling.exceptions import InvalidAnswers, NotFound
from labeling.models import Queue, Resolution, ResolutionStatus
from labeling.rules.gold import gold_answers
from labeling.services.assignment import next_item
from labeling.services.labels import submit_label
from labeling.services.resolution import adjudicate, mark_for_adjudication, resolve_item
from labeling.services.routing import route_outputs
from tests.factories import OutputFactory
from tests.helpers.labeling import label_outputs
from tests.outbox import enqueued, run_as_worker


def test_the_last_label_enqueues_resolution_and_the_task_resolves(project, rubric, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        [item] = label_outputs(
            project,
            answers=[{"correct": True, "helpful": 4}, {"correct": True, "helpful": 2}],
            rubric=rubric,
            resolve=False,
        )

    [message] = enqueued("labeling.resolve_item")
    assert message.args == [item.pk] and message.dedupe_key == f"resolve_item:{item.pk}"
    assert not Resolution.objects.filter(item=item).exists()  # not run inline
    assert len(callbacks) == len(enqueued())  # each message is published after commit
    assert run_as_worker(message) == ResolutionStatus.RESOLVED
    assert gold_answers(**Resolution.objects.values("automatic", "adjudicated").get(item=item)) == {
        "correct": True,
        "helpful": 3,
    }


def test_unanimous_and_majority_items_resolve_on_their_own(project, rubric):
    [item] = label_outputs(
        project,
        answers=[{"correct": False, "helpful": 1, "tone": "rude", "issues": ["wrong"]}] * 3,
        rubric=rubric,
        resolve=False,
    )

    resolution = resolve_item(item_id=item.pk)

    assert resolution.status == ResolutionStatus.RESOLVED
    assert gold_answers(resolution.automatic, resolution.adjudicated) == {
        "correct": False,
        "helpful": 1,
        "tone": "rude",
        "issues": ["wrong"],
    }
    assert resolution.automatic["correct"]["method"] == "unanimous"


def test_a_tie_goes_to_adjudication_and_the_leads_answer_wins_and_survives_recompute(project, rubric, lead):
    [item] = label_outputs(
        project,
        answers=[{"correct": True, "helpful": 4}, {"correct": False, "helpful": 2}],
        rubric=rubric,
        resolve=False,
    )
    resolution = resolve_item(item_id=item.pk)
    assert resolution.status == ResolutionStatus.NEEDS_ADJUDICATION
    assert "correct" not in gold_answers(resolution.automatic, resolution.adjudicated)

    adjudicate(
        lead=lead,
        item=item,
        answers={"correct": False, "helpful": 2, "fix": "We refund within 5 days."},
        note="Policy says 5 days",
    )
    again = resolve_item(item_id=item.pk)  # a rebuild recomputes the automatic part only

    assert again.status == ResolutionStatus.RESOLVED
    assert gold_answers(again.automatic, again.adjudicated) == {
        "correct": False,
        "helpful": 2,
        "fix": "We refund within 5 days.",
    }
    assert again.automatic["helpful"]["value"] == 3  # still there, but the lead's 2 wins
    assert (again.adjudicated_by, again.note) == (lead, "Policy says 5 days")


def test_a_lead_can_send_an_agreed_item_to_adjudication(project, rubric, lead):
    [item] = label_outputs(
        project,
        answers=[{"correct": True, "helpful": 5}, {"correct": True, "helpful": 5}],
        rubric=rubric,
        resolve=False,
    )

    marked = mark_for_adjudication(lead=lead, item=item, note="Looks right but quotes an old policy")

    assert marked.status == ResolutionStatus.NEEDS_ADJUDICATION
    assert resolve_item(item_id=item.pk).status == ResolutionStatus.NEEDS_ADJUDICATION
    adjudicate(lead=lead, item=item, answers={"correct": False})
    assert Resolution.objects.get(item=item).status == ResolutionStatus.RESOLVED


def test_resolution_is_idempotent(project, rubric):
    [item] = label_outputs(
        project,
        answers=[{"correct": True, "helpful": 4}, {"correct": True, "helpful": 4}],
        rubric=rubric,
        resolve=False,
    )
    first = resolve_item(item_id=item.pk).automatic
    assert resolve_item(item_id=item.pk).automatic == first
    assert Resolution.objects.filter(item=item).count() == 1


def test_an_incomplete_item_is_not_resolved(project, rubric, expert, other_expert):
    queue = Queue.objects.create(project=project, slug="q", name="Q", overlap=2)
    route_outputs(project_id=project.pk, output_ids=[OutputFactory(project=project).pk])
    item = next_item(expert=expert, queue=queue)
    submit_label(expert=expert, item=item, rubric=rubric, answers={"correct": True, "helpful": 4})
    assert resolve_item(item_id=item.pk) is None


def test_adjudication_is_for_leads_and_validated(project, rubric, lead, expert):
    [item] = label_outputs(
        project,
        answers=[{"correct": True, "helpful": 4}, {"correct": False, "helpful": 4}],
        rubric=rubric,
        resolve=False,
    )
    resolve_item(item_id=item.pk)
    with pytest.raises(NotFound):
        adjudicate(lead=expert, item=item, answers={"correct": True})
    with pytest.raises(InvalidAnswers):
        adjudicate(lead=lead, item=item, answers={"helpful": 9})
    with pytest.raises(InvalidAnswers):
        adjudicate(lead=lead, item=item, answers={})
    assert Resolution.objects.get(item=item).adjudicated == {}


def test_an_answer_equal_to_the_gold_is_not_the_leads_decision(project, rubric, lead):
    """Through the service, as through the page: the prefilled multi-choice (its options in another order) and the
    agreed rating stay automatic; only the tie the lead settles is theirs."""
    [item] = label_outputs(
        project,
        answers=[{"correct": True, "helpful": 4, "issues": ["wrong", "long"]},
                 {"correct": False, "helpful": 4, "issues": ["long", "wrong"]}],
        rubric=rubric,
    )  # fmt: skip

    outcome = adjudicate(lead=lead, item=item, answers={"correct": False, "helpful": 4, "issues": ["long", "wrong"]})

    assert Resolution.objects.get(item=item).adjudicated == {
        "correct": {"value": False, "method": "adjudicated", "rubric_version": 1}
    }
    assert not outcome.confirmed and outcome.decided == {"correct": [None, False]}
