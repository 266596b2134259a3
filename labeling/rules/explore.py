"""The explore filter: what a lead or engineer may ask of a project's outputs, as data.

`parse_filter` reads query-string parameters (the explore page's URL, the API's query) into an
`ExploreFilter` over the allow-list `PARAMETERS`, or raises InvalidFilter naming every bad parameter;
`filter_query` writes the canonical query string back (saved views, links, paging, chips). The one function that
turns a filter into SQL is `selectors.explore.filter_outputs`: no user string ever becomes an ORM keyword.
"""

import re
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode

from labeling.exceptions import InvalidFilter
from labeling.models import QuestionKind
from labeling.models.outputs import LATENCY_KEY
from labeling.rules.calendar import WEEK_YEARS
from labeling.rules.ids import is_whole_number
from labeling.rules.query_booleans import QUERY_BOOLEANS, not_a_query_boolean, read_query_boolean
from labeling.rules.text import text_problem

MAX_QUERY_CHARS = 500
MAX_VALUES = 50  # repeated values of one parameter
MAX_VALUE_CHARS = 200
MAX_CHARS = 10_000_000  # an output length bound no output reaches
# A metadata number explore's histograms and "what changed" compute with must be a double: JSON allows any integer,
# and PostgreSQL refuses to cast a larger one to float8. Ingest refuses it; one stored before that is left out.
NUMBER_MAX = sys.float_info.max
NUMBER_MAX_SQL = repr(NUMBER_MAX)  # a numeric literal PostgreSQL reads exactly: 1.7976931348623157e+308


def is_double(value: int | float) -> bool:
    """Can this JSON number be read as a double (a finite one)?"""
    return -NUMBER_MAX <= value <= NUMBER_MAX


# Values matched as stored: ingest keeps models, tags, ids and metadata as sent, so " vip" is another tag than "vip".
# Typed, they are forgiving: spaces at a value's ends (and around a `key:value`'s colon) are not part of it, as for
# every other value. A value in double quotes is exactly what the quotes hold, spaces included: the canonical query
# (facet links, chips, saved views) quotes each value the forgiving reading would change (`typed_value`).
AS_STORED = frozenset({"model", "tag", "meta", "has_meta", "end_user", "session", "event"})
FEEDBACK = {"up": 1, "neutral": 0, "down": -1, "none": None}
# How every page names a feedback score: the explore filter's options and the badge beside an output
# (`templatetags.expertloop.feedback_badge`). Words, no emoji: a screen reader spells an emoji out, and a server
# without an emoji font draws a box.
FEEDBACK_WORDS = {"up": "thumbs up", "down": "thumbs down", "neutral": "neutral", "none": "no feedback"}


def shown_value(value: str) -> str:
    """A filter value as a facet or chip shows it: in quotes when it has spaces at its ends, which would hide that
    " vip" is another tag than "vip"."""
    return f"“{value}”" if value != value.strip() else value


def read_value(text: str) -> str:
    """A typed value as the filter compares it: in double quotes, exactly what they hold; else without the spaces at
    its ends."""
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def typed_value(value: str) -> str:
    """The value as the canonical query writes it, so that `read_value` gives it back: as it is, or in quotes when
    the forgiving reading would change it (spaces at its ends, quotes around it)."""
    return value if read_value(value) == value else f'"{value}"'


# A metadata key in quotes (`" plan":pro`, `"a:b":x`), a quote inside it doubled (`"x:"":y":c` is the key `x:":y`), as
# SQL quotes a name: up to the quote that is not doubled, then the colon.
_QUOTED_KEY = re.compile(r'"((?:[^"]|"")*)"\s*:(.*)', re.DOTALL)
# As canonical queries wrote a quoted key before its quotes were doubled: up to the first quote followed by the
# colon. Read when the doubled form does not fit, for what no migration reaches: a bookmark, a link pasted or a
# filter typed by hand. It is no guarantee (`"x""y:z":v`, the key `x""y:z` then, fits the doubled form as `x"y:z`):
# the stored canonical queries (saved views, a closed week's "what changed" links) were rewritten by migration 0065.
_UNDOUBLED_QUOTED_KEY = re.compile(r'"(.*?)"\s*:(.*)', re.DOTALL)


