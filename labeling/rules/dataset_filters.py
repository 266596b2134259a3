"""A dataset's filters as data: which labeled outputs a build takes, checked in one place, and the explore filter
translated into them.

The stored shape (`Dataset.filters`) holds only the filters set, so a dataset defined before a filter existed keeps
its bytes and its definition fingerprint:

    {"tags_any": [...], "since": iso, "until": iso,            # since the first datasets
     "models": [...], "metadata": {key: [values]}, "text_any": [phrases]}

Every filter is decided from the output as ingest stored it, the same way on PostgreSQL and SQLite (the demo): a
model is compared as stored, in SQL; metadata and text are read by `RowFilter` from the decoded JSON, in Python,
so neither a database's number formatting nor the search index (filled after ingest, stemmed on PostgreSQL only)
can change which rows a build takes. `text_any` is a queue rule's text condition, the same phrases found the same
way (`rules.answer_text`): a dataset and a queue given the same phrases take the same outputs. So the explore
search (`q`) itself is not a dataset filter: `from_explore` carries it as phrases, as "make a queue" does, saying
how they differ, and names the rest.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from labeling.exceptions import InvalidFilter
from labeling.rules.answer_text import MAX_PHRASES, PhraseMatcher, phrases_problem, search_as_phrases
from labeling.rules.explore import ExploreFilter, metadata_text, parse_filter, typed_pair
from labeling.rules.listed_values import FILTER_LISTS, empty_lists
from labeling.rules.text import text_problem

FILTER_KEYS = ("tags_any", "since", "until", "models", "metadata", "text_any")
MAX_VALUES = 200  # models, tags, metadata keys, values of one key (the API took 200 tags from the first)
MAX_VALUE_CHARS = 200

TEXT_ANY_HELP = (
    f"Only outputs whose answer contains one of these phrases (up to {MAX_PHRASES}), in any case, as a queue's "
    "“Answer contains any of” finds them: plain text, in the answer's text (a JSON answer's string values, not its "
    "keys)."
)
METADATA_HELP = (
    "Metadata key → the values it may hold (compared as text: true as `true`, a number as its digits); different "
    "keys must all hold."
)


def filter_problems(
    *,
    tags_any: list[str] | None = None,
    models: list[str] | None = None,
    metadata: dict[str, list[str]] | None = None,
    text_any: list[str] | None = None,
) -> list[tuple[str, str]]:
    """What is wrong with the filters given (already of the right types), as (field, problem) pairs. None: not given;
    no phrase or metadata value is refused, as a queue rule's is; no tag or model is any (rules.listed_values)."""
    given = {"tags_any": tags_any, "models": models, "metadata": metadata, "text_any": text_any}
    problems = [(name, f"{_FIELD_NAMES[name]}: {problem}") for name, problem in empty_lists(given, FILTER_LISTS)]
    for name, values in (("tags_any", tags_any), ("models", models)):
        if values and (problem := _values_problem(values)):
            problems.append((name, f"{_FIELD_NAMES[name]}: {problem}."))
    if metadata:
        if len(metadata) > MAX_VALUES:
            problems.append(("metadata", f"Metadata: at most {MAX_VALUES} keys."))
        for key, values in metadata.items():
            if problem := _values_problem([key], noun="key"):
                problems.append(("metadata", f"Metadata: {problem}."))
            elif values and (problem := _values_problem(values)):
                problems.append(("metadata", f"Metadata, {key!r}: {problem}."))
    if text_any and (problem := phrases_problem(text_any)):
        problems.append(("text_any", f"{_FIELD_NAMES['text_any']}: {problem}"))
    return problems


_FIELD_NAMES = {"tags_any": "Tags", "models": "Models", "metadata": "Metadata", "text_any": "Answer contains any of"}


def _values_problem(values: list[str], *, noun: str = "value") -> str | None:
    if len(values) > MAX_VALUES:
        return f"at most {MAX_VALUES} {noun}s"
    for value in values:
        if not value.strip():
            return f"a {noun} is blank"
        if problem := text_problem(value):
            return f"a {noun} {problem}"
        if len(value) > MAX_VALUE_CHARS:
            return f"a {noun} has more than {MAX_VALUE_CHARS} characters"
    return None


def stored_filters(
    *,
    tags_any: list[str],
    since: str | None,
    until: str | None,
    models: list[str],
    metadata: dict[str, list[str]],
    text_any: list[str] | None,
) -> dict[str, Any]:
    """The filters as `Dataset.filters` keeps them: only those set, in FILTER_KEYS order (the first three as they
    always were)."""
    filters: dict[str, Any] = {"tags_any": tags_any} if tags_any else {}
    if since:
        filters["since"] = since
    if until:
        filters["until"] = until
    if models:
        filters["models"] = list(dict.fromkeys(models))
    if metadata:
        filters["metadata"] = {key: list(dict.fromkeys(values)) for key, values in sorted(metadata.items())}
    if text_any:
        filters["text_any"] = list(dict.fromkeys(text_any))
    return filters


PYTHON_FILTERS = ("tags_any", "metadata", "text_any")  # read by RowFilter; the others are the build's SQL


