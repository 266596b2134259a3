"""The gold rule, one definition for every reader: adjudicated over automatic, a tie is no answer."""

import pytest

from labeling.rules.gold import gold_answer, gold_answers, gold_entries, open_ties

AUTOMATIC = {
    "correct": {"value": None, "method": "tie", "votes": {"true": 1, "false": 1}},
    "helpful": {"value": 4, "method": "median", "votes": {"3": 1, "5": 1}},
    "tone": {"value": "calm", "method": "unanimous", "votes": {"calm": 2}},
    "fix": {"value": ["Say 3 days.", "Say three days."], "method": "list"},
}


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
