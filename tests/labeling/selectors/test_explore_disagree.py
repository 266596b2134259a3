"""`disagree=yes|no`: the outputs with an item whose labels do not all give the same answer to the verdict question
(`yes`), and those whose experts agreed (`no`: an item with two answers or more, and no item of them disagreeing),
read from the labels themselves (any queue and week, a complete item or not), as the agreement figure reads them; an
output no two experts answered on one item is neither. The gold rule's own word for it (`rules.gold.combine`: not
unanimous) says the same of every case."""

import pytest
from django.http import QueryDict

from labeling.exceptions import InvalidFilter
from labeling.models import Label, Output, Queue
from labeling.rules.explore import parse_filter
from labeling.rules.gold import combine
from labeling.selectors.explore import filter_outputs
from labeling.services.assignment import next_item
from labeling.services.labels import submit_label
from labeling.services.queues import QueueValues, create_queue
from labeling.services.rubrics import publish_rubric
from tests.factories import MembershipFactory, OutputFactory, UserFactory
from tests.helpers.labeling import label_outputs
from tests.helpers.rubrics import BINARY, QUESTIONS

pytestmark = pytest.mark.django_db

YES, NO = {"correct": True}, {"correct": False}
# Each case: the verdict answers its item's labels give, and whether the experts disagreed.
CASES = {
    "agree": ((YES, YES), False),
    "agree, failed": ((NO, NO), False),
    "three agree": ((YES, YES, YES), False),
    "a majority": ((YES, NO, YES), True),
    "a tie": ((YES, NO), True),
    "a single label": ((NO,), False),
}


@pytest.fixture
def experts(project):
    return [
        MembershipFactory(project=project, user=UserFactory(username=f"ex{n}"), role="expert").user for n in range(3)
    ]


def found(project, query: str) -> set[str]:
    outputs = filter_outputs(project, parse_filter(QueryDict(query)))
    return set(outputs.values_list("external_id", flat=True))


def routed_by_tag(project, slug: str, *, overlap: int, tag: str | None = None) -> None:
    """A queue taking only the outputs tagged `tag` (its slug by default)."""
    create_queue(
        project=project, values=QueueValues(slug=slug, name=slug, rule={"tags_any": [tag or slug]}, overlap=overlap)
    )


@pytest.fixture
def cases(project, rubric, experts):
    """One output per case, each in a queue of its own; the names of those whose experts disagreed."""
    disagreed = set()
    for n, (name, (answers, expected)) in enumerate(CASES.items()):
        slug = f"case-{n}"
        routed_by_tag(project, slug, overlap=len(answers))
        (item,) = label_outputs(project, answers=answers, experts=experts[: len(answers)], queue=slug, tags=[slug])
        Output.objects.filter(pk=item.output_id).update(external_id=name)
        if expected:
            disagreed.add(name)
    return disagreed


def test_the_outputs_whose_experts_disagreed_and_those_whose_agreed(project, cases):
    """`no` is the outputs the experts agreed on: before, every output without a disagreement, so mostly outputs no
    expert had labeled, and those one expert labeled, with nobody to agree with."""
    OutputFactory(project=project, external_id="unlabeled")
    assert found(project, "disagree=yes") == cases == {"a majority", "a tie"}
    assert (
        found(project, "disagree=no")
        == set(CASES) - cases - {"a single label"}
        == {
            "agree",
            "agree, failed",
            "three agree",
        }
    )


@pytest.mark.parametrize(("answers", "expected"), CASES.values(), ids=CASES.keys())
def test_the_gold_rule_calls_the_same_items_not_unanimous(answers, expected):
    """One meaning of "the experts disagreed": the filter finds exactly the items whose automatic answer is a
    majority or a tie, not unanimous (with two labels or more: one label has nobody to disagree with)."""
    entry = combine(BINARY, [answer["correct"] for answer in answers])
    assert (len(answers) > 1 and entry["method"] != "unanimous") is expected


def test_an_item_still_waiting_for_a_label_counts_once_two_disagree(project, rubric, experts):
    """The labels there are, as the agreement figure counts them: an item of overlap 3 with two unlike labels."""
    routed_by_tag(project, "wide", overlap=3)
    label_outputs(project, answers=(YES, NO), experts=experts[:2], queue="wide", tags=["wide"], resolve=False)
    assert found(project, "disagree=yes") == {"out-00000"}


def test_labels_in_two_queues_are_two_items_not_a_disagreement(project, rubric, experts):
    """Agreement is between the labels of one item: a pass in one queue and a fail in another is no disagreement
    (explore's gold filter says the output failed), nor an agreement: each item had one expert."""
    for slug in ("first", "second"):
        routed_by_tag(project, slug, overlap=1, tag="both")
    label_outputs(project, answers=(YES,), experts=experts[:1], queue="first", tags=["both"])
    second = Queue.objects.get(project=project, slug="second")
    item = next_item(expert=experts[1], queue=second)
    submit_label(expert=experts[1], item=item, rubric=rubric, answers=NO)
    assert item.output.external_id == "out-00000"
    assert found(project, "disagree=yes") == set()
    assert found(project, "disagree=no") == set()


def test_an_output_agreed_on_in_one_queue_and_disagreed_on_in_another_is_disagreed(project, rubric, experts):
    """One item's disagreement is enough: the other item's agreement does not make the output "agreed"."""
    for slug in ("first", "second"):
        routed_by_tag(project, slug, overlap=2, tag="both")
    (agreed,) = label_outputs(project, answers=(YES, YES), experts=experts[:2], queue="first", tags=["both"])
    second = Queue.objects.get(project=project, slug="second")
    for expert, answers in zip(experts[:2], (YES, NO), strict=True):
        item = next_item(expert=expert, queue=second)
        submit_label(expert=expert, item=item, rubric=rubric, answers=answers)
    assert item.output_id == agreed.output_id and item.pk != agreed.pk
    assert found(project, "disagree=yes") == {"out-00000"}
    assert found(project, "disagree=no") == set()


def test_an_answer_of_another_kind_is_no_answer_to_disagree_with(project, rubric, experts):
    """A label of a version that asked the key as a rating (1 is not true) counts for nothing, as in the agreement
    figure; beside one true label it leaves a single answer."""
    routed_by_tag(project, "kinds", overlap=2)
    (item,) = label_outputs(project, answers=(YES, NO), experts=experts[:2], queue="kinds", tags=["kinds"])
    Label.objects.filter(item=item, answers__correct=True).update(answers={"correct": 1})
    assert found(project, "disagree=yes") == set()


def test_a_project_without_a_pass_fail_question_refuses_the_filter_naming_it(project, experts):
    publish_rubric(project=project, questions=[question for question in QUESTIONS if question["kind"] != "binary"])
    OutputFactory(project=project)
    for query in ("disagree=yes", "disagree=no"):
        with pytest.raises(InvalidFilter) as refused:
            found(project, query)
        assert "no pass/fail question" in refused.value.problems["disagree"]
