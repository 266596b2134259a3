"""Publish rubric versions. A published version is never edited; labels keep the version they answered."""

import msgspec
from django.db import transaction
from django.db.models import Max

from labeling.exceptions import InvalidSpec
from labeling.models import AuditEvent, Project, QuestionKind, Rubric
from labeling.rules.commands import command_details
from labeling.rules.rubric_questions import Question

from .records import find_unstorable


def validate_questions(raw: object) -> list[dict]:
    """Return the questions in canonical form, or raise InvalidSpec saying what is wrong."""
    try:
        questions = msgspec.convert(raw, list[Question], strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidSpec(f"Invalid rubric questions: {exc}") from None
    unstorable = find_unstorable(msgspec.to_builtins(questions))
    if unstorable:
        field, message = unstorable
        raise InvalidSpec(f"Invalid rubric questions: {message} (at {field})")
    problems = []
    if not questions:
        problems.append("A rubric needs at least one question.")
    keys = [question.key for question in questions]
    problems += [f"Question key {key!r} is used twice." for key in sorted({k for k in keys if keys.count(k) > 1})]
    for question in questions:
        problems += _kind_problems(question)
    if problems:
        raise InvalidSpec("Invalid rubric questions: " + " ".join(problems), problems)
    return [msgspec.to_builtins(question) for question in questions]


def _kind_problems(question: Question) -> list[str]:
    where = f"Question {question.key!r}"
    if question.kind in (QuestionKind.CHOICE, QuestionKind.MULTI_CHOICE):
        if not question.options or len(question.options) < 2:
            return [f"{where} ({question.kind}) needs at least two options."]
        if len(set(question.options)) != len(question.options):
            return [f"{where} lists an option twice."]
    elif question.options is not None:
        return [f"{where} ({question.kind}) takes no options."]
    if question.kind == QuestionKind.RATING:
        if not question.scale or not (question.scale[0] < question.scale[1] <= question.scale[0] + 10):
            return [f"{where} (rating) needs a scale [low, high] with low < high and at most 11 points."]
    elif question.scale is not None:
        return [f"{where} ({question.kind}) takes no scale."]
    return []


@transaction.atomic
def publish_rubric(
    *,
    project: Project,
    questions: object,
    guidelines: str = "",
    published_by=None,
    replaces: int | None = None,
    command: str = "",
) -> Rubric:
    """Publish the next version of the project's rubric.

    `replaces`: the version the lead's page showed (0: none), so that a page older than the newest version cannot
    publish over it unseen. If the newer version is this very one (the twin of a double click), it is returned and
    nothing is stored; else InvalidSpec. None (commands, the API, tests): the next version, unchecked."""
    canonical = validate_questions(questions)
    # Lock the project row: two leads publishing at once get versions n+1 and n+2, not a clash.
    Project.objects.lock(project.pk)
    latest = Rubric.objects.filter(project=project).aggregate(latest=Max("version"))["latest"] or 0
    if replaces is not None and latest != replaces:
        newest = Rubric.objects.get(project=project, version=latest)
        if newest.questions == canonical and newest.guidelines == guidelines:
            return newest
        raise InvalidSpec(
            f"Rubric v{latest} was published while you edited v{replaces}: "
            "nothing was published. Its questions are below; edit them and publish again."
        )
    rubric = Rubric.objects.create(
        project=project, version=latest + 1, questions=canonical, guidelines=guidelines, created_by=published_by
    )
    AuditEvent.objects.create(
        project=project,
        actor=published_by,
        action="rubric.published",
        details={"version": rubric.version, **command_details(command)},
    )
    return rubric
