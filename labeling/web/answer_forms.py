"""The rubric form of the labeling screen: POSTed strings → typed answers, and answers → form fields.

Parsing only converts; it never judges. A value that cannot be converted (a rating of "abc", a
binary "maybe") is passed on unchanged, so the one validator (`services.answers.validate_answers`)
reports it next to every other problem of the submission, instead of this module crashing or
inventing a second set of rules.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from labeling.models import QuestionKind

BINARY_VALUES = {"yes": True, "no": False}
KEYED_KINDS = {QuestionKind.RATING, QuestionKind.CHOICE, QuestionKind.MULTI_CHOICE}
TEXT_KINDS = {QuestionKind.TEXT, QuestionKind.CORRECTION}


def field_name(key: str) -> str:
    return f"q-{key}"


def _normalise_text(text: str) -> str:
    # Browsers submit textarea line breaks as CRLF.
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def answers_from_post(questions: list[dict], data: Mapping, *, original_output: Any = None) -> dict[str, Any]:
    """Typed answers keyed by question, from the form fields `q-<key>` (multi_choice: repeated).

    A correction left exactly as prefilled (the AI output itself) counts as no correction.
    """
    answers: dict[str, Any] = {}
    original = _normalise_text(original_output) if isinstance(original_output, str) else None
    for question in questions:
        key, kind, name = question["key"], question["kind"], field_name(question["key"])
        if kind == QuestionKind.MULTI_CHOICE:
            getlist = getattr(data, "getlist", None)
            values = getlist(name) if getlist else data.get(name, [])
            answers[key] = [value for value in values if value != ""]
            continue
        raw = data.get(name)
        if raw is None:
            continue
        if kind in TEXT_KINDS:
            text = _normalise_text(raw)
            answers[key] = "" if kind == QuestionKind.CORRECTION and text == original else text
        elif raw.strip() == "":
            continue
        elif kind == QuestionKind.BINARY:
            answers[key] = BINARY_VALUES.get(raw.strip().lower(), raw)
        elif kind == QuestionKind.RATING:
            try:
                answers[key] = int(raw.strip())
            except ValueError:
                answers[key] = raw
        else:
            answers[key] = raw
    return answers


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    hint: str  # the key that picks it ("" when none)
    checked: bool


@dataclass(frozen=True)
class Field:
    """One question as the template draws it."""

    key: str
    kind: str
    prompt: str
    help: str
    required: bool
    error: str
    options: list[Option] = field(default_factory=list)
    text: str = ""
    scale_hint: str = ""

    @property
    def name(self) -> str:
        return field_name(self.key)

    @property
    def input_type(self) -> str:
        if self.kind == QuestionKind.MULTI_CHOICE:
            return "checkbox"
        return "textarea" if self.kind in TEXT_KINDS else "radio"


def _selected(kind: str, value: Any) -> set[str]:
    """A stored (typed) answer as the set of option values it checks."""
    if value is None:
        return set()
    if kind == QuestionKind.BINARY:
        return {"yes" if value is True else "no" if value is False else str(value)}
    if isinstance(value, list):
        return {str(item) for item in value}
    return {str(value)}


def _options(question: dict, chosen: set[str]) -> list[Option]:
    kind = question["kind"]
    if kind == QuestionKind.BINARY:
        return [Option("yes", "Yes", "y", "yes" in chosen), Option("no", "No", "n", "no" in chosen)]
    if kind == QuestionKind.RATING:
        low, high = question["scale"]
        if low >= 0:
            # A rating's digit is its value (7 on a 0-10 scale is 7, not the seventh step); past 9, no key.
            return [
                Option(str(value), str(value), str(value) if value <= 9 else "", str(value) in chosen)
                for value in range(low, high + 1)
            ]
        pairs = [(str(value), str(value)) for value in range(low, high + 1)]
    else:
        pairs = [(option, option.replace("_", " ")) for option in question.get("options") or []]
    return [
        Option(value, label, str(index) if index <= 9 else "", value in chosen)
        for index, (value, label) in enumerate(pairs, start=1)
    ]


def form_fields(
    questions: list[dict],
    *,
    answers: Mapping[str, Any] | None = None,
    posted: Mapping | None = None,
    errors: Mapping[str, str] | None = None,
    correction_default: str = "",
) -> list[Field]:
    """The questions with their current values: from a POST being re-shown, else a saved label's answers."""
    answers, errors = answers or {}, errors or {}
    fields = []
    for question in questions:
        key, kind = question["key"], question["kind"]
        if posted is not None:
            getlist = getattr(posted, "getlist", None)
            raw = getlist(field_name(key)) if getlist else [posted.get(field_name(key), "")]
            chosen, text = {value for value in raw if value}, (raw[-1] if raw else "")
        else:
            chosen, text = _selected(kind, answers.get(key)), answers.get(key) or ""
            if kind == QuestionKind.CORRECTION and not text:
                text = correction_default
        scale = question.get("scale") or []
        fields.append(
            Field(
                key=key,
                kind=kind,
                prompt=question.get("prompt", key),
                help=question.get("help", ""),
                required=question.get("required", True),
                error=errors.get(key, ""),
                options=[] if kind in TEXT_KINDS else _options(question, chosen),
                text=text if kind in TEXT_KINDS and isinstance(text, str) else "",
                scale_hint=f"{scale[0]} = lowest · {scale[1]} = highest" if kind == QuestionKind.RATING else "",
            )
        )
    return fields
