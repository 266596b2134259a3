"""Publish rubric versions. A published version is never edited; labels keep the version they answered."""

import re

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
    # msgspec stops at the first problem and names it in its own terms ("Invalid enum value … at `$[3].kind`"): this
    # pass finds the usual ones in every question at once, in a lead's words; msgspec stays the last word.
    shape_problems = _shape_problems(raw)
    if shape_problems:
        raise InvalidSpec("Invalid rubric questions: " + " ".join(shape_problems), shape_problems)
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


QUESTION_FIELDS = Question.__struct_fields__
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
KINDS = QuestionKind.values


def _shape_problems(raw: object) -> list[str]:
    """What is wrong with the fields of every question, numbered from 1 as the lead wrote them."""
    if not isinstance(raw, list):
        return ["The questions must be a list, one entry per question."]
    problems = []
    for number, question in enumerate(raw, start=1):
        if not isinstance(question, dict):
            problems.append(f"Question {number} is not a set of fields ({', '.join(QUESTION_FIELDS[:3])}, …).")
            continue
        problems += _field_problems(f"Question {number}", question)
    return problems


def _field_problems(where: str, question: dict) -> list[str]:
    problems = [
        f"{where}: {name!r} is not a question field ({', '.join(QUESTION_FIELDS)})."
        for name in question
        if name not in QUESTION_FIELDS
    ]
    problems += [f"{where} has no {name}." for name in ("key", "kind", "prompt") if name not in question]
    key, kind, prompt = question.get("key"), question.get("kind"), question.get("prompt")
    if "key" in question and not (isinstance(key, str) and KEY_PATTERN.fullmatch(key)):
        shown = repr(key) if isinstance(key, str) else str(key)
        problems.append(
            f"{where}: key {shown} must start with a lowercase letter and use only a-z, 0-9 and _ (40 at most)."
        )
    if "kind" in question and kind not in KINDS:
        problems.append(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}.")
    if "prompt" in question:
        if not isinstance(prompt, str):
            problems.append(f"{where}: the prompt must be text.")
        elif not prompt:
            problems.append(f"{where}: the prompt is empty.")
        elif len(prompt) > 500:
            problems.append(f"{where}: the prompt is longer than 500 characters.")
    if "required" in question and not isinstance(question["required"], bool):
        problems.append(f"{where}: required must be true or false.")
    if "help" in question and not (isinstance(question["help"], str) and len(question["help"]) <= 2000):
        problems.append(f"{where}: help must be text of 2000 characters at most.")
    options = question.get("options")
    if options is not None and not (
        isinstance(options, list) and all(isinstance(option, str) and 0 < len(option) <= 100 for option in options)
    ):
        problems.append(f"{where}: options must be a list of names (1 to 100 characters each).")
    scale = question.get("scale")
    if scale is not None and not (
        isinstance(scale, list) and len(scale) == 2 and all(type(end) is int for end in scale)
    ):
        problems.append(f"{where}: scale must be two whole numbers [low, high].")
    return problems


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
