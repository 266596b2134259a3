"""Text a person or client typed: what PostgreSQL cannot store is refused, naming the field; and the short
plain-text preview every page and report shows of an AI output."""

import json
import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from typing import Any

from django.utils.text import slugify
from django.utils.translation import ngettext
from markdown_it import MarkdownIt
from markdown_it.token import Token

from labeling.exceptions import InvalidInput

EXCERPT_CHARS = 160


def text_problem(text: str) -> str | None:
    """Why the text cannot be stored or shown (a NUL, an unpaired surrogate), or None when it can."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (invalid UTF-16), which cannot be stored"
    return None


def name_problem(text: str) -> str | None:
    """Why the text cannot be a name (of a project, queue, dataset, view, key or token), or None when it can: a name is
    one line of plain text, shown in crumbs, lists and e-mail subjects and bodies, where a line break or another
    control character in it ("Evil\\r\\nBcc: …") would start lines of its own."""
    if problem := text_problem(text):
        return problem
    for char in text:
        if unicodedata.category(char) == "Cc" or char in "\u2028\u2029":
            return f"contains a line break or another control character (U+{ord(char):04X}): a name is one line of text"
    return None


def check_names(**fields: str) -> None:
    """Raise InvalidInput naming the first field whose text cannot be a name (`name_problem`)."""
    for field, value in fields.items():
        if problem := name_problem(value or ""):
            raise InvalidInput(f"The {field.replace('_', ' ')} {problem}.")


def slug_from_name(name: str, limit: int = 64) -> str:
    """The slug a name suggests, as the new-project and new-queue pages' scripts suggest it: lowercase ASCII
    letters and digits joined by single hyphens ("" when the name has none, e.g. it is all CJK)."""
    return re.sub(r"-+", "-", slugify(name).replace("_", "-"))[:limit].strip("-")


def has_letter_or_digit(text: str) -> bool:
    """Whether the text holds a letter or digit of any script (a name of dashes or punctuation names nothing)."""
    return any(char.isalnum() for char in text)


def slug_for_name(name: str, *, prefix: str, taken: Collection[str], limit: int = 64) -> str:
    """The slug of a new row named `name`: its ASCII slug (`slug_from_name`) when it has one, else `<prefix>-<n>`
    with the smallest n ≥ 1 whose slug is not in `taken` (the slugs starting with `<prefix>-` in the row's scope).
    URLs take ASCII slugs only (Django's `slug` converter), so a name all in CJK, Greek or Cyrillic gets a
    generated one; the name itself is kept as typed."""
    slug = slug_from_name(name, limit)
    if slug:
        return slug
    number = 1
    while f"{prefix}-{number}" in taken:
        number += 1
    return f"{prefix}-{number}"


def check_storable(**fields: str) -> None:
    """Raise InvalidInput naming the first field whose text cannot be stored."""
    for name, value in fields.items():
        problem = text_problem(value or "")
        if problem:
            raise InvalidInput(f"The {name.replace('_', ' ')} {problem}.")


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """Return a one-paragraph plain-text preview of an output: a text as the reader of its rendered Markdown sees
    it (no asterisks, backticks or fences), anything else as compact JSON; cut at `limit` with an ellipsis."""
    if not isinstance(value, str):
        return shortened(json.dumps(value, ensure_ascii=False), limit)
    if len(value) <= _CACHED_CHARS:
        return _text_excerpt(value, limit)
    return shortened(markdown_text(value, at_least=limit + 1), limit)


# Pages show the same outputs again (the project page's latest, explore's first page, the adjudication list), and
# parsing Markdown costs ~0.1 ms an output: short texts' previews are kept per process. Bounded at 256 texts of up to
# 2,000 characters (at most 2 MB even in UCS-4), so a web worker's memory stays where the RSS bound keeps it; a longer
# text is parsed only in a first window anyway (`markdown_text`).
_CACHED_CHARS = 2_000


@lru_cache(maxsize=256)
def _text_excerpt(text: str, limit: int) -> str:
    return shortened(markdown_text(text, at_least=limit + 1), limit)


def shortened(text: str, limit: int) -> str:
    """The text on one line (whitespace collapsed), cut at `limit` characters with an ellipsis when longer."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# How much of an answer is searched for the phrase an excerpt shows: past this, an excerpt shows the answer's start.
_SEARCHED_CHARS = 100_000


def excerpt_around(
    value: Any, phrases: Sequence[str], limit: int = EXCERPT_CHARS, *, also_marked: Sequence[str] = ()
) -> list[tuple[str, bool]]:
    """The output's excerpt (`excerpt`) as (text, is_match) pieces, showing why it matched: when the first of the
    phrases found in it (in any case; else the first of `also_marked`) lies past the excerpt's end, the excerpt starts
    a little before it, "…" at each end it cuts; every phrase and `also_marked` term it shows is marked. Plain text:
    a page escapes each piece and marks a match with <mark>, never raw HTML (an answer is untrusted)."""
    phrases = [phrase for phrase in phrases if phrase.strip()]
    marked = _any_of([*phrases, *also_marked])
    if marked is None:
        return [(excerpt(value, limit), False)]
    text = excerpt(value, _SEARCHED_CHARS)
    first = (_any_of(phrases) or marked).search(text) or marked.search(text)
    if first is None or first.end() < limit:
        return _pieces(shortened(text, limit), marked)
    # A little context before the phrase (less for a long one, so it fits; more near the end, so the room is used),
    # from a word's start.
    start = max(0, first.start() - min(limit // 4, max(0, limit - 2 - len(first.group()))))
    start = max(0, min(start, len(text) - (limit - 1)))
    if start and not text[start - 1].isspace():
        start = min(text.find(" ", start) + 1 or start, first.start())
    return _pieces("…" + shortened(text[start:], limit - 1), marked)


def _any_of(terms: Sequence[str]) -> re.Pattern | None:
    """A pattern finding any of the terms in any case, the longest first where several start at one place."""
    terms = sorted({term for term in terms if term.strip()}, key=len, reverse=True)
    return re.compile("|".join(re.escape(term) for term in terms), re.IGNORECASE) if terms else None


def _pieces(text: str, pattern: re.Pattern) -> list[tuple[str, bool]]:
    pieces, at = [], 0
    for match in pattern.finditer(text):
        if match.start() > at:
            pieces.append((text[at : match.start()], False))
        pieces.append((match.group(), True))
        at = match.end()
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces


# The Markdown the item and session pages render (labeling/web/markdown.py): CommonMark with tables and raw HTML
# off, so a tag is text there and so here (every page escapes the excerpt).
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
# Text with none of these is its own plain text (parsing costs ~20x a plain split): what can open markup inline
# (emphasis, code, links, images, autolinks, entities, escapes, tables, fences) or at a line's start (headings are
# '#', quotes '>'; list items, setext underlines and breaks start with '-', '+', '=' or a number and '.' or ')').
_MAY_BE_MARKDOWN = re.compile(r"[*_`#\[\]!<>|~&\\]|^\s*(?:[-+=]|\d{1,9}[.)])", re.MULTILINE)
# Parsing costs about a microsecond a character, and an output can be long: a preview parses only a first window of
# it (twice the characters it needs, ending at a line's end), and more only when markup took the room.
_FIRST_WINDOW_CHARS = 320


def markdown_text(text: str, *, at_least: int | None = None) -> str:
    """The text a reader of this rendered Markdown sees, on one line: the words of emphasis, code spans, links
    (their text), images (their alt text), headings, list items (an ordered item keeps its number, as the page
    shows it), quotes, tables and fenced code; raw HTML as the text it is. With `at_least`, only enough of a long
    text is parsed to give that many characters, unless the whole text gives fewer."""
    if not _MAY_BE_MARKDOWN.search(text):
        return " ".join(text.split())
    if at_least is None:
        return _plain_text(text)
    window = max(_FIRST_WINDOW_CHARS, 2 * at_least)
    while True:
        # The window ends at a line's end when one is near, so a code span or a link is rarely split (a split one
        # would show its markup, past what the preview keeps).
        cut = text.find("\n", window, window + window // 2)
        if window >= len(text) or (cut == -1 and window + window // 2 >= len(text)):
            return _plain_text(text)
        plain = _plain_text(text[: cut if cut != -1 else window])
        if len(plain) >= at_least:
            return plain
        window *= 4  # markup took the room (a long link or image address): parse more


def _plain_text(text: str) -> str:
    parts = []
    for token in _MARKDOWN.parse(text):
        if token.type == "inline":
            parts.extend(_inline_text(token.children or []))
        elif token.type in ("fence", "code_block"):
            parts.append(token.content)
        elif token.type == "list_item_open" and token.info:
            parts.append(token.info + token.markup)  # an ordered list's number and its '.' or ')'
        parts.append(" ")
    return " ".join("".join(parts).split())


def _inline_text(tokens: Iterable[Token]) -> Iterable[str]:
    for token in tokens:
        if token.type in ("text", "text_special", "code_inline"):
            yield token.content
        elif token.type in ("softbreak", "hardbreak"):
            yield " "
        elif token.type == "image":
            yield from _inline_text(token.children or [])  # the alt text


# Unicode's explicit directional formatting characters: embeddings and overrides (U+202A–U+202E) and isolates
# (U+2066–U+2069). In user text put inline among the app's own words, an override (U+202E) would reverse those
# words too, up to the end of the line, unless the text is isolated: `isolated` in plain text, the `bidi_isolate`
# template filter (a <bdi>) and the `.chip` rule of app.css in pages.
DIRECTIONAL_FORMATTING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_OPENS_ISOLATE, _POPS_ISOLATE = frozenset("\u2066\u2067\u2068"), "\u2069"


def without_stray_isolate_ends(text: str) -> str:
    """The text without each U+2069 (pop directional isolate) that closes no isolate opened in it: such a one
    would close the isolate the text is wrapped in, and let an override after it reverse what follows."""
    if _POPS_ISOLATE not in text:
        return text
    kept, open_isolates = [], 0
    for char in text:
        if char in _OPENS_ISOLATE:
            open_isolates += 1
        elif char == _POPS_ISOLATE:
            if not open_isolates:
                continue
            open_isolates -= 1
        kept.append(char)
    return "".join(kept)


FORMER_MEMBER = "a former member"  # who did something, in a sentence, once their account is gone


def isolated(text: str) -> str:
    """User text for a plain-text sentence (an audit log line, a message): wrapped in U+2068…U+2069 (a first-strong
    isolate) when it holds a directional formatting character, so those reorder nothing around it; as is
    otherwise, so ordinary text copies without invisible characters."""
    if DIRECTIONAL_FORMATTING.isdisjoint(text):
        return text
    return f"\u2068{without_stray_isolate_ends(text)}\u2069"


def strings_in(value: Any, *, skip_keys: frozenset[str] = frozenset()) -> list[str]:
    """Every string value in a JSON value (object keys left out), in document order; the values of `skip_keys`
    left out too (e.g. a chat message's "role")."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = [item for key, item in value.items() if key not in skip_keys]
    if isinstance(value, list):
        return [text for element in value for text in strings_in(element, skip_keys=skip_keys)]
    return []


def text_chars(value: Any) -> int:
    """An output's length: the characters of its string values (as the search index counts them)."""
    return sum(len(text) for text in strings_in(value))


def listed(words: Sequence[str]) -> str:
    """Words as a sentence lists them: "a", "a and b", "a, b and c"; "" for none (each caller words an empty
    list its own way)."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def noun(number: int, singular: str, plural: str | None = None) -> str:
    """The noun agreeing with the number: "item" for 1, "items" for any other (never "item(s)")."""
    return ngettext(singular, plural or f"{singular}s", number)


def figure(number: int) -> str:
    """A count as every page, message and email writes it, thousands grouped: "2,081" (the `:,` of the sentences
    written inline; `|figure` in the templates)."""
    return f"{number:,}"


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """The number with its noun agreeing, thousands grouped as every page writes them: "1 item", "3 items", "1,234
    items"."""
    return f"{figure(number)} {noun(number, singular, plural)}"


def duration_in_words(seconds: int) -> str:
    """A length of time as people say it: "3 days", "24 hours", "15 minutes", "90 seconds"."""
    for unit, size, least in (("day", 86400, 2 * 86400), ("hour", 3600, 3600), ("minute", 60, 60)):
        if seconds >= least and seconds % size == 0:
            return counted(seconds // size, unit)
    return counted(seconds, "second")
