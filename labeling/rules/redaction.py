"""Find personal data in free text and replace it with typed placeholders (pure: no ORM, no settings).

Detectors, each returning spans of the original text:
- e-mail addresses: a regex; a "top-level domain" that is a file extension (`logo@2x.png`) or a number
  (`lodash@4.17.21`) is not an address;
- phone numbers: Google's libphonenumber (`phonenumbers.PhoneNumberMatcher`, leniency VALID: the number
  must be a real, assignable number of its region), with the project's default region for numbers
  written without `+`; a number right after "order", "ticket", "#" … (or the value of a JSON key such
  as `order_id`) is an id, not a phone;
- payment cards: 13–19 digits (spaces or dashes between groups), issuer prefix 2–6, Luhn checksum; not
  after "IMEI", "tracking number" … (IMEIs and some parcel numbers pass Luhn too);
- IBANs: country code, check digits, BBAN; validated by `python-stdnum` (country length and format,
  mod-97);
- custom regexes of the project, run by the `regex` module with a time limit.

Overlapping spans are resolved once, on the original text (the earliest wins, then the longest, then
e-mail, card, IBAN, phone and the custom rules in their order), so no detector sees another's
placeholders. Nothing here looks at JSON keys except as context: keys are never changed.

phonenumbers, regex and python-stdnum (~10 MB together) are imported by the functions that use them, not here: every
web process imports this module (ingest, the redaction pages), and only the ones that redact need them.
"""

import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from labeling.exceptions import InvalidInput
from labeling.rules.text import noun

EMAIL, PHONE, CARD, IBAN = "email", "phone", "card", "iban"
BUILTINS = (EMAIL, PHONE, CARD, IBAN)
BUILTIN_LABELS = {EMAIL: "E-mail addresses", PHONE: "Phone numbers", CARD: "Payment card numbers", IBAN: "IBANs"}
PLACEHOLDERS = {EMAIL: "[EMAIL]", PHONE: "[PHONE]", CARD: "[CARD]", IBAN: "[IBAN]"}
# Which kind wins when two spans start at the same place and are as long.
_PRIORITY = {EMAIL: 0, CARD: 1, IBAN: 2, PHONE: 3}
TIMEOUT_KIND = "timeout"
TIMEOUT_PLACEHOLDER = "[REDACTED]"

MAX_CUSTOM_RULES = 20
MAX_PATTERN_LENGTH = 500
CUSTOM_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
# How long one custom pattern may run on one string before the string is withheld whole.
DEFAULT_TIMEOUT_SECONDS = 0.05
# How long a custom pattern may take on each adversarial probe when it is saved.
PROBE_TIMEOUT_SECONDS = 0.05

_EMAIL = re.compile(
    r"(?<![\w%+-])\w[\w.%+-]{0,63}@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24}))(?![\w-]|\.\w)"
)
_NOT_TLDS = frozenset(
    "png jpg jpeg gif svg webp ico bmp tif tiff js mjs css map json txt html htm pdf zip gz tar mp3 mp4 wav "
    "woff woff2 ttf".split()
)
# Patterns start with a digit and look behind afterwards, so that `re` can skip ahead to the next digit.
_DIGIT = re.compile(r"\d")
_CARD = re.compile(r"\d(?<![\w.,-]\d)(?:[ -]?\d){12,18}(?!\w|[.,]\d|-\d)")
# The IBAN's check digits first; its two-letter country code is the two characters before them.
_IBAN = re.compile(r"\d(?<=(?<![A-Za-z0-9])[A-Za-z]{2}\d)\d(?: ?[A-Za-z0-9]){11,32}", re.ASCII)
# Where libphonenumber is asked to look: around at least 7 digits close together, not the whole text.
_PHONE_HINT = re.compile(r"\d(?:[\s().\-/]{0,3}\d){6}")
_PHONE_MARGIN = 25  # characters the matcher sees on each side of a digit run
_WORD_SLACK = 15
_PHONE_MAX_WINDOW = 200
# Seconds of libphonenumber and custom patterns one batch may use (1,000 records with a few numbers each
# take ~0.5 s); past it, strings that still need either are withheld whole: hostile text cannot stall ingest.
SLOW_SECONDS_PER_BATCH = 10.0
# A number right after one of these words is an id (order, ticket, …), never a phone.
_ID_CONTEXT = re.compile(
    r"(?:#|\b(?:order|orders|ticket|case|ref|reference|invoice|tracking|sku|item|account|acct|po|id|"
    r"confirmation|booking|serial|model|part|transaction|txn|shipment|parcel|claim|rma)\b"
    r"(?:\s*(?:no\.?|number|num|nr|#|id))?(?:\s+is)?)\s*[:#.]?\s*$"
    # … or glued to a code before it (INV-2024-000123).
    r"|[A-Za-z0-9][-/]$",
    re.IGNORECASE,
)
# A Luhn-valid number after these words is a device or goods id (IMEIs use Luhn too), not a card.
_CARD_ID_CONTEXT = re.compile(
    r"\b(?:imei|meid|serial|sku|ean|upc|gtin|tracking|parcel|shipment|order)\b"
    r"(?:\s*(?:no\.?|number|num|nr|#|id|code))?\W{0,4}$",
    re.IGNORECASE,
)
_ID_CONTEXT_WINDOW = 30