def read_pair(text: str) -> tuple[str, str] | None:
    """A typed `key:value` as the filter compares it (each side as `read_value` reads it, a key in quotes up to its
    closing quote, a quote inside it doubled); None when it is not one."""
    text = text.strip()
    quoted = _QUOTED_KEY.fullmatch(text)
    undoubled = None if quoted else _UNDOUBLED_QUOTED_KEY.fullmatch(text)
    if quoted:
        key, rest = quoted[1].replace('""', '"'), quoted[2]
    elif undoubled:
        key, rest = undoubled[1], undoubled[2]
    else:
        key, colon, rest = text.partition(":")
        if not colon:
            return None
        key = key.strip()
    return (key, read_value(rest)) if key else None


def metadata_text(value: Any) -> str | None:
    """A metadata value as the metadata filter (`meta=key:value`) compares it, in explore, its facets, a dataset's
    filter and the queue editor: text as it is, true as "true", a number as its digits without exponent (1e-07 as
    "0.0000001", 1e16 as "10000000000000000"). That is PostgreSQL's reading (jsonb's ->> writes a number's numeric,
    which has no exponent); explore on SQLite finds a number by this text too (selectors.explore.filters). None for
    null, a list or an object, which no value matches."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")  # the digits Python wrote in the JSON, spelled out
    return None


def typed_pair(key: str, value: str) -> str:
    """`key:value` as the canonical query writes it, so that `read_pair` gives both back, whatever they hold: a key
    with spaces at its ends, a colon or a leading quote goes in quotes, a quote inside it doubled."""
    if key != key.strip() or ":" in key or key.startswith('"'):
        key = '"{}"'.format(key.replace('"', '""'))
    return f"{key}:{typed_value(value)}"


def pair_fits(key: str, value: str) -> bool:
    """Whether a metadata pair is a filter value the parser takes: at most MAX_VALUE_CHARS as links and saved views
    write it (`typed_pair`: a quoted key's quotes doubled), so a page that writes it (a facet, a suggestion, a chip)
    reloads it. The one rule of the parser, the facets and the filter bar's suggestions."""
    return len(typed_pair(key, value)) <= MAX_VALUE_CHARS


def value_fits(value: str) -> bool:
    """Whether a model, tag, metadata key (`has_meta`) or other value matched as stored is a filter value the parser
    takes: at most MAX_VALUE_CHARS as read, the quotes its link adds where spaces at its ends count read off again
    (`typed_value`), so a value ingest took is always a link that reloads (a pair is measured as written instead:
    `pair_fits`). The one rule of the facets, the filter bar's suggestions and "what changed"."""
    return len(value) <= MAX_VALUE_CHARS


def tags_of(tags: Any) -> set[str]:
    """An output's tags, each once, as every count of them reads them (the facets, the filter bar's choices, the
    movers, what changed): the strings of its list. Ingest stores nothing else; other rows read alike."""
    return {tag for tag in tags if isinstance(tag, str)} if isinstance(tags, list) else set()


def most_common(counts: Mapping[Any, int]) -> list[tuple[Any, int]]:
    """The counts, largest first and ties by value: the order of every list of values explore offers (its facets,
    the filter bar's choices), the same whatever order the values were read in. A value may be a tuple (a metadata
    key and its value): ties by its parts."""

    def by_value(value: Any) -> tuple[str, ...]:
        return tuple(map(str, value)) if isinstance(value, tuple) else (str(value),)

    return sorted(counts.items(), key=lambda item: (-item[1], by_value(item[0])))


def facet_filter(parameter: str, key: str, value: str) -> str:
    """The value of `parameter` that finds exactly a facet's value (`key:value` for meta and gold): the facet links
    and the API's facets write it so, quoted where the forgiving reading would change it."""
    if parameter == "meta":
        return typed_pair(key, value)
    if key:
        return f"{key}:{value}"
    return typed_value(value) if parameter in AS_STORED else value


def has_working_link(parameter: str, key: str, value: str) -> bool:
    """Whether a link to the value (`facet_filter`) is a filter the parser takes: a metadata value measured as its
    `key:value` filter writes it (`pair_fits`), a model, tag or other value matched as stored as read (`value_fits`),
    any other as the parser measures it, whole (a gold answer's
    `key:answer`). The one rule of what explore's facets list and of the metadata slices "what changed" picks (a
    key's median by its `has_meta` link); its models, tags and event names, all matched as stored, are measured by
    `value_fits` alone (`services.change_counts.top_slices`)."""
    if parameter == "meta":
        return pair_fits(key, value)
    if parameter in AS_STORED:
        return value_fits(value)
    return len(facet_filter(parameter, key, value)) <= MAX_VALUE_CHARS


YES_NO = QUERY_BOOLEANS  # comment, labeled, disagree, flagged, has_event
THEME = re.compile(r"(\d{4})-W(\d{2})\.(\d{1,2})", re.ASCII)  # `theme_key`'s format: a week label, a dot, a rank

# The allow-list: every parameter a filter may have, with the help the API schema and the page show.
PARAMETERS = {
    "q": 'Words to find in input, output, feedback comment and context: "a phrase", OR, -word. '
    "An external id, session id or end-user id finds its outputs too.",
    "from": "First day, YYYY-MM-DD, in the project's time zone.",
    "to": "Last day (inclusive), YYYY-MM-DD.",
    "model": "A model; repeat for any of several.",
    "tag": "A tag; repeat for several (see `tags`).",
    "tags": "`any` (default) or `all`: whether one of the tags is enough or all must be present.",
    "meta": '`key:value`: the metadata key holds this value (compared as text; `"key":" value"` in quotes keeps '
    'spaces at their ends, and a key in quotes may hold a colon, a quote in it doubled: `"a""b:c":v` is the key '
    '`a"b:c`). Repeat: different keys must all hold, values of one key are alternatives.',
    "has_meta": "A metadata key the output has; repeat for several.",
    "end_user": "The end user's id.",
    "session": "The session id.",
    "event": "A usage event's name: the output's end user had this event within the days of `from` and `to` (at any "
    "time when no day is given); repeat for any of several.",
    "has_event": "`yes` or `no` (or `true`/`false`, `1`/`0`): the output's end user had any usage event within the "
    "days of `from` and `to` (at any time when no day is given).",
    "feedback": "`up`, `down`, `neutral` or `none` (no feedback); repeat for any of several.",
    "comment": "`yes` or `no` (or `true`/`false`, `1`/`0`): the end user left a feedback comment.",
    "labeled": "`yes` or `no` (or `true`/`false`, `1`/`0`): at least one expert has labeled the output.",
    "disagree": "`yes` or `no` (or `true`/`false`, `1`/`0`): `yes`, the experts disagreed on the output: an item of "
    "it (in any queue and week) has two labels or more that do not all give the same answer to the verdict question "
    "(the rubric's first pass/fail one), a tie included; `no`, they agreed: an item of it has two such answers or "
    "more, and none of its items disagrees. An output no two experts answered on one item (unlabeled, or labeled "
    "once) is neither. A lead's adjudication does not change it.",
    "gold": "`question:answer`: an item of the output has this gold answer to a rubric question (e.g. `correct:false`; "
    "a pass/fail question's answer is `true`/`false` or `pass`/`fail`); repeat for several, all must hold. A pass on a "
    "verdict question (the rubric's first pass/fail one, or an earlier version's, as a closed week's links name it, "
    "read pass/fail even once the rubric no longer asks it) "
    "also needs no fail on it in another queue or week: an output that passed in one and failed in another failed.",
    "queue": "A queue's slug: the output is an item of it; repeat for any of several.",
    "flagged": "`yes` or `no` (or `true`/`false`, `1`/`0`): an expert flagged the output for the meeting.",
    "min_chars": "Shortest output length, in characters.",
    "max_chars": "Longest output length, in characters.",
    "theme": "`2026-W48.1`: the outputs of a failure theme, by its week and rank (as the meeting page links it).",
    "sort": "The order of the results: `newest` (default), `oldest`, `slowest` (the metadata key `latency_ms`, the "
    "largest first; outputs without a number there last) or `longest` (output length; not yet measured last). "
    "Past 10,000 matches, the facets count the first 10,000 in this order.",
}

FILTER_YEARS = range(2000, 2101)  # the years a filter's days may name

# The orders a result list can take (`sort`), with the words the page's menu shows; the first is the default, left
# out of the canonical query.
SORTS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "slowest": f"Slowest first ({LATENCY_KEY})",  # the metadata key models.outputs.LATENCY_KEY
    "longest": "Longest output first",
}
DEFAULT_SORT = "newest"
# ExploreFilter's fields that order the results rather than narrow them: what a queue rule or a dataset made from a
# filter has no use for (their tests check every other field is carried or named).
NOT_CONDITIONS = frozenset({"sort"})


