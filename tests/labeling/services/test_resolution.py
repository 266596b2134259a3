"""Gold answers: unanimous, majority, ties to adjudication, rating medians, multi-choice, corrections."""

import pytest

from labeling.exceptions import InvalidAnswers, NotFound
from labeling.models import Queue, Resolution, ResolutionStatus
from labeling.rules.gold import gold_answers
from labeling.services.assignment import next_item
from labeling.services.labels import submit_label
from labeling.services.resolution import adjudicate, combine, mark_for_adjudication, resolve_item
from labeling.services.routing import route_outputs
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, OutputFactory, UserFactory
from tests.outbox import enqueued, run_as_worker

QUESTIONS = [
    {"key": "correct", "kind": "binary", "prompt": "Correct?"},
    {"key": "helpful", "kind": "rating", "prompt": "Helpful?", "scale": [1, 5]},
    {"key": "tone", "kind": "choice", "prompt": "Tone", "options": ["friendly", "curt", "rude"], "required": False},
    {
        "key": "issues",
        "kind": "multi_choice",
        "prompt": "Issues",
        "options": ["wrong", "evasive", "long"],
        "required": False,
    },
    {"key": "fix", "kind": "correction", "prompt": "Better answer", "required": False},
]
BINARY, RATING, CHOICE, MULTI, CORRECTION = QUESTIONS


@pytest.mark.parametrize(
    "question, values, expected",
    [
        (BINARY, [True, True, True], {"value": True, "method": "unanimous"}),
        (BINARY, [True, False, True], {"value": True, "method": "majority"}),
        (BINARY, [True, False], {"value": None, "method": "tie"}),
        (CHOICE, ["curt", "rude", "curt", "friendly"], {"value": "curt", "method": "majority"}),
        (CHOICE, ["curt", "rude"], {"value": None, "method": "tie"}),
        (RATING, [2, 5, 4], {"value": 4, "method": "median", "spread": 3}),
        (RATING, [2, 5], {"value": 3.5, "method": "median", "spread": 3}),
        (MULTI, [["wrong", "long"], ["wrong"], ["wrong", "evasive"]], {"value": ["wrong"], "method": "majority"}),
        (MULTI, [["wrong"], ["wrong"]], {"value": ["wrong"], "method": "unanimous"}),
        (MULTI, [[], []], {"value": [], "method": "unanimous"}),
        (MULTI, [["wrong"], []], {"value": None, "method": "tie"}),
        (
            CORRECTION,
            ["Refunds take 5 days.", "Refunds take 3-5 days."],
            {"value": ["Refunds take 5 days.", "Refunds take 3-5 days."], "method": "list"},
        ),
    ],
)
def test_combine(question, values, expected):
    entry = combine(question, values)
    assert {key: entry[key] for key in expected} == expected


def test_combine_counts_votes_and_skips_unanswered_questions():
    assert combine(BINARY, [True, False, True])["votes"] == {"true": 2, "false": 1}
    assert combine(RATING, [2, 5, 4])["votes"] == [2, 4, 5]
    assert combine(CHOICE, []) is None


@pytest.fixture
def rubric(project):
    return publish_rubric(project=project, questions=QUESTIONS)


def labeled_item(project, rubric, answer_sets, django_capture_on_commit_callbacks=None):
    """An item of a queue with overlap len(answer_sets), labeled by that many experts."""
    queue = Queue.objects.create(project=project, slug=f"q{Queue.objects.count()}", name="Q", overlap=len(answer_sets))
    route_outputs(project_id=project.pk, output_ids=[OutputFactory(project=project).pk])
    item = None
    for index, answers in enumerate(answer_sets):
        expert = MembershipFactory(project=project, user=UserFactory(username=f"r{queue.pk}-{index}")).user
        item = next_item(expert=expert, queue=queue)
        submit_label(expert=expert, item=item, rubric=rubric, answers=answers)
    item.refresh_from_db()
    return item


def test_the_last_label_enqueues_resolution_and_the_task_resolves(project, rubric, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        item = labeled_item(project, rubric, [{"correct": True, "helpful": 4}, {"correct": True, "helpful": 2}])

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
    item = labeled_item(project, rubric, [{"correct": False, "helpful": 1, "tone": "rude", "issues": ["wrong"]}] * 3)

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
    item = labeled_item(project, rubric, [{"correct": True, "helpful": 4}, {"correct": False, "helpful": 2}])
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
    item = labeled_item(project, rubric, [{"correct": True, "helpful": 5}, {"correct": True, "helpful": 5}])

    marked = mark_for_adjudication(lead=lead, item=item, note="Looks right but quotes an old policy")

    assert marked.status == ResolutionStatus.NEEDS_ADJUDICATION
    assert resolve_item(item_id=item.pk).status == ResolutionStatus.NEEDS_ADJUDICATION
    adjudicate(lead=lead, item=item, answers={"correct": False})
    assert Resolution.objects.get(item=item).status == ResolutionStatus.RESOLVED


def test_resolution_is_idempotent(project, rubric):
    item = labeled_item(project, rubric, [{"correct": True, "helpful": 4}, {"correct": True, "helpful": 4}])
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
    item = labeled_item(project, rubric, [{"correct": True, "helpful": 4}, {"correct": False, "helpful": 4}])
    resolve_item(item_id=item.pk)
    with pytest.raises(NotFound):
        adjudicate(lead=expert, item=item, answers={"correct": True})
    with pytest.raises(InvalidAnswers):
        adjudicate(lead=lead, item=item, answers={"helpful": 9})
    with pytest.raises(InvalidAnswers):
        adjudicate(lead=lead, item=item, answers={})
    assert Resolution.objects.get(item=item).adjudicated == {}