@dataclass(frozen=True)
class CustomRule:
    name: str
    pattern: str

    @property
    def kind(self) -> str:
        return f"custom:{self.name}"

    @property
    def placeholder(self) -> str:
        return f"[CUSTOM:{self.name}]"


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str
    placeholder: str


@dataclass
class Redactor:
    """Compiled rules, made once per batch (see `compile_rules`)."""

    builtins: tuple[str, ...]
    custom: tuple[CustomRule, ...]
    phone_region: str
    version: int | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    # Seconds of slow work (libphonenumber, custom patterns) left for the batch this redactor serves.
    budget: list[float] = field(default_factory=lambda: [SLOW_SECONDS_PER_BATCH])
    _compiled: list[tuple[CustomRule, Any]] = field(default_factory=list, repr=False)

    def __post_init__(self):
        import regex

        self._compiled = [(rule, regex.compile(rule.pattern)) for rule in self.custom]

    def spans(self, text: str, key: str = "") -> list[Span]:
        """The non-overlapping spans to replace, in text order.

        Raises TimeoutError when a custom pattern runs too long or the batch's time for slow work is spent.

        `key` is the JSON key the text is the value of: `tracking_number` makes a number at the start of
        the value an id, as the words "tracking number" before it would.
        """
        prefix = key.replace("_", " ").replace("-", " ") + ": " if key else ""
        found: list[tuple[int, int, int, str, str]] = []
        taken: list[tuple[int, int]] = []
        digits = _DIGIT.search(text) is not None  # cards, IBANs and phones all need one
        # Phones last: libphonenumber is the slow one, and need not look at what is a card or an IBAN.
        for kind in sorted(self.builtins, key=lambda kind: kind == PHONE):
            if kind != EMAIL and not digits:
                continue
            order = _PRIORITY[kind]
            detector = _DETECTORS[kind]
            found_here = (
                find_phones(text, self.phone_region, taken, prefix, self.budget)
                if kind == PHONE
                else detector(text, self.phone_region, taken, prefix)
            )
            for start, end in found_here:
                found.append((start, -(end - start), order, kind, PLACEHOLDERS[kind]))
                taken.append((start, end))
        order = len(_PRIORITY)
        for rule, compiled in self._compiled:
            order += 1
            if self.budget[0] <= 0:
                raise SlowWorkBudgetSpent
            started = time.perf_counter()
            try:
                for match in compiled.finditer(text, timeout=min(self.timeout, self.budget[0])):
                    if match.end() > match.start():
                        found.append((match.start(), match.start() - match.end(), order, rule.kind, rule.placeholder))
            finally:
                self.budget[0] -= time.perf_counter() - started
        found.sort()
        spans, reached = [], 0
        for start, negative_length, _, kind, placeholder in found:
            if start >= reached:
                spans.append(Span(start, start - negative_length, kind, placeholder))
                reached = start - negative_length
        return spans

    def redact_text(self, text: str, counts: Counter, key: str = "") -> str:
        """The text with every span replaced; counts per kind added to `counts`. Fails closed on a timeout."""
        if not text:
            return text
        try:
            spans = self.spans(text, key)
        except TimeoutError:
            counts[TIMEOUT_KIND] += 1
            return TIMEOUT_PLACEHOLDER
        if not spans:
            return text
        parts, position = [], 0
        for span in spans:
            parts.append(text[position : span.start])
            parts.append(span.placeholder)
            counts[span.kind] += 1
            position = span.end
        parts.append(text[position:])
        return "".join(parts)

    def redact_value(self, value: Any, counts: Counter, key: str = "") -> Any:
        """Redact every string inside a JSON value; keys, numbers and booleans are left as they are."""
        if isinstance(value, str):
            return self.redact_text(value, counts, key)
        if isinstance(value, list):
            return [self.redact_value(item, counts, key) for item in value]
        if isinstance(value, dict):
            return {name: self.redact_value(item, counts, name) for name, item in value.items()}
        return value