def read_verdict(answer: str) -> bool | None:
    """A pass/fail question's answer as typed in `gold=` or counted in its facet: `pass`/`fail`, or a yes/no word
    (`true`, `no`, `1`…, `rules.query_booleans`); None for no such answer."""
    return {"pass": True, "fail": False}.get(answer.strip().lower(), read_query_boolean(answer))


def verdict_word(answer: str) -> str | None:
    """How the pages say an answer to the verdict question, as typed in `gold=` or counted in its facet: "pass" or
    "fail" (the filter menu's and the badges' words), None for no yes/no answer."""
    verdict = read_verdict(answer)
    return None if verdict is None else "pass" if verdict else "fail"


def reads_as_verdict(key: str | None, questions_now: Iterable[dict]) -> bool:
    """Whether explore's `gold=<key>:pass` (or fail) reads `key` (any key a filter names, or the verdict question of
    an earlier rubric version) as a verdict: the current rubric (`questions_now`) asks it as a yes/no question, or no
    longer asks it (read as the newest version that made it the verdict asked it). Not when it asks it now as another
    kind: explore reads a key the rubric asks as the rubric asks it, and a pass or fail answers no rating or text. The
    one rule of explore's gold filter (`selectors.explore.verdict_questions`, its refusal's earlier verdict keys) and
    the meeting page's links."""
    return all(question["kind"] == QuestionKind.BINARY for question in questions_now if question["key"] == key)


