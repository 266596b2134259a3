"""How a key was asked across the rubric versions of a dataset version's rows: what each version asked, what differs
(kind, scale, options, by the rule of `gold.asked_alike`), and the warning line a reader is given."""

import pytest

from labeling.rules.gold import asked_alike, what_differs
from labeling.rules.rubric_questions import question_histories
from labeling.rules.text import isolated
from tests.helpers.rubrics import BINARY, CHOICE, MULTI, QUESTIONS, RATING, TEXT

ADVICE = ": filter on `rubric_version` before you compare values"


@pytest.mark.parametrize(
    "before, after, differs",
    [
        (RATING, {**RATING, "scale": [1, 7]}, "scale"),
        (RATING, {**RATING, "prompt": "Helpful to the customer?", "required": True, "help": "Be strict."}, None),
        (CHOICE, {**CHOICE, "options": list(reversed(CHOICE["options"]))}, None),
        (CHOICE, {**CHOICE, "options": [*CHOICE["options"], "other"]}, "options"),
        (MULTI, {**MULTI, "kind": "choice"}, "kind"),
        (TEXT, {**RATING, "key": TEXT["key"]}, "kind"),
    ],
)
def test_what_differs_is_none_exactly_when_two_askings_are_alike(before, after, differs):
    assert what_differs(before, after) == differs
    assert (differs is None) is asked_alike(after, before)


def test_a_widened_scale_is_flagged_with_the_line_the_card_and_the_api_give():
    [helpful] = question_histories({1: [RATING], 2: [{**RATING, "scale": [1, 7]}]})

    assert (helpful.key, helpful.changed, helpful.what_changed) == ("helpful", True, ("scale",))
    assert [(number, question["scale"]) for number, question in helpful.asked] == [(1, [1, 5]), (2, [1, 7])]
    assert helpful.warning() == f"`helpful`: rating 1–5 in v1, 1–7 in v2{ADVICE}"


def test_a_kind_change_names_each_kind_and_versions_asking_alike_are_named_together():
    rated = {**CHOICE, "kind": "rating", "scale": [1, 3]}
    [tone] = question_histories({1: [CHOICE], 2: [rated], 3: [rated]})

    assert tone.what_changed == ("kind",)
    assert tone.warning() == f'`tone`: choice ("friendly", "curt", "rude") in v1, rating 1–3 in v2 and v3{ADVICE}'


def test_changed_options_of_one_kind_name_the_kind_once():
    [tone] = question_histories({1: [CHOICE], 2: [{**CHOICE, "options": ["friendly", "curt"]}]})

    assert tone.what_changed == ("options",)
    assert tone.described() == 'choice ("friendly", "curt", "rude") in v1, ("friendly", "curt") in v2'


def test_every_pair_counts_so_a_scale_back_and_forth_across_a_kind_change_says_both():
    as_text = {**RATING, "kind": "text", "scale": None}
    histories = question_histories({1: [RATING], 2: [as_text], 3: [{**RATING, "scale": [0, 10]}]})

    assert histories[0].what_changed == ("kind", "scale")


def test_unchanged_keys_keep_the_newest_order_then_older_keys_and_only_the_kept_ones():
    newest = [{**BINARY, "prompt": "Correct?"}, RATING]
    histories = question_histories({1: QUESTIONS, 2: newest})

    assert [history.key for history in histories] == ["correct", "helpful", "tone", "issues", "critique", "fix"]
    assert not any(history.changed for history in histories) and histories[0].warning() is None
    assert [number for number, _ in histories[0].asked] == [1, 2] and histories[0].asked[-1][1]["prompt"] == "Correct?"
    assert [number for number, _ in histories[2].asked] == [1]  # v2 does not ask `tone`: not listed under it
    assert [history.key for history in question_histories({1: QUESTIONS, 2: newest}, keys={"helpful"})] == ["helpful"]


def test_an_option_with_a_bidi_override_or_a_line_break_stays_one_visible_option():
    [tone] = question_histories({1: [{**CHOICE, "options": ["ok", "evil\u202e", "two\nlines"]}]})

    assert tone.described() == 'choice ("ok", "evil\u202e", "two\\nlines") in v1'  # plain: API JSON carries it
    shown = 'choice ("ok", \u2068"evil\u202e"\u2069, "two\\nlines") in v1'  # a displayed copy isolates each option
    assert tone.described(isolate=isolated) == shown