def compile_rules(
    *, builtins: Iterable[str], custom: Iterable[dict | CustomRule], phone_region: str, version: int | None = None
) -> Redactor:
    """A Redactor for rules already validated (by `check_rules`), in the canonical order of the built-ins."""
    chosen = set(builtins)
    rules = tuple(
        rule if isinstance(rule, CustomRule) else CustomRule(rule["name"], rule["pattern"]) for rule in custom
    )
    return Redactor(
        builtins=tuple(kind for kind in BUILTINS if kind in chosen),
        custom=rules,
        phone_region=phone_region,
        version=version,
    )


# --- built-in detectors: (text, region) -> [(start, end)] -------------------------------------------


def find_emails(text: str, region: str = "", taken: list | None = None, prefix: str = "") -> list[tuple[int, int]]:
    spans, at, reached = [], text.find("@"), 0
    while at != -1:
        # Walk back over the local part from each "@", then match forwards from its start.
        start = at
        while start > max(reached, at - 64) and (text[start - 1].isalnum() or text[start - 1] in "._%+-"):
            start -= 1
        while start < at and text[start] in ".%+-":  # a local part starts with a letter, digit or _
            start += 1
        match = _EMAIL.match(text, start) if start < at else None
        if match and match.group(2).lower() not in _NOT_TLDS:
            spans.append(match.span())
            reached = match.end()
        at = text.find("@", max(at + 1, reached))
    return spans


def find_cards(text: str, region: str = "", taken: list | None = None, prefix: str = "") -> list[tuple[int, int]]:
    from stdnum import luhn

    spans = []
    for match in _CARD.finditer(text):
        # The candidate may have swallowed a following group ("… 1111 12/26"): try it whole, then
        # without its trailing groups.
        for end in _group_ends(text, match.start(), match.end()):
            digits = re.sub(r"[ -]", "", text[match.start() : end])
            if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn.is_valid(digits):
                if not _CARD_ID_CONTEXT.search(_before(text, match.start(), prefix)):
                    spans.append((match.start(), end))
                break
    return spans


def find_ibans(text: str, region: str = "", taken: list | None = None, prefix: str = "") -> list[tuple[int, int]]:
    from stdnum import iban as stdnum_iban

    spans = []
    for match in _IBAN.finditer(text):
        start = match.start() - 2
        for end in _group_ends(text, start, match.end()):
            candidate = text[start:end]
            if len(candidate.replace(" ", "")) >= 15 and stdnum_iban.is_valid(candidate.upper(), check_country=False):
                spans.append((start, end))
                break
    return spans


