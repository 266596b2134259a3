"""The gold rule every reader shares: how the experts' labels add up to an item's automatic answer, and, per
question, a lead's adjudicated answer wins over the automatic one while an automatic tie is no answer at all
(it waits for a lead).

The automatic answer, per question: binary and choice by majority (`unanimous`, `majority`, or a `tie`),
rating by median (with the spread), multi_choice option by option (an option is in when more than half
chose it; an option chosen by exactly half is a tie), text and correction kept as the `list` of what
experts wrote (a lead picks or writes the gold correction) — except the correction of an item with one label
(as an item of overlap 1 has once labeled): with nobody to disagree, that expert's text is the gold correction
(`single`), so the item's dataset row has an `expected_output`.

Resolution (services), the adjudication screens, metrics, retention, datasets and the report all read
gold answers through here. A resolution's two fields hold entries `{"value": …, "method": …}` per
question key (see `Resolution`).
"""

import hashlib
import json
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from labeling.models import QuestionKind

TIE = "tie"
SINGLE = "single"  # the correction of an item with one label


def resolve_answers(
    questions: list[dict], answer_sets: list[dict], asked: list[list[dict]] | None = None
) -> dict[str, dict]:
    """Return the automatic answer of an item: per question of the rubric, the entry its experts' answers make.
    `asked` holds, beside each answer set, the questions of the rubric version it answered: a multi-choice option is
    counted among the experts whose version offered it (None: every answer was offered the options of `questions`).

    "Only one expert labeled" is read from the answers given (one answer set), not from the item's overlap: the rule
    is about who could disagree, which is the labels there are, and it stays a function of the answers alone. For a
    complete item the two agree (it has `overlap` labels, and a label is only ever deleted with its item).

    On an item several experts labeled, a question that only one of them answered (`too_few_answers`) has no entry:
    one answer is no agreement, as an item with too few labels has no gold. So a question new in the rubric version
    one label answered and the other did not see, or one asked on another scale since, has no automatic gold, like a
    question nobody answered (the item is resolved without it; a lead may still decide it); the peers (Label Studio,
    Argilla) likewise count agreement over two answers or more. So does a multi-choice option only one of them was
    offered (`combine`).
    """
    resolved = {}
    for question in questions:
        key, kind = question["key"], question["kind"]
        given = [
            (answers[key], _offered(key, asked[index]) if asked else None)
            for index, answers in enumerate(answer_sets)
            if key in answers and is_of_kind(kind, answers[key])
        ]
        values = [value for value, _ in given]
        if too_few_answers(kind, answered=len(values), labels=len(answer_sets)):
            continue
        offered = [options for _, options in given] if kind == QuestionKind.MULTI_CHOICE else None
        entry = combine(question, values, offered=offered, labels=len(answer_sets))
        if entry is not None and len(answer_sets) == 1 and question["kind"] == QuestionKind.CORRECTION:
            entry = sole_correction(values[0]) or entry
        if entry is not None:
            resolved[question["key"]] = entry
    return resolved


def _offered(key: str, asked: list[dict]) -> list[str] | None:
    """The options the version that asked `asked` offered for a multi-choice key (None: not asked as one)."""
    question = next((question for question in asked if question["key"] == key), None)
    return question.get("options") if question and question["kind"] == QuestionKind.MULTI_CHOICE else None


# The kinds whose automatic answer says experts agree (unanimous, majority, a median); text and corrections are listed.
AGREED_KINDS = (QuestionKind.BINARY, QuestionKind.CHOICE, QuestionKind.RATING, QuestionKind.MULTI_CHOICE)


def too_few_answers(kind: str, *, answered: int, labels: int) -> bool:
    """Whether a question answered (alike) by `answered` of an item's `labels` experts has too few answers to agree
    on: one answer where more than one expert labeled. The one rule for gold (`resolve_answers`) and for an expert's
    agreement with it (`services.metrics`), which alpha and kappa keep too (a unit needs two values)."""
    return labels > 1 and answered < 2 and kind in AGREED_KINDS


def is_of_kind(kind: str, value: Any) -> bool:
    """Whether a value has the type of an answer (or gold value) of a question of this kind. A label of an earlier
    rubric version may have answered the same key asked as another kind (a choice that became a rating): such an
    answer counts for nothing in gold, quality and agreement, and a dataset row shows it as null."""
    if kind == QuestionKind.BINARY:
        return isinstance(value, bool)
    if kind == QuestionKind.RATING:  # a rating's gold, a median, may be a float
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == QuestionKind.MULTI_CHOICE:
        return isinstance(value, list)
    return isinstance(value, str)  # choice, text, correction