def theme_key(week_label: str, rank: int) -> str:
    """How a failure theme is named in links, the explore filter and reports: "2026-W48.1" (THEME reads it back)."""
    return f"{week_label}.{rank}"


@dataclass(frozen=True)
class ExploreFilter:
    """A parsed filter. Empty fields do not filter; every given condition must hold."""

    q: str = ""
    since: date | None = None
    until: date | None = None
    models: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    all_tags: bool = False
    metadata: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (key, allowed values as text)
    metadata_keys: tuple[str, ...] = ()
    end_user: str = ""
    session: str = ""
    events: tuple[str, ...] = ()  # usage event names (their end user had one)
    has_event: bool | None = None  # their end user had any usage event
    feedback: tuple[int | None, ...] = ()
    has_comment: bool | None = None
    labeled: bool | None = None
    disagree: bool | None = None  # an item's labels disagree on the verdict question
    gold: tuple[tuple[str, str], ...] = ()  # (question key, answer as typed)
    queues: tuple[str, ...] = ()
    flagged: bool | None = None
    min_chars: int | None = None
    max_chars: int | None = None
    theme: tuple[str, int] | None = None  # (week label, rank)
    sort: str = DEFAULT_SORT  # how the results are ordered (SORTS); not a condition


def parse_filter(
    params: Mapping, *, ignore: Iterable[str] = (), verdict_key: Callable[[], str | None] | None = None
) -> ExploreFilter:
    """Read query parameters (a QueryDict, or a dict of lists) into a filter; InvalidFilter says what is wrong.

    Names in `ignore` (a caller's own parameters, such as the API's `cursor`) are passed over; any other
    name outside PARAMETERS is refused rather than silently dropped, so a typo never widens a result.
    `verdict_key` gives the project's verdict question key (called only for a gold value without its question):
    `gold=fail`, the filter menu's word, is refused with the form that says it, `gold=<key>:fail`.
    """
    reader = _Reader(params, set(ignore), verdict_key)
    since, until = reader.day("from"), reader.day("to")
    if since and until and since > until:
        reader.problems["to"] = "The last day is before the first day."
    min_chars, max_chars = reader.count("min_chars"), reader.count("max_chars")
    if min_chars is not None and max_chars is not None and min_chars > max_chars:
        reader.problems["max_chars"] = "The longest length is below the shortest."
    tags_mode = reader.one("tags") or "any"
    if tags_mode not in ("any", "all"):
        reader.problems["tags"] = "Use `any` or `all`."
    metadata: dict[str, list[str]] = {}
    for key, value in reader.pairs("meta"):
        metadata.setdefault(key, []).append(value)
    tags = reader.many("tag")
    parsed = ExploreFilter(
        q=reader.query(),
        since=since,
        until=until,
        models=reader.many("model"),
        tags=tags,
        all_tags=tags_mode == "all" and bool(tags),  # `all` of no tags is no condition (and not in the URL)
        metadata=tuple((key, tuple(values)) for key, values in metadata.items()),
        metadata_keys=reader.many("has_meta"),
        end_user=reader.one("end_user"),
        session=reader.one("session"),
        events=reader.many("event"),
        has_event=reader.yes_no("has_event"),
        feedback=reader.choices("feedback", FEEDBACK),
        has_comment=reader.yes_no("comment"),
        labeled=reader.yes_no("labeled"),
        disagree=reader.yes_no("disagree"),
        gold=reader.pairs("gold"),
        queues=reader.many("queue"),
        flagged=reader.yes_no("flagged"),
        min_chars=min_chars,
        max_chars=max_chars,
        theme=reader.theme("theme"),
        sort=reader.sort("sort"),
    )
    if reader.problems:
        raise InvalidFilter(reader.problems)
    return parsed