class RowFilter:
    """The filters read in Python (PYTHON_FILTERS), made ready once for a build's many rows: the tags as a set, the
    phrases lowered (`answer_text.PhraseMatcher`)."""

    __slots__ = ("_tags_any", "_metadata", "_phrases")

    def __init__(self, filters: dict[str, Any]) -> None:
        self._tags_any = frozenset(filters.get("tags_any") or ())
        self._metadata = tuple((filters.get("metadata") or {}).items())
        self._phrases = PhraseMatcher(filters["text_any"]) if filters.get("text_any") else None

    def keeps(self, *, tags: list | None, metadata: dict | None, answer: Any) -> bool:
        """Whether an output meets these filters. `answer`: the output decoded, its text or JSON value, read as a
        queue rule reads it."""
        if self._tags_any and self._tags_any.isdisjoint(tags or ()):
            return False
        for key, allowed in self._metadata:
            if not isinstance(metadata, dict) or key not in metadata or metadata_text(metadata[key]) not in allowed:
                return False
        return self._phrases is None or self._phrases.matches(answer)


def keeps_output(filters: dict[str, Any], *, tags: list | None, metadata: dict | None, answer: Any) -> bool:
    """Whether an output meets the filters read in Python (PYTHON_FILTERS); the others are SQL conditions. For one
    output; a build reads its rows with one `RowFilter`."""
    return RowFilter(filters).keeps(tags=tags, metadata=metadata, answer=answer)


def _given(spec: ExploreFilter, name: str) -> bool:
    """Whether the filter sets this field: a `no` (False) is a condition too, only None and empty are not."""
    return getattr(spec, name) not in (None, (), "")


@dataclass(frozen=True)
class Translation:
    """An explore filter as a dataset's: the form's initial values, what changes meaning on the way (`changed`) and
    what a dataset cannot carry (`left_out`), each a sentence naming the filter."""

    initial: dict[str, Any] = field(default_factory=dict)
    changed: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()


# What a dataset cannot carry, by the ExploreFilter field, with why.
_NOT_CARRIED = {
    "metadata_keys": "having a metadata key (a dataset compares metadata values)",
    "end_user": "the end user",
    "session": "the session",
    "feedback": "end-user feedback",
    "has_comment": "a feedback comment",
    "gold": "a gold answer (a dataset holds every row's gold answer: filter its rows by `label`)",
    "disagree": "the experts' disagreement (a dataset holds every row's labels: compare them)",
    "flagged": "flagged by an expert",
    "min_chars": "the shortest output length",
    "max_chars": "the longest output length",
    "theme": "a failure theme (its outputs change as the weeks' themes are made)",
    "events": "a usage event of the end user",
    "has_event": "having a usage event",
}


def from_explore(spec: ExploreFilter) -> Translation:
    """The explore filter as the "new dataset" form's initial values: models, tags (any), metadata values, the
    days, the queues and the search, as phrases (as "make a queue" carries it), carry over; every other condition
    is named in `left_out`."""
    initial: dict[str, Any] = {}
    changed: list[str] = []
    left_out = [f"“{why}” is not a dataset filter." for name, why in _NOT_CARRIED.items() if _given(spec, name)]
    if spec.models:
        initial["models"] = ", ".join(spec.models)
    if spec.tags and (not spec.all_tags or len(spec.tags) == 1):
        initial["tags_any"] = ", ".join(spec.tags)
    elif spec.tags:
        left_out.append("“all of the tags” is not a dataset filter: a dataset takes outputs with any of its tags.")
    if spec.metadata:
        initial["metadata"] = "\n".join(typed_pair(key, value) for key, values in spec.metadata for value in values)
    if spec.since:
        initial["since"] = spec.since
    if spec.until:
        initial["until"] = spec.until + timedelta(days=1)  # explore's last day is included; a dataset's is not
    if spec.queues:
        initial["queues"] = list(spec.queues)
    if spec.labeled is False:
        left_out.append("“not labeled”: a dataset holds labeled items only.")
    if spec.q:
        _carry_search(spec.q, initial, changed, left_out)
    return Translation(initial=initial, changed=tuple(changed), left_out=tuple(left_out))


def from_explore_query(params: Mapping) -> Translation:
    """The explore page's query parameters (its "Make a dataset from this filter" link) as a dataset's; a filter
    explore would refuse is carried nowhere, each problem named."""
    try:
        return from_explore(parse_filter(params))
    except InvalidFilter as refused:
        return Translation(left_out=tuple(f"“{name}”: {problem}" for name, problem in refused.problems.items()))


def _carry_search(q: str, initial: dict, changed: list[str], left_out: list[str]) -> None:
    """The search as phrases any of which the answer holds (`answer_text.search_as_phrases`, as a queue takes it);
    left-out words (`-word`) are named, and so is a search no phrase can stand for."""
    search = search_as_phrases(q)
    searched = search.searched[0].upper() + search.searched[1:]
    if search.phrases is None:
        left_out.append(f"{searched}: {search.problem}")
        return
    initial["text_any"] = "\n".join(search.phrases)
    changed.append(f"{searched} becomes “Answer contains any of”. {search.note}")
    if search.excluded:
        left_out.append(
            f"The words left out of the search, {search.excluded}: a dataset finds text, it cannot leave text out."
        )
