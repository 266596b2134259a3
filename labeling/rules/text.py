"""Text a person or client typed: what PostgreSQL cannot store is refused, naming the field; and the short
plain-text preview every page and report shows of an AI output."""

import json
import re
from typing import Any

from django.utils.text import slugify

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


def slug_from_name(name: str, limit: int = 64) -> str:
    """The slug a name suggests, as the new-project and new-queue pages' scripts suggest it: lowercase ASCII
    letters and digits joined by single hyphens ("" when the name has none, e.g. it is all CJK)."""
    return re.sub(r"-+", "-", slugify(name).replace("_", "-"))[:limit].strip("-")


def check_storable(**fields: str) -> None:
    """Raise InvalidInput naming the first field whose text cannot be stored."""
    for name, value in fields.items():
        problem = text_problem(value or "")
        if problem:
            raise InvalidInput(f"The {name.replace('_', ' ')} {problem}.")


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """Return a one-paragraph plain-text preview of an output (text as is, anything else as compact JSON)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


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