def asked_alike(question: dict, asked: dict | None) -> bool:
    """Whether an answer given to `asked` (the question as a label's rubric version put it; None: not asked) answers
    `question`: the same kind on the same options or scale (`asked_as`). A rating on 1-5 that became 1-3 under the
    same key, or a choice whose options changed, asks something else (a 3 of five is not a 3 of three): gold, quality
    and agreement compare only answers given alike. The prompt, help and `required` may change."""
    return asked is not None and asked_as(asked) == asked_as(question)


def asked_as(question: dict) -> str:
    """How a question is asked, as far as its answers compare: its kind with a rating's scale ("rating 1-5") or a
    fingerprint of a choice's options (in any order). Equal for two askings exactly when they are alike; a quality row
    records it, so a trend never joins figures taken on different scales."""
    kind = str(question["kind"])
    if kind == QuestionKind.RATING:
        return f"{kind} {'-'.join(str(point) for point in question['scale'])}"
    if kind in (QuestionKind.CHOICE, QuestionKind.MULTI_CHOICE):
        options = json.dumps(sorted(set(question["options"])), ensure_ascii=False)
        return f"{kind} {hashlib.sha256(options.encode()).hexdigest()[:16]}"
    return kind


# What can make two askings of a key unalike, in the order a reader is told of them.
ASKED_CHANGES = ("kind", "scale", "options")


def what_differs(question: dict, other: dict) -> str | None:
    """What makes two askings of one key unalike (`asked_alike`): their "kind", else a rating's "scale" or a choice's
    "options"; None when they are alike."""
    if asked_alike(question, other):
        return None
    if question["kind"] != other["kind"]:
        return "kind"
    return "scale" if question["kind"] == QuestionKind.RATING else "options"


def asked_differently(before: list[dict], after: list[dict]) -> list[str]:
    """The keys `after` (a new rubric version) keeps from `before` but asks differently (`asked_alike`): their answers
    under `before` stop counting toward them (on a multi-choice question, those ticking an option `after` dropped:
    one that only adds options keeps every answer, `still_answers`)."""
    earlier = {question["key"]: question for question in before}
    return [
        question["key"]
        for question in after
        if question["key"] in earlier
        and not asked_alike(question, earlier[question["key"]])
        and not still_answers(question, earlier[question["key"]], earlier[question["key"]].get("options"))
    ]


def dropped_options(question: dict, earlier: dict) -> list[str]:
    """The options `earlier` (an older version's asking of the key) offered that `question` no longer does, when both
    ask it as a multi-choice question: only the answers that ticked one of them stop answering it (`still_answers`),
    the others still count. Empty for any other change, which loses every earlier answer, or none."""
    multi = QuestionKind.MULTI_CHOICE
    if not question["kind"] == earlier["kind"] == multi:
        return []
    offered = set(question["options"])
    return [option for option in earlier["options"] if option not in offered]


def still_answers(question: dict, asked: dict | None, value: Any) -> bool:
    """Whether a value given to `asked` (as an earlier rubric version put the question; None: not asked) answers
    `question`: asked alike, or a multi-choice answer that ticks only options `question` still offers. An option added
    (or one dropped that the expert did not tick) leaves what they ticked, and what they saw and left, as meant; an
    option added since is counted only among the experts offered it (`combine`), so one expert ticking it on an item
    of two gives it no entry (one answer), and the options both were offered keep their agreement."""
    if asked_alike(question, asked):
        return True
    multi = QuestionKind.MULTI_CHOICE
    return (
        asked is not None
        and question["kind"] == asked["kind"] == multi
        and isinstance(value, list)
        and set(value) <= set(question["options"])
    )


def questions_asked(versions: Iterable[list[dict]]) -> list[dict]:
    """Every question some of these rubric versions ask (their questions, given newest first), each as the newest of
    them that asks it asks it: what a set of labels (a week's) answered, in the newest version's order, then the keys
    only older ones ask. A key a newer version dropped stays as the older one asked it; an answer given to an older
    asking of a key the newest one asks otherwise does not answer it (`answers_as_asked`)."""
    found: dict[str, dict] = {}
    for asked in versions:
        for question in asked:
            found.setdefault(question["key"], question)
    return list(found.values())


