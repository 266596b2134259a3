"""Validate an expert's answers against the rubric version they were shown."""

from typing import Any

from labeling.exceptions import InvalidAnswers
from labeling.models import QuestionKind
from labeling.rules.text import noun

MAX_TEXT = 20_000


def validate_answers(questions: list[dict], answers: dict[str, Any]) -> dict[str, Any]:
    """Return the answers keyed by question, with empty optional answers left out; raise InvalidAnswers.

    An optional multi-choice question with none of its options ticked (`[]`) is answered: none of them applies (the
    form has no other way to say so, and "an option is in when more than half chose it" counts everyone asked). A
    required one needs at least one option ticked."""
    if not isinstance(answers, dict):
        raise InvalidAnswers({"answers": "Expected an object of answers keyed by question."})
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    known = {question["key"] for question in questions}
    for key in answers.keys() - known:
        errors[key] = "Not a question of this rubric."
    for question in questions:
        key = question["key"]
        value = answers.get(key)
        if value is None or value == "" or value == []:
            if question.get("required", True):
                errors[key] = "This question needs an answer."
            elif value == [] and question["kind"] == QuestionKind.MULTI_CHOICE:
                clean[key] = []
            continue
        problem = _problem(question, value)
        if problem:
            errors[key] = problem
        else:
            clean[key] = value
    if errors:
        raise InvalidAnswers(errors)
    return clean


def _problem(question: dict, value: Any) -> str | None:
    kind = question["kind"]
    if kind == QuestionKind.BINARY:
        return None if isinstance(value, bool) else "Answer yes or no."
    if kind == QuestionKind.RATING:
        low, high = question["scale"]
        if isinstance(value, bool) or not isinstance(value, int):
            return f"Give a whole number from {low} to {high}."
        return None if low <= value <= high else f"Give a rating from {low} to {high}."
    if kind == QuestionKind.CHOICE:
        return None if isinstance(value, str) and value in question["options"] else "Pick one of the listed options."
    if kind == QuestionKind.MULTI_CHOICE:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "Pick options from the list."
        unknown = [v for v in value if v not in question["options"]]
        if unknown:
            return f"Unknown {noun(len(unknown), 'option')}: {', '.join(unknown)}."
        return "An option is picked twice." if len(set(value)) != len(value) else None
    if kind in (QuestionKind.TEXT, QuestionKind.CORRECTION):
        if not isinstance(value, str):
            return "Expected text."
        if "\x00" in value:
            return "Text may not contain NUL characters."
        return None if len(value) <= MAX_TEXT else f"At most {MAX_TEXT} characters."
    return f"Unknown question kind {kind!r}."