def find_phones(
    text: str, region: str, taken: list | None = None, prefix: str = "", budget: list[float] | None = None
) -> list[tuple[int, int]]:
    """libphonenumber on short windows around digit runs that no other detector claimed.

    It costs ~0.1–0.3 ms a window, more on dense digits, so `budget` (seconds in a one-item list, shared
    by a batch) bounds it; when it is spent, SlowWorkBudgetSpent is raised and the caller withholds the string.
    """
    import phonenumbers

    windows: list[list[int]] = []
    taken = taken or []
    for hint in _PHONE_HINT.finditer(text):
        if any(begin <= hint.start() and hint.end() <= stop for begin, stop in taken):
            continue
        # A margin on each side, widened to a word boundary when one is near, so that the matcher sees
        # the neighbours it judges by; cut at a span already taken (the matcher would parse it again).
        start, end = (
            _word_bound(text, hint.start() - _PHONE_MARGIN, -1),
            _word_bound(text, hint.end() + _PHONE_MARGIN, 1),
        )
        start = max([start] + [stop for _, stop in taken if stop <= hint.start()])
        end = min([end] + [begin for begin, _ in taken if begin >= hint.end()])
        if windows and start <= windows[-1][1] and end - windows[-1][0] <= _PHONE_MAX_WINDOW:
            windows[-1][1] = max(windows[-1][1], end)
        else:
            windows.append([start, end])
    spans = set()
    for start, end in windows:
        if budget is not None and budget[0] <= 0:
            raise SlowWorkBudgetSpent
        started = time.perf_counter()
        matcher = phonenumbers.PhoneNumberMatcher(text[start:end], region or "ZZ", leniency=phonenumbers.Leniency.VALID)
        for match in matcher:
            if not _ID_CONTEXT.search(_before(text, start + match.start, prefix)):
                spans.add((start + match.start, start + match.end))
        if budget is not None:
            budget[0] -= time.perf_counter() - started
    return sorted(spans)


class SlowWorkBudgetSpent(TimeoutError):
    """The batch has spent its time for libphonenumber and custom patterns."""


def _word_bound(text: str, position: int, direction: int) -> int:
    """`position` moved outwards to the nearest space within a few characters, else kept (within the text)."""
    position = min(max(position, 0), len(text))
    if direction < 0:
        space = text.rfind(" ", max(0, position - _WORD_SLACK), position)
        return space + 1 if space != -1 else position
    space = text.find(" ", position, position + _WORD_SLACK)
    return space if space != -1 else position


_DETECTORS = {EMAIL: find_emails, PHONE: find_phones, CARD: find_cards, IBAN: find_ibans}


def _before(text: str, position: int, prefix: str) -> str:
    """The few characters before a match, where words like "order" or "IMEI" make it an id."""
    if position >= _ID_CONTEXT_WINDOW:
        return text[position - _ID_CONTEXT_WINDOW : position]
    return (prefix + text[:position])[-_ID_CONTEXT_WINDOW:]


def _group_ends(text: str, start: int, end: int) -> list[int]:
    """Candidate ends, longest first: the match's end, then before each separator inside it."""
    ends = [end]
    for position in range(end - 1, start, -1):
        if text[position] in " -":
            ends.append(position)
    return ends


# --- validation --------------------------------------------------------------------------------------


def check_rules(*, builtins: Iterable[str], custom: Iterable[dict], phone_region: str) -> list[CustomRule]:
    """Validate a rule set; return its custom rules. Raise InvalidInput naming the first problem."""
    unknown = sorted(set(builtins) - set(BUILTINS))
    if unknown:
        raise InvalidInput(
            f"Unknown built-in {noun(len(unknown), 'rule')}: {', '.join(unknown)}. Known: {', '.join(BUILTINS)}."
        )
    import phonenumbers

    if phone_region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidInput(f"{phone_region!r} is not a region phone numbers know (a two-letter code such as US or GB).")
    rules = [check_custom_rule(name=rule.get("name", ""), pattern=rule.get("pattern", "")) for rule in custom]
    if len(rules) > MAX_CUSTOM_RULES:
        raise InvalidInput(f"At most {MAX_CUSTOM_RULES} custom rules; got {len(rules)}.")
    names = [rule.name for rule in rules]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidInput(f"Custom rule names must differ: {', '.join(repeated)} given twice.")
    return rules


