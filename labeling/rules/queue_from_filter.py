"""An explore filter as a queue's routing rule: what the explore page's "Make a queue from this filter" pre-fills.

A rule routes outputs as they arrive, one at a time, by what the output itself holds; a filter can also ask about
time, people, review work and length. `rule_from_filter` carries what a rule can say and names everything else, so
the lead sees what the queue will not look at instead of finding out later. The queue editor writes lists as comma
lists and metadata as `key=value|value` lines: a value those cannot hold is named too rather than mangled.
"""

import re
from dataclasses import dataclass

from labeling.rules.answer_text import search_as_phrases
from labeling.rules.explore import ExploreFilter

# The queue editor's text forms (web.lead_forms): what a comma list, or a metadata line, cannot hold.
_COMMA_LIST_BREAKERS = ","
_METADATA_KEY_BREAKERS = "="
_METADATA_VALUE_BREAKERS = "|"
# A metadata value explore compares as text, read as the JSON number it may be: its digits as PostgreSQL writes them.
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)\.[0-9]+")
FEEDBACK_WORDS = {1: "up", 0: "neutral", -1: "down", None: "none"}


@dataclass(frozen=True)
class Carried:
    """A part of the filter (in words) and the rule field (`Rule`'s name) it became; `note` says how it differs."""

    part: str
    field: str
    note: str = ""


@dataclass(frozen=True)
class FilterAsRule:
    """The rule (valid as `validate_rule` reads it), what of the filter it carries, and what it leaves out."""

    rule: dict
    carried: tuple[Carried, ...]
    not_carried: tuple[str, ...]  # each part of the filter the rule leaves out, in words, with why when not obvious


def rule_from_filter(spec: ExploreFilter) -> FilterAsRule:
    """The rule that asks what the filter asks, as far as a rule can; what it cannot, named in `not_carried`."""
    rule: dict = {}
    carried: list[Carried] = []
    left: list[str] = []
    if spec.q:
        _carry_search(spec.q, rule, carried, left)
    if spec.models:
        if _fit(spec.models, _COMMA_LIST_BREAKERS, trimmed=True):
            rule["models"] = list(spec.models)
            carried.append(Carried(f"the model {_either(spec.models)}", "models"))
        else:
            left.append(f"the model {_either(spec.models)} (the queue editor lists models by commas, trimmed)")
    if spec.tags:
        field, how = ("tags_all", "all of") if spec.all_tags else ("tags_any", "any of")
        if _fit(spec.tags, _COMMA_LIST_BREAKERS, trimmed=True):
            rule[field] = list(spec.tags)
            carried.append(Carried(f"the tags {how} {', '.join(spec.tags)}", field))
        else:
            left.append(f"the tags {how} {', '.join(spec.tags)} (the queue editor lists tags by commas, trimmed)")
    _carry_metadata(spec, rule, carried, left)
    if spec.feedback:
        words = _either(FEEDBACK_WORDS[score] for score in spec.feedback)
        if None in spec.feedback:
            left.append(f"the feedback {words} (a rule cannot ask for outputs without feedback)")
        else:
            rule["feedback_scores"] = sorted(spec.feedback)
            carried.append(Carried(f"the feedback {words}", "feedback_scores"))
    if spec.has_comment is not None:
        rule["has_comment"] = spec.has_comment
        carried.append(Carried("with a comment" if spec.has_comment else "without a comment", "has_comment"))
    left += _not_carried_by_any_rule(spec)
    return FilterAsRule(rule=rule, carried=tuple(carried), not_carried=tuple(left))


def _carry_search(q: str, rule: dict, carried: list[Carried], left: list[str]) -> None:
    """The search as phrases, any of which the answer holds (`answer_text.search_as_phrases`). Words left out
    (`-word`) are named: a rule finds text, it cannot leave text out. A search no phrase can stand for is named
    whole."""
    search = search_as_phrases(q)
    if search.phrases is None:
        left.append(f"{search.searched} ({search.problem})")
        return
    rule["text_any"] = search.phrases
    carried.append(Carried(search.searched, "text_any", search.note))
    if search.excluded:
        left.append(
            f"the words left out of the search, {search.excluded} (a rule finds text, it cannot leave text out)"
        )