def search_groups(q: str) -> list[list[tuple[str, bool]]]:
    """The search box read as websearch_to_tsquery reads it (the SQLite fallback's terms, a rule's phrases): quoted
    phrases and words, each (term, excluded by a leading '-'); the terms of a group are all required, and OR (in any
    case) separates alternative groups ("a b OR c" is a AND b, or c). An OR with nothing on one side is dropped."""
    groups: list[list[tuple[str, bool]]] = [[]]
    for phrase, word in re.findall(r'(-?"[^"]*")|(\S+)', q):
        if word.casefold() == "or":
            groups.append([])
            continue
        term = (phrase or word).replace('"', "")
        excluded = term.startswith("-") and len(term) > 1
        term = term.removeprefix("-") if excluded else term
        if term.strip():
            groups[-1].append((term.strip(), excluded))
    return [group for group in groups if group]


BLIND = "Experts label blind: gold answers are not shown to them, nor can they filter by one."
BLIND_THEME = "Experts label blind: a failure theme groups outputs that failed their gold answer."
BLIND_DISAGREE = "Experts label blind: whether the experts disagreed tells how the others answered."


# What a member who labels blind (an expert) may not filter by, with why: a gold answer, a failure theme (its
# outputs are the week's gold failures), and the experts' disagreement (yes or no, it tells an expert whether the
# others answered as they did). The explore bar leaves these fields out for them (`web.explore_forms`).
BLIND_PARAMETERS = {"gold": BLIND, "theme": BLIND_THEME, "disagree": BLIND_DISAGREE}


