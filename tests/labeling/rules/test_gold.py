"""The gold rule, one definition for every reader: how labels add up to the automatic answer (unanimous,
majority, ties, rating medians, multi-choice, corrections), adjudicated over automatic, a tie is no answer."""

import pytest

from labeling.rules.gold import (
    answers_as_asked,
    asked_alike,
    asked_as,
    combine,
    dropped_options,
    gold_answer,
    gold_answers,
    gold_entries,
    open_ties,
    output_verdict,
    questions_asked,
    resolve_answers,
    same_answer,
    still_answers,
)
from tests.helpers.rubrics import BINARY, CHOICE, CORRECTION, MULTI, RATING, TEXT

AUTOMATIC = {
    "correct": {"value": None, "method": "tie", "votes": {"true": 1, "false": 1}},
    "helpful": {"value": 4, "method": "median", "votes": {"3": 1, "5": 1}},
    "tone": {"value": "calm", "method": "unanimous", "votes": {"calm": 2}},
    "fix": {"value": ["Say 3 days.", "Say three days."], "method": "list"},
}


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


def test_a_multi_choice_option_counts_only_among_the_answers_whose_version_offered_it():
    v2, v3 = {**MULTI, "options": ["wrong", "evasive"]}, {**MULTI, "options": ["wrong", "evasive", "long"]}
    both = resolve_answers([v3], [{"issues": ["wrong"]}, {"issues": ["wrong", "long"]}], [[v2], [v3]])
    # `long` was offered to one expert of two: no vote, no tie; `wrong`, ticked by both, is agreed.
    assert both["issues"] == {"value": ["wrong"], "method": "unanimous", "votes": {"wrong": 2}}
    # Offered to two of three, ticked by one of them: a tie among those who could tick it.
    three = resolve_answers([v3], [{"issues": ["wrong"]}, {"issues": ["long"]}, {"issues": []}], [[v2], [v3], [v3]])
    assert three["issues"]["method"] == "tie" and three["issues"]["votes"] == {"long": 1, "wrong": 1}
    # Without the versions, every answer is taken as offered every option (as before).
    assert resolve_answers([v3], [{"issues": ["wrong"]}, {"issues": ["wrong", "long"]}])["issues"]["method"] == "tie"


def test_combine_counts_votes_and_skips_unanswered_questions():
    assert combine(BINARY, [True, False, True])["votes"] == {"true": 2, "false": 1}
    assert combine(RATING, [2, 5, 4])["votes"] == [2, 4, 5]
    assert combine(CHOICE, []) is None


def test_an_items_automatic_answer_has_an_entry_per_answered_question():
    answer_sets = [{"correct": True, "helpful": 4}, {"correct": False, "helpful": 2, "fix": "Say 3 days."}]

    automatic = resolve_answers([BINARY, RATING, CHOICE, CORRECTION], answer_sets)

    assert list(automatic) == ["correct", "helpful", "fix"]  # in the rubric's order; nobody answered "tone"
    assert automatic["correct"]["method"] == "tie" and open_ties(automatic, {}) == ["correct"]
    assert gold_answers(automatic, {}) == {"helpful": 3, "fix": ["Say 3 days."]}


def test_a_tie_is_no_answer_until_a_lead_decides_it():
    assert gold_answers(AUTOMATIC, {}) == {"helpful": 4, "tone": "calm", "fix": ["Say 3 days.", "Say three days."]}
    assert open_ties(AUTOMATIC, {}) == ["correct"]

    decided = {"correct": {"value": False, "method": "adjudicated"}}
    assert gold_answers(AUTOMATIC, decided)["correct"] is False
    assert open_ties(AUTOMATIC, decided) == []


def test_a_leads_answer_wins_over_the_automatic_one():
    decided = {"helpful": {"value": 2, "method": "adjudicated"}}

    assert gold_entries(AUTOMATIC, decided)["helpful"] == {"value": 2, "method": "adjudicated"}
    assert gold_answers(AUTOMATIC, decided)["helpful"] == 2


@pytest.mark.parametrize(
    "automatic, adjudicated, gold",
    [
        (None, None, None),
        ({"value": None, "method": "tie"}, None, None),
        ({"value": True, "method": "majority"}, None, True),
        ({"value": None, "method": "tie"}, {"value": False, "method": "adjudicated"}, False),
        ({"value": True, "method": "unanimous"}, {"value": False, "method": "adjudicated"}, False),
    ],
)
def test_one_questions_gold_agrees_with_the_whole_answer(automatic, adjudicated, gold):
    assert gold_answer(automatic, adjudicated) == gold
    merged = gold_answers({"q": automatic} if automatic else {}, {"q": adjudicated} if adjudicated else {})
    assert merged.get("q") == gold


def test_empty_or_missing_fields_have_no_gold():
    assert gold_answers(None, None) == {} == gold_entries({}, {})
    assert open_ties(None, None) == []


@pytest.mark.parametrize(
    "verdicts, expected",
    [
        ([], None),
        ([None, "tie"], None),
        ([True], True),
        ([True, None, True], True),
        ([True, False], False),  # passed in one queue, failed in another: failed
        ([False, True], False),
        ([1, 0, "false"], None),  # only booleans are verdicts
    ],
)
def test_one_verdict_from_several_any_fail_fails_else_any_pass_passes(verdicts, expected):
    assert output_verdict(verdicts) is expected
    assert output_verdict(iter(verdicts)) is expected


