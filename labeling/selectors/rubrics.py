"""Reads of a project's current rubric: its questions, and which one a week's pass rate is about."""

from labeling.models import Project, Rubric


def questions_of(project: Project) -> list[dict]:
    """Return the questions of the project's current rubric (none before one is published)."""
    rubric = Rubric.objects.current_for(project)
    return rubric.questions if rubric else []


def verdict_question(project: Project, questions: list[dict] | None = None) -> dict | None:
    """The question a week's pass rate is about: the first binary question of the current rubric."""
    return next(
        (q for q in (questions if questions is not None else questions_of(project)) if q["kind"] == "binary"), None
    )
