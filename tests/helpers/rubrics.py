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


def publish_v2_on_wednesday(project, rubric, lead, week):
    """v2 of the shared rubric, published on the Wednesday of `week` at 10:00 (v1 dated a month before it): `helpful`
    asked out of three, `critique` dropped, a new `polite` question, the guidelines rewritten."""
    from datetime import timedelta

    from labeling.models import Rubric
    from labeling.rules import calendar
    from labeling.services.rubrics import publish_rubric

    Rubric.objects.filter(pk=rubric.pk).update(created_at=calendar.week_start(project, week) - timedelta(days=30))
    questions = [
        {**question, "scale": [1, 3]} if question["key"] == "helpful" else question
        for question in QUESTIONS
        if question["key"] != "critique"
    ] + [{"key": "polite", "kind": "binary", "prompt": "Is it polite?", "required": False}]
    v2 = publish_rubric(project=project, questions=questions, guidelines="# New rules", published_by=lead)
    Rubric.objects.filter(pk=v2.pk).update(created_at=calendar.week_start(project, week) + timedelta(days=2, hours=10))
    return v2