@pytest.mark.parametrize(
    "answer_sets, expected",
    [
        ([{"fix": "Say 3 days."}], {"value": "Say 3 days.", "method": "single"}),  # overlap 1: the gold correction
        ([{"fix": ""}], {"value": [""], "method": "list"}),  # left as prefilled: no correction
        ([{"fix": "Say 3 days."}, {"fix": "Say 3 days."}], {"value": ["Say 3 days.", "Say 3 days."], "method": "list"}),
        ([{"fix": "Say 3 days."}, {"correct": True}], {"value": ["Say 3 days."], "method": "list"}),  # two experts
    ],
)
def test_one_experts_correction_on_an_item_only_they_labeled_is_the_gold_correction(answer_sets, expected):
    assert resolve_answers([CORRECTION], answer_sets)["fix"] == expected
    assert gold_answers(resolve_answers([CORRECTION], answer_sets), {}).get("fix") == expected["value"]


def test_one_experts_text_answer_stays_a_list():
    assert resolve_answers([TEXT], [{"critique": "Too long."}])["critique"] == {
        "value": ["Too long."],
        "method": "list",
    }


@pytest.mark.parametrize(
    "kind, first, second, same",
    [
        ("binary", True, True, True),
        ("binary", True, 1, False),  # a rating's 1 is not a yes
        ("rating", 4, 4, True),
        ("rating", 3.5, 3, False),  # a median between two steps is not the lead's 3
        ("multi_choice", ["wrong", "long"], ["long", "wrong"], True),  # options, not their order
        ("multi_choice", ["wrong"], ["wrong", "long"], False),
        ("choice", "calm", "calm", True),
        ("correction", ["Say 3 days.", "Say three days."], "Say 3 days.", False),  # the experts' list is no answer
        ("choice", None, "calm", False),  # a tie has no gold: any answer decides it
    ],
)
def test_same_answer_says_when_a_leads_answer_changes_nothing(kind, first, second, same):
    assert same_answer(kind, first, second) is same


@pytest.mark.parametrize(
    ("before", "after", "alike"),
    [
        (RATING, {**RATING, "scale": [1, 3]}, False),
        (RATING, {**RATING, "prompt": "Helpful to the customer?", "required": True}, True),
        (CHOICE, {**CHOICE, "options": list(reversed(CHOICE["options"]))}, True),
        (CHOICE, {**CHOICE, "options": [*CHOICE["options"], "other"]}, False),
        (MULTI, {**MULTI, "kind": "choice"}, False),
        (BINARY, {**BINARY, "prompt": "Right?"}, True),
    ],
)
def test_a_quality_rows_scale_is_equal_exactly_when_two_askings_are_alike(before, after, alike):
    """The scale a quality row records (`asked_as`) is the rule of `asked_alike`: a trend breaks where it differs."""
    assert asked_alike(after, before) is alike
    assert (asked_as(before) == asked_as(after)) is alike
    assert len(asked_as(after)) <= 64  # QualityMetric.scale


@pytest.mark.parametrize(
    "asked, answer, counts",
    [
        (MULTI, ["wrong"], True),  # asked alike
        ({**MULTI, "options": ["wrong", "evasive"]}, ["wrong"], True),  # an option added since
        ({**MULTI, "options": ["wrong", "evasive", "long", "vague"]}, ["wrong"], True),  # one dropped, not ticked
        ({**MULTI, "options": ["wrong", "evasive", "long", "vague"]}, ["vague"], False),  # one dropped and ticked
        ({**MULTI, "options": ["wrong", "evasive"]}, [], True),  # none applied of those offered
        ({**CHOICE, "options": ["friendly", "curt"]}, "curt", False),  # a choice changed: another question
        ({**MULTI, "kind": "choice"}, "wrong", False),  # asked as another kind
        (None, ["wrong"], False),  # not asked
    ],
)
def test_a_multi_choice_answer_still_answers_when_it_ticks_only_options_still_offered(asked, answer, counts):
    question = CHOICE if asked is not None and asked["key"] == CHOICE["key"] else MULTI
    assert still_answers(question, asked, answer) is counts
    asked_in = [asked] if asked else []
    assert (question["key"] in answers_as_asked([question], asked_in, {question["key"]: answer})) is counts


def test_the_questions_some_versions_asked_are_each_as_the_newest_asking_version_asks_it():
    v1 = [{"key": "helpful", "kind": "rating", "scale": [1, 5]}, {"key": "tone", "kind": "choice", "options": ["a"]}]
    v2 = [{"key": "cites", "kind": "binary"}, {"key": "helpful", "kind": "rating", "scale": [1, 3]}]

    assert questions_asked([v2, v1]) == [*v2, v1[1]]
    assert questions_asked([]) == []


@pytest.mark.parametrize(
    ("earlier", "dropped"),
    [
        (MULTI, ["long"]),  # only the answers ticking it stop counting
        ({**MULTI, "options": ["wrong", "evasive"]}, []),  # an option added: every answer still counts
        ({**CHOICE, "key": "issues"}, []),  # another kind: every answer stops counting, not some
    ],
)
def test_the_options_a_multi_choice_question_dropped_are_those_only_some_answers_lose(earlier, dropped):
    now = {**MULTI, "options": ["wrong", "evasive", "outdated"]}
    assert dropped_options(now, earlier) == dropped
