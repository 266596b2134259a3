"""Reads of a project's rubric: the current version and its questions, a version a form named, and the
question a week's pass rate is about."""

from labeling.exceptions import NotFound
from labeling.models import Project, Rubric
from labeling.rules import gold


def current_rubric(project: Project) -> Rubric | None:
    """Return the project's current rubric version (None before one is published)."""
    return Rubric.objects.current_for(project)


def rubric_version(project: Project, rubric_id: str) -> Rubric:
    """The project's rubric version with this id (as a form posted it), else NotFound."""
    is_id = rubric_id.isascii() and rubric_id.isdigit() and len(rubric_id) <= 18
    rubric = Rubric.objects.filter(pk=int(rubric_id), project=project).first() if is_id else None
    if rubric is None:
        raise NotFound("No such rubric version.")
    return rubric


def questions_of(project: Project) -> list[dict]:
    """Return the questions of the project's current rubric (none before one is published)."""
    rubric = current_rubric(project)
    return rubric.questions if rubric else []


def verdict_question(project: Project, questions: list[dict] | None = None) -> dict | None:
    """The question a week's pass rate is about: the verdict question (`rules.gold.verdict_question`) of the current
    rubric, or of these questions."""
    return gold.verdict_question(questions if questions is not None else questions_of(project))
