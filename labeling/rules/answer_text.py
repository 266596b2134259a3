"""A routing rule's text condition (`text_any`): which phrases a rule may hold, and how they are found in an answer.

One reading for routing (`services.routing.rule_matches`), its SQL twin (`rule_filter`, which must agree), the queue
editor and the explore page's "make a queue from this filter". A phrase is found in an answer when it is a plain
substring (no wildcard, no regex) of one of the answer's strings (the output itself when it is text; each string
value of a JSON output, its keys left out), both sides in lower case by Unicode's full mapping: Python's str.lower,
and PostgreSQL's lower() under ICU's root collation (`und-x-icu`), which agree where the database's own collation
(C.UTF-8 here) would not. So "İ" lowers to "i" with a combining dot above (not to "i"), "ß" is not "ss", and a capital
sigma at a word's end lowers to a final sigma ("ΟΔΥΣΣΕΑΣ" to "οδυσσεας"), in the answer and the phrase alike.
"""

from typing import Any

from labeling.rules.text import strings_in, text_problem

MAX_PHRASES = 20
MAX_PHRASE_CHARS = 200


def phrases_problem(phrases: list[str]) -> str | None:
    """Why a rule cannot hold these phrases (empty, too many or too long, not one line), or None when it can."""
    if len(phrases) > MAX_PHRASES:
        return f"{len(phrases)} phrases; use at most {MAX_PHRASES}."
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


def has_any_phrase(answer: Any, phrases: list[str]) -> bool:
    """Is one of the (checked) phrases in one of the answer's strings, both in lower case?"""
    lowered = [phrase.lower() for phrase in phrases]
    return any(phrase in text.lower() for text in strings_in(answer) for phrase in lowered)