def check_custom_rule(*, name: str, pattern: str) -> CustomRule:
    """Refuse a custom rule that is badly named, does not compile, matches nothing visible, or can run away."""
    if not isinstance(name, str) or not CUSTOM_NAME.match(name):
        raise InvalidInput(
            f"Custom rule name {name!r}: use 1–40 lowercase letters, digits, '-' or '_', starting with a letter."
        )
    if not isinstance(pattern, str) or not pattern.strip():
        raise InvalidInput(f"Custom rule {name!r}: the pattern is empty.")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidInput(
            f"Custom rule {name!r}: the pattern is {len(pattern)} characters; at most {MAX_PATTERN_LENGTH}."
        )
    import regex

    try:
        parsed = re._parser.parse(pattern)  # Python's own syntax: what the lead reads in the docs
        compiled = regex.compile(pattern)
    except (re.error, regex.error) as exc:
        where = f" at position {exc.pos}" if getattr(exc, "pos", None) is not None else ""
        raise InvalidInput(f"Custom rule {name!r}: the pattern does not compile: {exc.msg}{where}.") from exc
    except OverflowError as exc:  # a repeat count past the engine's limit, e.g. a{4294967296}
        raise InvalidInput(f"Custom rule {name!r}: a repeat count in the pattern is too large.") from exc
    except RecursionError as exc:
        raise InvalidInput(f"Custom rule {name!r}: the pattern is nested too deeply.") from exc
    if compiled.search("") is not None:
        raise InvalidInput(
            f"Custom rule {name!r}: the pattern matches empty text; it must match at least one character."
        )
    if _nested_repeat(parsed):
        raise InvalidInput(
            f"Custom rule {name!r}: a repeated group contains another unbounded repeat (like (a+)+), which can "
            "take exponential time (catastrophic backtracking). Rewrite it without the nested repeat."
        )
    for probe in _probes(pattern):
        try:
            compiled.search(probe, timeout=PROBE_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            raise InvalidInput(
                f"Custom rule {name!r}: the pattern takes too long on a {len(probe):,}-character text "
                "(catastrophic backtracking). Simplify its repeats or alternatives."
            ) from exc
    return CustomRule(name, pattern)


_C = re._constants
_REPEATS = (_C.MAX_REPEAT, _C.MIN_REPEAT)  # possessive repeats and atomic groups cannot backtrack: not listed


def _nested_repeat(parsed, inside_repeat: bool = False) -> bool:
    """Does an unbounded repeat sit inside another repeat (`(a+)+`, `(\\w+\\s?)*`)?"""
    for op, arg in parsed:
        if op in _REPEATS:
            _, high, body = arg
            if inside_repeat and high == _C.MAXREPEAT:
                return True
            if _nested_repeat(body, inside_repeat or high > 1):
                return True
        elif op == _C.SUBPATTERN:
            if _nested_repeat(arg[-1], inside_repeat):
                return True
        elif op == _C.BRANCH:
            if any(_nested_repeat(branch, inside_repeat) for branch in arg[1]):
                return True
        elif op in (_C.ASSERT, _C.ASSERT_NOT):
            if _nested_repeat(arg[1], inside_repeat):
                return True
    return False


def _probes(pattern: str) -> list[str]:
    """Texts that make backtracking patterns slow: long runs of the pattern's own characters, then a misfit."""
    letters = {char for char in pattern if char.isalnum()} or {"a"}
    runs = ["a", "1", " ", "aa1", "a ", *sorted(letters)[:8]]
    return [(run * (3000 // len(run))) + "\u2603!" for run in runs]


# --- preview -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    text: str
    kind: str | None = None
    placeholder: str | None = None


def preview_segments(redactor: Redactor, text: str) -> tuple[list[Segment], Counter]:
    """The sample split into kept text and redacted spans, for showing both the match and its placeholder."""
    counts: Counter = Counter()
    try:
        spans = redactor.spans(text)
    except TimeoutError:
        counts[TIMEOUT_KIND] += 1
        return [Segment(text, TIMEOUT_KIND, TIMEOUT_PLACEHOLDER)], counts
    segments, position = [], 0
    for span in spans:
        if span.start > position:
            segments.append(Segment(text[position : span.start]))
        segments.append(Segment(text[span.start : span.end], span.kind, span.placeholder))
        counts[span.kind] += 1
        position = span.end
    if position < len(text):
        segments.append(Segment(text[position:]))
    return segments, counts
