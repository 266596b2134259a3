"""Rubric questions a lead typed: every problem reported at once, in words a lead reads, by question number."""

import pytest

from labeling.exceptions import InvalidSpec
from labeling.services.rubrics import validate_questions


def problems_of(raw) -> list[str]:
    with pytest.raises(InvalidSpec) as caught:
        validate_questions(raw)
    return caught.value.problems


def test_every_problem_of_every_question_is_reported_at_once_in_plain_words():
    raw = [
        {"key": "correct", "kind": "binary", "prompt": "Right?"},
        {"key": "Bad Key", "kind": "binary", "prompt": "Fine?"},
        {"key": "tone", "kind": "choice", "prompt": "", "colour": "red"},
        {"key": "menu", "kind": "dropdown", "prompt": "Pick"},
        {"key": "stars", "kind": "rating"},
    ]

    problems = problems_of(raw)

    assert "Question 2: key 'Bad Key' must start with a lowercase letter and use only a-z, 0-9 and _ (40 at most)." in (
        problems
    )
    assert "Question 3: the prompt is empty." in problems
    assert "Question 3: 'colour' is not a question field (key, kind, prompt, required, help, options, scale)." in (
        problems
    )
    assert (
        "Question 4: kind 'dropdown' is not one of binary, rating, choice, multi_choice, text, correction." in problems
    )
    assert "Question 5 has no prompt." in problems
    assert not any("$[" in problem or "Invalid enum" in problem for problem in problems)


@pytest.mark.parametrize(
    ("question", "problem"),
    [
        ("not a mapping", "Question 1 is not a set of fields (key, kind, prompt, …)."),
        ({"key": "a", "kind": "text", "prompt": "A", "required": "yes"}, "Question 1: required must be true or false."),
        ({"key": "a", "kind": "choice", "prompt": "A", "options": "x, y"}, "Question 1: options must be a list"),
        ({"key": "a", "kind": "rating", "prompt": "A", "scale": [1]}, "Question 1: scale must be two whole numbers"),
        ({"key": 7, "kind": "text", "prompt": "A"}, "Question 1: key 7 must start with a lowercase letter"),
    ],
)
def test_a_field_of_the_wrong_shape_is_named_with_its_question(question, problem):
    assert any(shown.startswith(problem) for shown in problems_of([question])), problems_of([question])


def test_questions_not_in_a_list_are_refused_saying_so():
    assert problems_of({"key": "a"}) == ["The questions must be a list, one entry per question."]


def test_valid_questions_still_pass_in_canonical_form():
    assert validate_questions([{"key": "ok", "kind": "binary", "prompt": "OK?", "required": True}]) == [
        {"key": "ok", "kind": "binary", "prompt": "OK?"}
    ]