def blind_problems(spec: ExploreFilter) -> dict[str, str]:
    """The BLIND_PARAMETERS the filter uses, with why; empty when the filter is theirs to use. A `no` is a condition
    too (`disagree=no`, the experts agreed, tells as much as `yes`): only None and empty are none."""
    return {name: why for name, why in BLIND_PARAMETERS.items() if getattr(spec, name) not in (None, ())}


def filter_query(spec: ExploreFilter, **extra: str) -> str:
    """The canonical query string of a filter (parameters in PARAMETERS order), plus `extra` parameters."""
    pairs: list[tuple[str, str]] = []
    if spec.q:
        pairs.append(("q", spec.q))
    if spec.since:
        pairs.append(("from", spec.since.isoformat()))
    if spec.until:
        pairs.append(("to", spec.until.isoformat()))
    pairs += [("model", typed_value(model)) for model in spec.models]
    pairs += [("tag", typed_value(tag)) for tag in spec.tags]
    if spec.all_tags and spec.tags:
        pairs.append(("tags", "all"))
    pairs += [("meta", typed_pair(key, value)) for key, values in spec.metadata for value in values]
    pairs += [("has_meta", typed_value(key)) for key in spec.metadata_keys]
    if spec.end_user:
        pairs.append(("end_user", typed_value(spec.end_user)))
    if spec.session:
        pairs.append(("session", typed_value(spec.session)))
    pairs += [("event", typed_value(name)) for name in spec.events]
    if spec.has_event is not None:
        pairs.append(("has_event", "yes" if spec.has_event else "no"))
    names = {value: name for name, value in FEEDBACK.items()}
    pairs += [("feedback", names[score]) for score in spec.feedback]
    for name, value in (("comment", spec.has_comment), ("labeled", spec.labeled), ("disagree", spec.disagree)):
        if value is not None:
            pairs.append((name, "yes" if value else "no"))
    pairs += [("gold", f"{key}:{answer}") for key, answer in spec.gold]
    pairs += [("queue", slug) for slug in spec.queues]
    if spec.flagged is not None:
        pairs.append(("flagged", "yes" if spec.flagged else "no"))
    for name in ("min_chars", "max_chars"):
        if getattr(spec, name) is not None:
            pairs.append((name, str(getattr(spec, name))))
    if spec.theme:
        pairs.append(("theme", theme_key(*spec.theme)))
    if spec.sort != DEFAULT_SORT:
        pairs.append(("sort", spec.sort))
    pairs += [(name, value) for name, value in extra.items() if value not in (None, "")]
    return urlencode(pairs)


def week_query(week_start: date, **conditions: Any) -> str:
    """The canonical query of the outputs that occurred in a cycle week (its seven days, read in the project's time
    zone) meeting `conditions` (ExploreFilter's fields): the links from the meeting page's figures to the outputs
    behind them. The week's items are mostly those outputs (routing and backfills place an output in the week it
    occurred in), not only: a lead's hand-picked outputs (`services/hand_picked.add_to_queue`) become items of the
    week running when they were added, whenever they occurred. Such an output counts in that week's figures and is
    behind the links of the week it occurred in, so a figure and its link can differ by it."""
    since, until = week_days(week_start)
    return filter_query(ExploreFilter(since=since, until=until, **conditions))


def week_days(week_start: date) -> tuple[date, date]:
    """A cycle week's first and last day: the `since`/`until` of explore's filter for the outputs that occurred in
    it."""
    return week_start, week_start + timedelta(days=6)


