"""The text condition (`text_any`) of a queue's routing rule and of a dataset's filters: which phrases it may hold,
how they are found in an answer, and how an explore search becomes them.

One reading for routing (`services.routing.rule_matches`), its SQL twin (`rule_filter`, which must agree), a
dataset's build (`rules.dataset_filters.RowFilter`), the queue and dataset forms and the explore page's "make a
queue / a dataset from this filter". A phrase is found in an answer when it is a plain
substring (no wildcard, no regex) of one of the answer's strings (the output itself when it is text; each string
value of a JSON output, its keys left out), both sides in lower case by Unicode's full mapping: Python's str.lower,
and PostgreSQL's lower() under ICU's root collation (`und-x-icu`), which agree where the database's own collation
(C.UTF-8 here) would not. So "İ" lowers to "i" with a combining dot above (not to "i"), "ß" is not "ss", and a capital
sigma at a word's end lowers to a final sigma ("ΟΔΥΣΣΕΑΣ" to "οδυσσεας"), in the answer and the phrase alike.
"""

from dataclasses import dataclass
from typing import Any

from labeling.rules.explore import search_groups
from labeling.rules.listed_values import nothing_listed
from labeling.rules.text import counted, figure, strings_in, text_problem

MAX_PHRASES = 20
MAX_PHRASE_CHARS = 200


def phrases_problem(phrases: list[str]) -> str | None:
    """Why a rule cannot hold these phrases (none, too many, a phrase empty, too long or not one line), or None when
    it can. No phrase at all is refused rather than read, as every list of nothing is (rules.listed_values)."""
    if not phrases:
        return nothing_listed("phrase")
    if len(phrases) > MAX_PHRASES:
        return f"{counted(len(phrases), 'phrase')}; use at most {figure(MAX_PHRASES)}."
    for phrase in phrases:
        if not phrase.strip():
            return "a phrase is empty (or only spaces): it would be found in nearly every answer."
        if len(phrase) > MAX_PHRASE_CHARS:
            return f"the phrase “{phrase[:40]}…” has {len(phrase):,} characters; use at most {MAX_PHRASE_CHARS}."
        if problem := text_problem(phrase):
            return f"a phrase {problem}."
        if phrase.splitlines() != [phrase]:
            return f"a phrase is one line: {phrase[:40]!r} has a line break."
    return None


class PhraseMatcher:
    """Phrases to find in many answers (a queue routing a batch, a dataset's build): lowered once here, and each of
    an answer's strings lowered once, however many phrases there are."""

    __slots__ = ("_lowered",)

    def __init__(self, phrases: list[str]) -> None:
        self._lowered = tuple(dict.fromkeys(phrase.lower() for phrase in phrases))

    def matches(self, answer: Any) -> bool:
        """Is one of the (checked) phrases in one of the answer's strings, both in lower case?"""
        for text in strings_in(answer):
            lowered = text.lower()
            if any(phrase in lowered for phrase in self._lowered):
                return True
        return False


def phrases_from_search(q: str) -> tuple[list[str] | None, list[str]]:
    """The explore search as phrases any of which the answer holds, and the words it leaves out (`-word`), which no
    phrase can say. Each group of words searched together (OR separates groups) is one phrase, in the order typed,
    each once. None for the phrases when a group holds left-out words only (it finds everything but them, which no
    phrase can stand for); the phrases are not checked (`phrases_problem`)."""
    groups = search_groups(q)
    phrases = list(dict.fromkeys(" ".join(term for term, out in group if not out) for group in groups))
    excluded = [term for group in groups for term, out in group if out]
    return (None if "" in phrases else phrases), excluded


@dataclass(frozen=True)
class SearchAsPhrases:
    """An explore search as a `text_any` ("make a queue / a dataset from this filter"): the phrases, or None with the
    `problem` saying why none can stand for it; the words it leaves out, each shown as “-word”, which no phrase can
    say; and the `note` saying how finding the phrases differs from the search."""

    searched: str  # "the search “…”", in its own quotes when it has some
    phrases: list[str] | None
    problem: str | None
    excluded: str  # "“-late”, “-delay”", or "" when it leaves no word out
    note: str


SEARCH_AS_PHRASES_NOTE = (
    "Each phrase is found as written, in any case, in the answer only: not by word stems (“refunds” does not find "
    "“refund”), and not in the input, the end user's comment, the context or ids. Words searched together became "
    "one phrase, in the order typed."
)


def search_as_phrases(q: str) -> SearchAsPhrases:
    """The search as phrases (`phrases_from_search`), checked (`phrases_problem`), with what they cannot carry."""
    searched = f"the search {q}" if '"' in q else f"the search “{q}”"  # its own quotes, or ours
    phrases, excluded = phrases_from_search(q)
    if phrases is None:
        problem = "no phrase can stand for it, as a phrase is found in the answer and none finds what lacks one."
    elif problem := phrases_problem(phrases):
        problem = f"as phrases, {problem}"
    words = ", ".join(f"“-{term}”" for term in excluded)
    return SearchAsPhrases(searched, None if problem else phrases, problem, words, SEARCH_AS_PHRASES_NOTE)
