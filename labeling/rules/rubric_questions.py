"""The shape of a rubric question: what publishing checks, and what readers of a stored question may rely on; and
how a key was asked across the rubric versions a dataset version's rows answered (`question_histories`)."""

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Annotated, Literal

import msgspec

from labeling.models import Rubric
from labeling.rules.gold import ASKED_CHANGES, asked_as, what_differs
from labeling.rules.text import listed

Key = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class Question(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    key: Key
    kind: Literal["binary", "rating", "choice", "multi_choice", "text", "correction"]
    prompt: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    required: bool = True
    help: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    options: list[Annotated[str, msgspec.Meta(min_length=1, max_length=100)]] | None = None
    scale: Annotated[list[int], msgspec.Meta(min_length=2, max_length=2)] | None = None


_DEFAULTS = {
    field.name: None if field.default is msgspec.NODEFAULT else field.default
    for field in msgspec.structs.fields(Question)
}


def spelt_out(question: dict) -> dict:
    """A stored question (canonical form, defaults omitted) with every field of `Question` written in, in its order.
    Not checked again: it was when published, and a version published before a rule was tightened must still read."""
    return {name: question.get(name, _DEFAULTS[name]) for name in Question.__struct_fields__}


def _as_written(option: str) -> str:
    return option


def described(question: dict, *, isolate: Callable[[str], str] = _as_written) -> str:
    """A question's kind with what bounds its answers, in plain text: "rating 1–5", 'choice ("yes", "no")', "text".
    Plain for data (the API's JSON); where it is displayed as text, `isolate` (`text.isolated`) wraps each option, so
    a direction override in one reorders none of the words around it."""
    kind = str(question["kind"])
    if kind == "rating":
        low, high = question["scale"]
        return f"{kind} {low}–{high}"
    if kind in ("choice", "multi_choice"):
        # Quoted as JSON strings: an option holding a comma, a quote or a line break stays one, visibly.
        quoted = (isolate(json.dumps(option, ensure_ascii=False)) for option in question["options"])
        return f"{kind} ({', '.join(quoted)})"
    return kind


def _versions(numbers: list[int]) -> str:
    return listed([f"v{number}" for number in numbers])


@dataclass(frozen=True)
class QuestionHistory:
    """One question key of a dataset version: how each rubric version its rows answered asked it, and what differs."""

    key: str
    asked: tuple[tuple[int, dict], ...]  # (rubric version, the question with every field spelt out), oldest first
    what_changed: tuple[str, ...]  # of gold.ASKED_CHANGES; empty when every version asked it alike

    @property
    def changed(self) -> bool:
        """Whether the key changed meaning: its answers under one version do not compare with those under another."""
        return bool(self.what_changed)

    def described(self, *, isolate: Callable[[str], str] = _as_written) -> str:
        """How the versions asked it, those asking alike together: "rating 1–5 in v1, 1–7 in v2" (`isolate`: as for
        the function `described`)."""
        alike: dict[str, list[tuple[int, dict]]] = {}
        for number, question in self.asked:
            alike.setdefault(asked_as(question), []).append((number, question))
        kinds = {question["kind"] for _, question in self.asked}
        parts = []
        for group in alike.values():
            text = described(group[0][1], isolate=isolate)
            if parts and len(kinds) == 1:  # one kind throughout: said once, "rating 1–5 in v1, 1–7 in v2"
                text = text.removeprefix(f"{group[0][1]['kind']} ")
            parts.append(f"{text} in {_versions([number for number, _ in group])}")
        return ", ".join(parts)

    def warning(self, *, isolate: Callable[[str], str] = _as_written) -> str | None:
        """The line that tells a reader not to compare the key's values across versions; None when it never changed.
        The one wording of the API, the dataset page and the Hugging Face card (`isolate`: as for `described`)."""
        if not self.changed:
            return None
        return f"`{self.key}`: {self.described(isolate=isolate)}: filter on `rubric_version` before you compare values"


def question_histories(asked_in: Mapping[int, list[dict]], *, keys: Collection[str] = ()) -> list[QuestionHistory]:
    """Each key the rubric versions ask (`asked_in`: version → its stored questions), only those of `keys` when given
    (a dataset that keeps some questions): in the newest version's order, then the keys only older versions ask.
    What changed is every difference between any two versions that ask the key (`gold.asked_alike`: kind, a rating's
    scale, a choice's options; a prompt, help or `required` reworded changes no meaning). A version that does not ask
    a key is not listed under it."""
    by_key: dict[str, list[tuple[int, dict]]] = {}
    for number in sorted(asked_in, reverse=True):
        for question in asked_in[number]:
            if not keys or question["key"] in keys:
                by_key.setdefault(question["key"], []).append((number, spelt_out(question)))
    histories = []
    for key, newest_first in by_key.items():
        asked = tuple(reversed(newest_first))
        differences = {what_differs(first, second) for (_, first), (_, second) in combinations(asked, 2)}
        histories.append(
            QuestionHistory(key=key, asked=asked, what_changed=tuple(c for c in ASKED_CHANGES if c in differences))
        )
    return histories


@dataclass(frozen=True)
class RubricNews:
    """What a newer rubric version changed for an expert who last labeled on an older one (`rubric_news`)."""

    since: int  # the version of the expert's last label
    version: int  # the version they are shown now
    added: list[str]  # the prompts of the questions new since
    dropped: list[str]  # the prompts of the questions no longer asked
    changed: list[str]  # the prompts of the questions asked on another kind, scale or options
    guidelines_changed: bool


def rubric_news(before: Rubric, after: Rubric) -> RubricNews | None:
    """What `after` (the version an expert is shown) changed since `before` (the version of their last label), so an
    expert who learnt the old one is told; None when `after` is not newer. A changed prompt or help text is not news:
    the screen shows it."""
    if after.version <= before.version:
        return None
    earlier = {question["key"]: question for question in before.questions}
    later = {question["key"]: question for question in after.questions}
    return RubricNews(
        since=before.version,
        version=after.version,
        added=[question["prompt"] for key, question in later.items() if key not in earlier],
        dropped=[question["prompt"] for key, question in earlier.items() if key not in later],
        changed=[
            question["prompt"]
            for key, question in later.items()
            if key in earlier and what_differs(question, earlier[key]) is not None
        ],
        guidelines_changed=before.guidelines.strip() != after.guidelines.strip(),
    )