def queue_renamed_in_query(query: str, old: str, new: str) -> str:
    """The query string with the queue slug `old` replaced by `new` (named once, where `old` was); the same string
    when it names no `old` queue. A search for the words is not a queue and stays."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if ("queue", old) not in pairs:
        return query
    renamed, named = [], set()
    for name, value in pairs:
        if name == "queue":
            value = new if value == old else value
            if value in named:
                continue  # it named `new` already: a queue deleted since, whose slug the renamed one took
            named.add(value)
        renamed.append((name, value))
    return urlencode(renamed)


def end_user_out_of_queries(
    end_user_id: str, placeholder: str, *, sessions: Collection[str] = (), external_ids: Collection[str] = ()
) -> Callable[[str], str]:
    """A function putting an end user out of sight in a filter's query string: their id as the `end_user` parameter,
    one of their session ids as `session`, and any of those or one of their outputs' external ids as a word searched
    for (the search finds outputs by each). It returns the same string when none of them is in it."""
    word = re.compile(rf'(?<![^\s"-])(?:{_any_of(end_user_id, sessions, external_ids)})(?![^\s"])')
    by_parameter = {"end_user": {end_user_id}, "session": set(sessions) - {""}}

    def scrubbed(query: str) -> str:
        pairs = parse_qsl(query, keep_blank_values=True)
        cleaned = [
            (name, placeholder if value in by_parameter[name] else value)
            if name in by_parameter
            else (name, word.sub(placeholder, value) if name == "q" else value)
            for name, value in pairs
        ]
        return query if cleaned == pairs else urlencode(cleaned)

    return scrubbed


def end_user_out_of_text(
    end_user_id: str, placeholder: str, *, sessions: Collection[str] = (), external_ids: Collection[str] = ()
) -> Callable[[str], str]:
    """A function putting an end user out of sight in words a person wrote (a saved view's name): their id, one of
    their session ids or one of their outputs' external ids, wherever it stands as a word of its own."""
    word = re.compile(rf"(?<!\w)(?:{_any_of(end_user_id, sessions, external_ids)})(?!\w)")
    return partial(word.sub, placeholder)


def _any_of(end_user_id: str, sessions: Collection[str], external_ids: Collection[str]) -> str:
    """A regex alternation of the names an end user's outputs are found by, the longest first."""
    names = sorted({end_user_id, *sessions, *external_ids} - {""}, key=len, reverse=True)
    return "|".join(map(re.escape, names))


class _Reader:
    """Reads and checks one parameter at a time, collecting a message per bad parameter."""

    def __init__(self, params: Mapping, ignore: set[str], verdict_key: Callable[[], str | None] | None = None):
        self.params = params
        self.verdict_key = verdict_key
        self.problems: dict[str, str] = {}
        for name in params:
            if name not in PARAMETERS and name not in ignore:
                self.problems[name] = f"Unknown filter. Known filters: {', '.join(PARAMETERS)}."

    def _values(self, name: str) -> list[str]:
        values = self.params.getlist(name) if hasattr(self.params, "getlist") else self.params.get(name, [])
        values = [values] if isinstance(values, str) else list(values)
        # A blank value is no condition (the bar sends its empty fields); nor is an empty pair of quotes.
        values = [value.strip() for value in values if value.strip()]
        if name in AS_STORED and name != "meta":  # a pair is read by `pairs`
            values = [read_value(value) for value in values if read_value(value)]
        if len(values) > MAX_VALUES:
            self.problems[name] = f"At most {MAX_VALUES} values."
            return []
        for value in values:
            problem = text_problem(value)
            if problem or len(value) > MAX_VALUE_CHARS and name != "q":
                self.problems[name] = (
                    f"The value {problem}." if problem else f"Use at most {MAX_VALUE_CHARS} characters."
                )
                return []
        return values

    def one(self, name: str) -> str:
        values = self._values(name)
        if len(values) > 1:
            self.problems[name] = "Give this filter once."
            return ""
        return values[0] if values else ""

    def many(self, name: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self._values(name)))

    def query(self) -> str:
        text = " ".join(self._values("q"))
        if len(text) > MAX_QUERY_CHARS:
            self.problems["q"] = f"Search for at most {MAX_QUERY_CHARS} characters (this is {len(text):,})."
            return ""
        return text

    def day(self, name: str) -> date | None:
        value = self.one(name)
        if not value:
            return None
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.problems[name] = f"{value[:40]!r} is not a date like 2026-11-30."
            return None
        if day.year not in FILTER_YEARS:
            self.problems[name] = f"Use a date between the years {FILTER_YEARS.start} and {FILTER_YEARS.stop - 1}."
            return None
        return day

    def count(self, name: str) -> int | None:
        value = self.one(name)
        if not value:
            return None
        if not is_whole_number(value) or int(value) > MAX_CHARS:
            self.problems[name] = f"Use a whole number of characters from 0 to {MAX_CHARS:,}."
            return None
        return int(value)

    def theme(self, name: str) -> tuple[str, int] | None:
        value = self.one(name)
        if not value:
            return None
        match = THEME.fullmatch(value)
        if match is None:
            self.problems[name] = f"{value[:40]!r} is not a failure theme like 2026-W48.1 (a week, a dot, a rank)."
            return None
        year, number, rank = int(match[1]), int(match[2]), int(match[3])
        if year not in WEEK_YEARS or rank < 1:
            self.problems[name] = (
                f"{value[:40]!r} is out of range: weeks run from {WEEK_YEARS.start}-W01 to {WEEK_YEARS.stop - 1}-W52, "
                "ranks from 1."
            )
            return None
        try:
            date.fromisocalendar(year, number, 1)
        except ValueError:
            self.problems[name] = f"{value[:40]!r} names no week: {year} has no week {number}."
            return None
        return f"{year}-W{number:02d}", rank

    def sort(self, name: str) -> str:
        value = self.one(name).lower()
        if value and value not in SORTS:
            self.problems[name] = f"{value[:40]!r} is not a sort. Use one of: {', '.join(SORTS)}."
            return DEFAULT_SORT
        return value or DEFAULT_SORT

    def yes_no(self, name: str) -> bool | None:
        value = self.one(name)
        if not value:
            return None
        answer = read_query_boolean(value)
        if answer is None:
            self.problems[name] = not_a_query_boolean(value)
        return answer

    def choices(self, name: str, allowed: dict, *, single: bool = False) -> tuple:
        values = [self.one(name)] if single else self.many(name)
        unknown = [value for value in values if value.lower() not in allowed]
        if unknown:
            self.problems[name] = f"{unknown[0][:40]!r} is not one of: {', '.join(allowed)}."
            return (None,) if single else ()
        return tuple(dict.fromkeys(allowed[value.lower()] for value in values))

    def _gold_hint(self, name: str, value: str) -> str:
        """For a gold answer typed without its question: the same answer with the project's verdict question."""
        key = self.verdict_key() if name == "gold" and ":" not in value and self.verdict_key else None
        if not key:
            return ""
        if verdict_word(value):
            return f" A gold answer names its question: did you mean gold={key}:{value.strip()}?"
        return f" A gold answer names its question, as in gold={key}:fail."

    def pairs(self, name: str) -> tuple[tuple[str, str], ...]:
        pairs = []
        for value in self.many(name):
            if name in AS_STORED:
                pair = read_pair(value)
            else:
                key, colon, rest = value.partition(":")
                pair = (key.strip(), rest.strip()) if colon else None
            if pair is None or not pair[0]:
                self.problems[name] = f"{value[:40]!r} is not `key:value`." + self._gold_hint(name, value)
                return ()
            # The limit holds on the pair as links and saved views write it (`pair_fits`), not only as typed: a
            # quoted key's quotes are doubled there, and a longer value would be refused once the page reloads it.
            if name == "meta" and not pair_fits(*pair):
                self.problems[name] = (
                    f"{value[:40]!r} takes {len(typed_pair(*pair))} characters as a link writes it (a quote in a "
                    f"quoted key counts twice): use at most {MAX_VALUE_CHARS}."
                )
                return ()
            pairs.append(pair)
        # "correct:true" and "correct: true" are one condition: dedupe after trimming, as the URL will show it.
        return tuple(dict.fromkeys(pairs))
