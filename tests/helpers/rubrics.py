"""The rubric most tests label with: one question of each kind, only `correct` required."""

from collections.abc import Iterable

QUESTIONS = [
    {"key": "correct", "kind": "binary", "prompt": "Is the answer correct?"},
    {"key": "helpful", "kind": "rating", "prompt": "How helpful is it?", "scale": [1, 5], "required": False},
    {"key": "tone", "kind": "choice", "prompt": "How does it sound?", "options": ["friendly", "curt", "rude"],
     "required": False},
    {"key": "issues", "kind": "multi_choice", "prompt": "Which problems?", "options": ["wrong", "evasive", "long"],
     "required": False},
    {"key": "critique", "kind": "text", "prompt": "What is wrong?", "required": False},
    {"key": "fix", "kind": "correction", "prompt": "Better answer", "required": False},
]  # fmt: skip
BINARY, RATING, CHOICE, MULTI, TEXT, CORRECTION = QUESTIONS


def questions(*, required: Iterable[str] = ()) -> list[dict]:
    """Return the shared questions with the named ones required too (for tests of a missing answer)."""
    keys = set(required)
    return [{**question, "required": True} if question["key"] in keys else question for question in QUESTIONS]