def answers_as_asked(questions: list[dict], asked: list[dict], answers: dict[str, Any]) -> dict[str, Any]:
    """A label's answers that answer these questions: those its own rubric version (`asked`) asked alike, and its
    multi-choice answers still answerable (`still_answers`)."""
    asked_by_key = {question["key"]: question for question in asked}
    by_key = {question["key"]: question for question in questions}
    return {
        key: value
        for key, value in answers.items()
        if key in by_key and still_answers(by_key[key], asked_by_key.get(key), value)
    }


def decisions_as_asked(
    questions: list[dict], decisions: Mapping[str, dict], asked_in: Mapping[int, list[dict]]
) -> tuple[dict[str, dict], dict[str, dict]]:
    """A lead's decisions (adjudicated and set-aside entries) split into those that answer these questions (the
    item's newest labels' version) and those set aside: a decision counts where the version it was decided under
    (`rubric_version`; `asked_in` maps it to its questions) asked the question alike. A 5 decided on a 1-5 scale is
    no answer on the 1-3 scale the same key asks later. A decision on a question these do not ask, or without a
    version (none is written so), counts as before."""
    by_key = {question["key"]: question for question in questions}
    counting, set_aside = {}, {}
    for key, entry in decisions.items():
        version = entry.get("rubric_version")
        asked = {question["key"]: question for question in asked_in.get(version, [])}.get(key)
        if version is None or key not in by_key or still_answers(by_key[key], asked, entry.get("value")):
            counting[key] = entry
        else:
            set_aside[key] = entry
    return counting, set_aside


def combine(
    question: dict, values: list[Any], *, offered: list[list[str] | None] | None = None, labels: int | None = None
) -> dict | None:
    """Return the automatic entry for one question from the experts' answers (empty answers left out).

    A multi-choice question is combined option by option among the answers whose version offered the option
    (`offered`, beside each value: its version's options, None for those of `question`; an option in none is counted
    among all): an option added to the rubric since an expert answered is neither ticked nor left by them. An option
    fewer than two of an item's `labels` experts (default: as many as values) were offered has no vote
    (`too_few_answers`): it is not in the value, and it makes no tie."""
    if not values:
        return None
    kind = question["kind"]
    if kind in (QuestionKind.BINARY, QuestionKind.CHOICE):
        counts = Counter(values).most_common()
        if len(counts) == 1:
            return {"value": counts[0][0], "method": "unanimous", "votes": _votes(counts)}
        if counts[0][1] > counts[1][1]:
            return {"value": counts[0][0], "method": "majority", "votes": _votes(counts)}
        return {"value": None, "method": TIE, "votes": _votes(counts)}
    if kind == QuestionKind.RATING:
        median = statistics.median(values)
        return {
            "value": int(median) if float(median).is_integer() else median,
            "method": "median",
            "spread": max(values) - min(values),
            "votes": sorted(values),
        }
    if kind == QuestionKind.MULTI_CHOICE:
        chosen = Counter(option for answer in values for option in set(answer))
        shown = [
            set(question["options"] if options is None else options) for options in offered or [None] * len(values)
        ]
        could = {option: sum(option in options for options in shown) or len(values) for option in question["options"]}
        could.update((option, len(values)) for option in chosen if option not in could)  # not an option: all
        counted = {
            option: count
            for option, count in could.items()
            if not too_few_answers(kind, answered=count, labels=labels or len(values))
        }
        value = [option for option in question["options"] if option in counted and chosen[option] > counted[option] / 2]
        if any(chosen[option] == count / 2 for option, count in counted.items()):
            method = TIE
        elif all(chosen[option] in (0, count) for option, count in counted.items()):
            method = "unanimous"
        else:
            method = "majority"
        votes = {option: chosen[option] for option in sorted(counted) if chosen[option]}
        return {"value": value if method != TIE else None, "method": method, "votes": votes}
    return {"value": list(values), "method": "list"}  # text, correction


def sole_correction(text: Any) -> dict | None:
    """The gold entry of the one expert's correction on an item only they labeled; None when they wrote none
    (an empty text: the form sends one when the prefilled answer was left as it was)."""
    if isinstance(text, str) and text.strip():
        return {"value": text, "method": SINGLE}
    return None


def _votes(counts: list[tuple[Any, int]]) -> dict[str, int]:
    return {str(value).lower() if isinstance(value, bool) else str(value): count for value, count in counts}