def _carry_metadata(spec: ExploreFilter, rule: dict, carried: list[Carried], left: list[str]) -> None:
    """Explore compares a metadata value as text; a rule compares JSON values. "3" becomes "3" or the number 3,
    "true" the text or true: what the search found, except that a number is found however its digits are written
    (2.5 also finds 2.50, whose text the search told apart)."""
    conditions: dict = {}
    for key, values in spec.metadata:
        shown = f"the metadata {key}: {_either(values)}"
        if key.startswith("#") or not _fit([key], _METADATA_KEY_BREAKERS, trimmed=True):
            left.append(f"{shown} (the queue editor cannot write this key as a key=value line)")
        elif not _fit(values, _METADATA_VALUE_BREAKERS):
            left.append(f"{shown} (the queue editor separates values by |)")
        else:
            alternatives = [json for value in values for json in _json_values(value)]
            conditions[key] = alternatives[0] if len(alternatives) == 1 else alternatives
            carried.append(Carried(shown, "metadata"))
    if conditions:
        rule["metadata"] = conditions
    left += [f"the metadata key {key} being there" for key in spec.metadata_keys]


def _json_values(text: str) -> list[str | int | float | bool]:
    """The JSON values explore's text comparison finds with this text: the text, and the number or flag it spells."""
    if text in ("true", "false"):
        return [text, text == "true"]
    if _INTEGER.fullmatch(text) and text != "-0":
        return [text, int(text)]
    if _DECIMAL.fullmatch(text):
        return [text, float(text)]
    return [text]


def _not_carried_by_any_rule(spec: ExploreFilter) -> list[str]:
    """The filter's parts no rule can say: they are about time, people, review work or length, not the output."""
    left = []
    if spec.since or spec.until:
        days = " ".join(
            part for part in (spec.since and f"from {spec.since}", spec.until and f"to {spec.until}") if part
        )
        left.append(f"the date range ({days}): a queue takes outputs as they arrive, and a backfill this week's")
    if spec.end_user:
        left.append(f"the end user {spec.end_user}")
    if spec.session:
        left.append(f"the session {spec.session}")
    if spec.labeled is not None:
        left.append("labeled" if spec.labeled else "not labeled yet")
    if spec.disagree is not None:
        left.append("the experts disagreed" if spec.disagree else "the experts agreed")
    if spec.gold:
        left.append("the gold answers " + ", ".join(f"{question}:{answer}" for question, answer in spec.gold))
    if spec.queues:
        left.append(f"being in the queue {_either(spec.queues)}")
    if spec.flagged is not None:
        left.append("flagged" if spec.flagged else "not flagged")
    if spec.min_chars is not None or spec.max_chars is not None:
        bounds = [f"at least {spec.min_chars:,}" if spec.min_chars is not None else "",
                  f"at most {spec.max_chars:,}" if spec.max_chars is not None else ""]  # fmt: skip
        left.append(f"the output length ({' and '.join(bound for bound in bounds if bound)} characters)")
    if spec.theme:
        left.append(f"the failure theme {spec.theme[0]}.{spec.theme[1]}")
    if spec.events:
        left.append(f"the end user's usage event {_either(spec.events)}")
    if spec.has_event is not None:
        left.append("the end user having a usage event" if spec.has_event else "the end user having no usage event")
    return left


def _fit(values, breakers: str, *, trimmed: bool = False) -> bool:
    """Can the queue editor's text form hold these values: one line each, none of the breakers, and (`trimmed`,
    for a form that trims) no spaces at their ends?"""
    return all(
        value.splitlines() == [value]
        and not any(char in value for char in breakers)
        and (not trimmed or value == value.strip())
        for value in values
    )


def _either(values) -> str:
    return " or ".join(values)