def gold_entries(automatic: dict | None, adjudicated: dict | None) -> dict[str, dict]:
    """The entry that is gold for each decided question: adjudicated over automatic, ties left out."""
    entries = {key: entry for key, entry in (automatic or {}).items() if entry["method"] != TIE}
    entries.update(adjudicated or {})
    return entries


def gold_answers(automatic: dict | None, adjudicated: dict | None) -> dict[str, Any]:
    """The gold value of each decided question (see `gold_entries`)."""
    return {key: entry["value"] for key, entry in gold_entries(automatic, adjudicated).items()}


def gold_answer(automatic_entry: dict | None, adjudicated_entry: dict | None) -> Any:
    """One question's gold value from its two entries, or None when it is undecided (a tie, or no answer)."""
    if adjudicated_entry is not None:
        return adjudicated_entry["value"]
    if automatic_entry is not None and automatic_entry["method"] != TIE:
        return automatic_entry["value"]
    return None


def same_answer(kind: str, first: Any, second: Any) -> bool:
    """Whether two answers to a question of this kind are the same answer: a multi-choice answer is a set of options
    (its order is not part of it); a value of another kind (an earlier rubric version's) is never the same."""
    if not (is_of_kind(kind, first) and is_of_kind(kind, second)):
        return False
    if kind == QuestionKind.MULTI_CHOICE:
        return set(first) == set(second)
    return first == second


def changed_by_lead(kinds: Mapping[str, str], answers: Mapping[str, Any], started_from: Mapping[str, Any]) -> list[str]:
    """The questions (key → kind, in that order) whose answer is not the one the lead's page started from: what the
    lead changed on an adjudication form. One the page did not start from counts as changed; one it started without
    an answer (a tie) and left without one does not."""
    return [
        key
        for key, kind in kinds.items()
        if key not in started_from
        or not (
            same_answer(kind, started_from[key], answers.get(key))
            or (started_from[key] is None and answers.get(key) is None)
        )
    ]


def verdict_question(questions: Iterable[dict]) -> dict | None:
    """The verdict question among these: the first binary one (None without one).

    The one rule for which question says pass or fail. The pass rate (and what reads it) applies it to the current
    rubric's questions; a dataset row to the questions of the rubric version it was labeled with, and has no verdict
    when the dataset does not keep that question (`export_rows.RowShape`).
    """
    return next((question for question in questions if question["kind"] == QuestionKind.BINARY), None)


class VerdictChange(StrEnum):
    """What a rubric version did to the verdict question (`verdict_change`): what the pass rate reads."""

    NONE = "none"  # neither version has a pass/fail question: there is no pass rate to read alike or not
    SAME = "same"  # the same question, asked alike: the pass rate reads alike across the change
    CHANGED = "changed"  # another question, the same one asked otherwise, or one where there was none
    DROPPED = "dropped"  # the version before had one, this one has none: no pass rate from it on


def verdict_change(before: Iterable[dict], after: Iterable[dict]) -> VerdictChange:
    """What the verdict question did from one version's questions to the next's: the one rule the meeting page, the
    project page, the home page and the rubric page tell the lead from."""
    was, now = verdict_question(before), verdict_question(after)
    if was is None:
        return VerdictChange.NONE if now is None else VerdictChange.CHANGED
    if now is None:
        return VerdictChange.DROPPED
    alike = was["key"] == now["key"] and what_differs(was, now) is None
    return VerdictChange.SAME if alike else VerdictChange.CHANGED


def output_verdict(verdicts: Iterable[Any]) -> bool | None:
    """One verdict from several gold answers to the verdict question (an output's items in several queues, or a
    user's outputs): any fail is a fail, else any pass a pass, else None (nothing decided; non-booleans ignored).

    The one rule "what changed" (pass rates), failure themes (failing outputs) and retention (split by verdict)
    read: an output that passed in one queue and failed in another failed.
    """
    decided = {verdict for verdict in verdicts if isinstance(verdict, bool)}
    if False in decided:
        return False
    return True if True in decided else None


def open_ties(automatic: dict | None, adjudicated: dict | None) -> list[str]:
    """The questions whose experts tie and that no lead has decided yet, in the resolution's order."""
    return [
        key for key, entry in (automatic or {}).items() if entry["method"] == TIE and key not in (adjudicated or {})
    ]
