"""Reads behind the explore page and `GET /api/v1/outputs`: one filter (`rules.explore.ExploreFilter`) turned
into SQL by `filter_outputs`, a page of results newest first with the search's matches marked, the facets and
histograms of the newest matches, outputs per day, and one session's conversation.

Search on PostgreSQL is full-text over the stored `search_vector` (`websearch_to_tsquery`: "a phrase", OR,
-word; English stems, accents folded); a query that looks like an id (one word with a digit, such as an order
number) must also appear exactly in the text, or be an output's, session's or end user's id. On SQLite (the
demo) every word is a case-insensitive substring of the output, input, comment or context instead.

Facets are exact up to EXACT_LIMIT matches; past it they come from the newest EXACT_LIMIT matches, scaled up, and
the per-day counts from a sample of the table. A total is exact when PostgreSQL counts it within COUNT_BUDGET_MS,
else the planner's estimate. Each says when it is an estimate.
"""

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib.postgres.search import SearchHeadline, SearchQuery
from django.db import OperationalError, connection, transaction
from django.db.models import Count, Exists, F, JSONField, OuterRef, Prefetch, Q, QuerySet, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform, KeyTransform, KeyTransformExact
from django.db.models.functions import Cast, Concat, TruncDate
from django.db.models.lookups import Exact, IContains
from django.utils import timezone
from psycopg.errors import QueryCanceled

from labeling.exceptions import InvalidFilter, InvalidWeek
from labeling.models import (
    FailureTheme,
    FailureThemeOutput,
    Flag,
    Item,
    Label,
    Output,
    Project,
    QuestionKind,
    Queue,
    Resolution,
)
from labeling.models.outputs import MetadataKey
from labeling.rules.calendar import day_start, week_from_label
from labeling.rules.cursors import NOT_HANDED_OUT, cursor_position, sign_cursor
from labeling.rules.explore import MAX_CHARS, ExploreFilter, filter_query, is_double
from labeling.rules.gold import gold_answer
from labeling.rules.text import excerpt

from .planner import estimated_rows
from .rubrics import questions_of, verdict_question

SEARCH_CONFIGURATION = "expertloop_search"  # migration 0014; services.search_index fills the vectors
PAGE_SIZE = 50
# The explore page signs its cursors for itself; the API list names its own endpoint (rules.cursors).
EXPLORE_PAGE = "labeling:explore"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_PAGE_SIZE = 200
EXACT_LIMIT = 10_000
COUNT_BUDGET_MS = 50  # longest a total may take before the estimate is shown instead
DAILY_SAMPLE_ROWS = 5_000  # about how many rows a sampled per-day chart reads (~80 a day over 60 days)
DAILY_DAYS = 60  # the per-day charts' range when the filter gives no dates
MAX_DAILY_DAYS = 366  # the longest range a per-day chart draws (its last days): a bar per day stays readable
MAX_CONVERSATION = 500
TOP_VALUES = 8
TOP_METADATA_KEYS = 12
HISTOGRAM_BINS = 12
# ts_headline marks matches with these (they cannot occur in stored text, which is refused with control
# characters); templates turn the pieces into escaped text and <mark> elements, never raw HTML.
MARK_START, MARK_END = "\x02", "\x03"
SUBSTRING_EXCERPT_CHARS = 400  # a row's text on SQLite, where there is no headline
_ID_LIKE = re.compile(r"^[\w#./:@-]*\d[\w#./:@-]*$")
_PLAIN_OUTPUT = (
    "(SELECT string_agg(value #>> '{}', ' ') FROM jsonb_path_query(labeling_output.output, "
    "'strict $.** ? (@.type() == \"string\")') AS value)"
)
_GOLD_KINDS = (QuestionKind.BINARY, QuestionKind.CHOICE, QuestionKind.RATING)


# -- the filter ---------------------------------------------------------------------------------------------


def filter_outputs(project: Project, spec: ExploreFilter) -> QuerySet[Output]:
    """The project's outputs that meet every condition of the filter (unordered). InvalidFilter for a queue or
    gold question the project does not have."""
    outputs = Output.objects.filter(project=project)
    if spec.q:
        outputs = outputs.filter(search_condition(spec.q))
    if spec.since:
        outputs = outputs.filter(occurred_at__gte=day_start(project, spec.since))
    if spec.until:
        outputs = outputs.filter(occurred_at__lt=day_start(project, spec.until + timedelta(days=1)))
    if spec.models:
        outputs = outputs.filter(model__in=spec.models)
    if spec.tags:
        outputs = outputs.filter(_tags_condition(spec.tags, every=spec.all_tags))
    for key, values in spec.metadata:
        outputs = outputs.filter(_metadata_text_in(key, values))
    for key in spec.metadata_keys:
        outputs = outputs.filter(metadata__has_key=key)
    if spec.end_user:
        outputs = outputs.filter(end_user_id=spec.end_user)
    if spec.session:
        outputs = outputs.filter(session_id=spec.session)
    if spec.feedback:
        scores = [score for score in spec.feedback if score is not None]
        condition = Q(feedback_score__in=scores)
        if None in spec.feedback:
            condition |= Q(feedback_score__isnull=True)
        outputs = outputs.filter(condition)
    if spec.has_comment is not None:
        outputs = outputs.exclude(feedback_comment="") if spec.has_comment else outputs.filter(feedback_comment="")
    if spec.labeled is not None:
        labeled = Exists(Label.objects.filter(item__output=OuterRef("pk")))
        outputs = outputs.filter(labeled if spec.labeled else ~labeled)
    if spec.flagged is not None:
        flagged = Exists(Flag.objects.filter(item__output=OuterRef("pk")))
        outputs = outputs.filter(flagged if spec.flagged else ~flagged)
    if spec.queues:
        queue_ids = _queue_ids(project, spec.queues)
        outputs = outputs.filter(Exists(Item.objects.filter(output=OuterRef("pk"), queue_id__in=queue_ids)))
    if spec.gold:
        for condition in _gold_conditions(project, spec.gold):
            outputs = outputs.filter(Exists(Resolution.objects.filter(condition, item__output=OuterRef("pk"))))
    if spec.min_chars is not None:
        outputs = outputs.filter(output_chars__gte=spec.min_chars)
    if spec.max_chars is not None:
        outputs = outputs.filter(output_chars__lte=spec.max_chars)
    if spec.theme:
        members = FailureThemeOutput.objects.filter(theme_id=_theme_id(project, spec.theme))
        outputs = outputs.filter(pk__in=members.values("output_id"))
    return outputs


def search_condition(q: str) -> Q:
    """The search words as a condition on Output (see the module's docstring). InvalidFilter when the words are
    all too common to be indexed ("the", "don't"), so the person learns why nothing matched."""
    word = q.strip()
    # One word may be an id: an output's, a session's or an end user's (each an index lookup).
    ids = Q(external_id=word) | Q(session_id=word) | Q(end_user_id=word) if " " not in word else Q(pk__in=[])
    if connection.vendor == "postgresql":
        _check_searchable(q)
        condition = Q(search_vector=_tsquery(q))
        if _ID_LIKE.match(word):
            # The parser splits "ORD-1234" into parts that other texts share: ask for the exact string too.
            condition &= Q(IContains(_searched_text(), word))
        return condition | ids
    condition = Q()
    for term, excluded in _substring_terms(q):
        # SQLite keeps JSON as text with non-ASCII letters and quotes escaped ("Z\u00fcrich"): look for the
        # term written the same way there, and as typed in the comment.
        escaped = json.dumps(term)[1:-1]
        found = Q(output__icontains=escaped) | Q(input__icontains=escaped) | Q(context__icontains=escaped)
        found |= Q(feedback_comment__icontains=term)
        condition &= ~found if excluded else found
    return condition | ids


def _check_searchable(q: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT numnode(websearch_to_tsquery(%s::regconfig, %s))", [SEARCH_CONFIGURATION, q])
        if cursor.fetchone()[0] == 0:
            raise InvalidFilter(
                {"q": "Nothing to search for: words as common as “the” or “don't”, and punctuation, are not indexed."}
            )


def _tsquery(q: str) -> SearchQuery:
    return SearchQuery(q, config=SEARCH_CONFIGURATION, search_type="websearch")


def _searched_text() -> Concat:
    text = [
        Cast("output", TextField()),
        Cast("input", TextField()),
        F("feedback_comment"),
        Cast("context", TextField()),
    ]
    return Concat(*(piece for part in text for piece in (part, Value(" "))), output_field=TextField())


def _substring_terms(q: str) -> list[tuple[str, bool]]:
    """The SQLite fallback's terms: quoted phrases and words, a leading '-' excludes one; OR is read as a word."""
    terms = []
    for phrase, word in re.findall(r'(-?"[^"]*")|(\S+)', q):
        term = (phrase or word).replace('"', "")
        excluded = term.startswith("-") and len(term) > 1
        term = term.removeprefix("-") if excluded else term
        if term.strip():
            terms.append((term.strip(), excluded))
    return terms


def _tags_condition(tags: Iterable[str], *, every: bool) -> Q:
    if connection.vendor == "postgresql":
        if every:
            return Q(tags__contains=list(tags))
        condition = Q()
        for tag in tags:
            condition |= Q(tags__contains=[tag])
        return condition
    # SQLite has no JSON containment: ask json_each for the tag.
    has = [RawSQL("EXISTS (SELECT 1 FROM json_each(labeling_output.tags) WHERE value = %s)", [tag]) for tag in tags]
    condition = Q()
    for test in has:
        condition = condition & Q(Exact(test, True)) if every else condition | Q(Exact(test, True))
    return condition


def _metadata_text_in(key: str, values: Iterable[str]) -> Q:
    """metadata[key], read as text (a number as its digits, true as "true"), is one of the values."""
    values = list(values)
    if connection.vendor != "postgresql":
        # SQLite: json_each names the key as a key (a JSON path would read "0" as an array index), and its
        # `type` spells booleans out as PostgreSQL's ->> does.
        placeholders = ", ".join(["%s"] * len(values))
        sql = (
            "EXISTS (SELECT 1 FROM json_each(labeling_output.metadata) WHERE key = %s AND "
            "CASE type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(value AS TEXT) END "
            f"IN ({placeholders}))"
        )
        return Q(Exact(RawSQL(sql, [key, *values]), True))
    text = MetadataKey(key, as_text=True)
    condition = Q()
    for value in values:
        condition |= Q(Exact(text, value))
    return condition


def _queue_ids(project: Project, slugs: Iterable[str]) -> list[int]:
    found = dict(Queue.objects.filter(project=project, slug__in=list(slugs)).values_list("slug", "pk"))
    missing = [slug for slug in slugs if slug not in found]
    if missing:
        raise InvalidFilter({"queue": f"This project has no queue {missing[0][:64]!r}."})
    return list(found.values())


def _theme_id(project: Project, theme: tuple[str, int]) -> int:
    """The stored failure theme a filter names (week label, rank); InvalidFilter when the project has none such."""
    label, rank = theme
    missing = InvalidFilter(
        {"theme": f"This project has no failure theme {label}.{rank} (a week has themes once it has enough failures)."}
    )
    try:
        week = week_from_label(project, label)
    except InvalidWeek:
        raise missing from None
    found = FailureTheme.objects.filter(project=project, week=week, rank=rank).values_list("pk", flat=True).first()
    if found is None:
        raise missing
    return found


def _gold_conditions(project: Project, pairs: Iterable[tuple[str, str]]) -> list[Q]:
    """Per (question, answer): a condition on Resolution that its gold answer (adjudicated over automatic,
    a tie being no answer, as rules.gold decides) is that answer."""
    questions = {question["key"]: question for question in questions_of(project)}
    conditions = []
    for key, answer in pairs:
        question = questions.get(key)
        if question is None or question["kind"] not in _GOLD_KINDS:
            keys = [k for k, q in questions.items() if q["kind"] in _GOLD_KINDS]
            raise InvalidFilter({"gold": f"No pass/fail, choice or rating question {key[:64]!r}; use one of {keys}."})
        # As JSON: a bare Python value would reach PostgreSQL as `jsonb = boolean` (no such operator).
        value = Value(_typed_answer(question, answer), output_field=JSONField())
        adjudicated = KeyTransform("value", KeyTransform(key, "adjudicated"))
        automatic = KeyTransform("value", KeyTransform(key, "automatic"))
        tie = Exact(KeyTextTransform("method", KeyTransform(key, "automatic")), "tie")
        decided_by_lead = Q(adjudicated__has_key=key)
        conditions.append(
            (decided_by_lead & Q(KeyTransformExact(adjudicated, value)))
            | (~decided_by_lead & Q(KeyTransformExact(automatic, value)) & ~Q(tie))
        )
    return conditions


def _typed_answer(question: dict, answer: str) -> Any:
    kind, text = question["kind"], answer.strip().lower()
    if kind == QuestionKind.BINARY and text in ("true", "yes", "pass", "false", "no", "fail"):
        return text in ("true", "yes", "pass")
    if kind == QuestionKind.RATING and re.fullmatch(r"-?[0-9]{1,6}", text):
        return int(text)
    if kind == QuestionKind.CHOICE and answer in question.get("options", []):
        return answer
    expected = {
        QuestionKind.BINARY: "true or false",
        QuestionKind.RATING: "a whole number",
        QuestionKind.CHOICE: f"one of {question.get('options', [])}",
    }[kind]
    raise InvalidFilter({"gold": f"{answer[:40]!r} is not an answer to {question['key']!r}: use {expected}."})


# -- a page of results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Total:
    """How many outputs match: exact, or PostgreSQL's estimate (`estimated`)."""

    value: int
    estimated: bool = False


@dataclass
class ResultRow:
    output: Output
    # The output's text as (text, is_match) pieces: the search's matches in context, or its excerpt.
    pieces: list[tuple[str, bool]]
    verdict: Any = None  # the gold answer to the rubric's verdict question, when decided


@dataclass
class Page:
    rows: list[ResultRow]
    next_cursor: str | None
    total: Total | None = None
    verdict_question: dict | None = None


def newest_first(outputs: QuerySet[Output]) -> QuerySet[Output]:
    return outputs.order_by("-occurred_at", "-pk")


def count_matches(outputs: QuerySet[Output], *, budget_ms: int = COUNT_BUDGET_MS) -> Total:
    """Exact up to EXACT_LIMIT when PostgreSQL can count that far within `budget_ms`, else the planner's estimate.

    A bounded count is cheap when the index answers the whole filter, but a filter the index cannot answer
    (a common word with a metadata value, say) reads every candidate row: seconds at a million outputs
    (bench/README.md, W5). Past the budget the count is cancelled and the total is the planner's estimate,
    marked as one, so a page never waits on its total.
    """
    bounded = outputs.order_by()[: EXACT_LIMIT + 1]
    if connection.vendor != "postgresql":
        counted = bounded.count()
        return Total(counted if counted <= EXACT_LIMIT else outputs.count())
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # Local to this savepoint's transaction: reset below, rolled back with the savepoint on a cancel.
            cursor.execute("SELECT current_setting('statement_timeout'), set_config('statement_timeout', %s, true)",
                           [f"{budget_ms}ms"])  # fmt: skip
            previous = cursor.fetchone()[0]
            counted = bounded.count()
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
    except OperationalError as cancelled:
        if not isinstance(cancelled.__cause__, QueryCanceled):
            raise
        return Total(max(estimated_rows(outputs), 1), estimated=True)
    if counted <= EXACT_LIMIT:
        return Total(counted)
    return Total(max(estimated_rows(outputs), counted), estimated=True)


def result_page(
    project: Project,
    spec: ExploreFilter,
    *,
    cursor: str | None = None,
    cursor_endpoint: str = EXPLORE_PAGE,
    limit: int = PAGE_SIZE,
    with_total: bool = True,
    with_pieces: bool = True,
    with_gold: bool = True,
) -> Page:
    """One page of matches, newest first, and the cursor of the next page (keyset: no OFFSET to walk); cursors are
    signed for `cursor_endpoint`, the page or API endpoint that hands them out, and for this project and filter."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    outputs = filter_outputs(project, spec)
    page = newest_first(outputs)
    scope = cursor_scope(project, spec)
    if cursor:
        moment, pk = decode_cursor(cursor, endpoint=cursor_endpoint, scope=scope)
        page = page.filter(Q(occurred_at__lt=moment) | Q(occurred_at=moment, pk__lt=pk))
    found = list(page[: limit + 1])
    has_more = len(found) > limit
    found = found[:limit]
    # Experts label blind: the page leaves the gold verdicts out for them (`with_gold=False`).
    question = verdict_question(project) if with_pieces and with_gold else None
    rows = [ResultRow(output, []) for output in found]
    if with_pieces:
        _add_pieces(rows, spec.q)
        _add_verdicts(rows, question)
    return Page(
        rows=rows,
        next_cursor=encode_cursor(found[-1], endpoint=cursor_endpoint, scope=scope) if has_more else None,
        total=_at_least(count_matches(outputs), len(found) + has_more) if with_total else None,
        verdict_question=question,
    )


def _at_least(total: Total, seen: int) -> Total:
    """An estimate is never below what was seen: the planner can guess 3 where a page holds 51."""
    return Total(max(total.value, seen), estimated=True) if total.estimated and total.value < seen else total


def cursor_scope(project: Project, spec: ExploreFilter) -> str:
    """What a result page's cursor is good for: the project (by id) and the filter, in its canonical form."""
    return f"{project.pk} {filter_query(spec)}"


def encode_cursor(output: Output, *, scope: str, endpoint: str = EXPLORE_PAGE) -> str:
    """The signed cursor of the page after this output, for this endpoint and scope (see `rules.cursors`): its
    moment in microseconds since the epoch and its pk, `<microseconds>_<pk>`, signed."""
    micros = (output.occurred_at - _EPOCH) // timedelta(microseconds=1)
    return sign_cursor(f"{micros}_{output.pk}", endpoint=endpoint, scope=scope)


def decode_cursor(cursor: str, *, scope: str, endpoint: str = EXPLORE_PAGE) -> tuple[datetime, int]:
    """The (occurred_at, pk) a cursor was made from; InvalidFilter for anything this endpoint did not hand out
    for this scope."""
    position = cursor_position(cursor, endpoint=endpoint, scope=scope)
    try:
        micros, pk = position.split("_")
        return _EPOCH + timedelta(microseconds=int(micros)), int(pk)
    except (ValueError, OverflowError):  # signed but unreadable: only after a change of format
        raise InvalidFilter({"cursor": NOT_HANDED_OUT}) from None


def _add_pieces(rows: list[ResultRow], q: str) -> None:
    if q and rows and connection.vendor == "postgresql":
        headlines = dict(
            Output.objects.filter(pk__in=[row.output.pk for row in rows])
            .annotate(
                headline=SearchHeadline(
                    RawSQL(_PLAIN_OUTPUT, [], output_field=TextField()),
                    _tsquery(q),
                    config=SEARCH_CONFIGURATION,
                    start_sel=MARK_START,
                    stop_sel=MARK_END,
                    max_words=45,
                    min_words=20,
                    max_fragments=2,
                    fragment_delimiter=" … ",
                )
            )
            .values_list("pk", "headline")
        )
        for row in rows:
            row.pieces = marked_pieces(headlines.get(row.output.pk) or excerpt(row.output.output))
        return
    terms = [term for term, excluded in _substring_terms(q) if not excluded] if q else []
    pattern = _terms_pattern(terms)
    for row in rows:
        row.pieces = _substring_pieces(_excerpt_showing(row.output.output, pattern), pattern)


def _terms_pattern(terms: list[str]) -> re.Pattern | None:
    if not terms:
        return None
    return re.compile("|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True)), re.IGNORECASE)


def _excerpt_showing(value: Any, pattern: re.Pattern | None) -> str:
    """The output's excerpt (SUBSTRING_EXCERPT_CHARS); when its first match lies past that, the excerpt from a little
    before the match, so the row shows why it was found (PostgreSQL's headline picks its fragment so too)."""
    text = excerpt(value, MAX_CHARS)
    match = pattern.search(text) if pattern else None
    if match is None or match.end() < SUBSTRING_EXCERPT_CHARS:
        return excerpt(text, SUBSTRING_EXCERPT_CHARS)
    start = max(0, match.start() - SUBSTRING_EXCERPT_CHARS // 4)
    return "…" + excerpt(text[start:].lstrip(), SUBSTRING_EXCERPT_CHARS - 1)


def marked_pieces(headline: str) -> list[tuple[str, bool]]:
    """A headline's text split at the match marks into (text, is_match) pieces."""
    pieces = []
    for index, part in enumerate(re.split(f"[{MARK_START}{MARK_END}]", headline)):
        if part:
            pieces.append((part, index % 2 == 1))
    return pieces


def _substring_pieces(text: str, pattern: re.Pattern | None) -> list[tuple[str, bool]]:
    if pattern is None:
        return [(text, False)]
    pieces, at = [], 0
    for match in pattern.finditer(text):
        if match.start() > at:
            pieces.append((text[at : match.start()], False))
        pieces.append((match.group(), True))
        at = match.end()
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces


def _add_verdicts(rows: list[ResultRow], question: dict | None) -> None:
    if question is None or not rows:
        return
    verdicts = gold_of_outputs([row.output.pk for row in rows], question["key"])
    for row in rows:
        row.verdict = verdicts.get(row.output.pk)


def gold_of_outputs(output_ids: Iterable[int], key: str) -> dict[int, Any]:
    """Each output's decided gold answer to one question (of its first item that has one)."""
    gold: dict[int, Any] = {}
    resolutions = Resolution.objects.filter(item__output_id__in=list(output_ids)).order_by("item_id")
    for output_id, automatic, adjudicated in resolutions.values_list("item__output_id", "automatic", "adjudicated"):
        answer = gold_answer((automatic or {}).get(key), (adjudicated or {}).get(key))
        if answer is not None:
            gold.setdefault(output_id, answer)
    return gold


# -- facets and distributions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FacetValue:
    value: str  # as the filter parameter takes it
    label: str
    count: int


@dataclass(frozen=True)
class Facet:
    parameter: str  # the filter parameter a value adds (model, tag, feedback, gold, meta)
    title: str
    values: list[FacetValue]
    key: str = ""  # the metadata key or gold question


@dataclass(frozen=True)
class Histogram:
    title: str
    bins: list[tuple[float, float, int]]  # (from, to, count); the last bin also holds everything above it
    percentiles: dict[str, float]


@dataclass(frozen=True)
class Summary:
    """Facets and histograms of the newest matches (`sample` of them), counts scaled to `total` when estimated."""

    total: Total
    sample: int
    facets: list[Facet]
    histograms: list[Histogram]

    @property
    def estimated(self) -> bool:
        return self.total.estimated or self.total.value > self.sample


def summary(project: Project, spec: ExploreFilter, *, with_gold: bool = True) -> Summary:
    """Counts per model, tag, feedback score, gold verdict and top metadata values, the output length histogram,
    and a histogram with percentiles of every numeric metadata key, for the filter's newest EXACT_LIMIT matches.
    `with_gold=False` leaves the gold verdicts out (an expert's view: labeling is blind)."""
    outputs = filter_outputs(project, spec)
    sample = list(
        newest_first(outputs).values_list("pk", "model", "tags", "feedback_score", "metadata", "output_chars")[
            :EXACT_LIMIT
        ]
    )
    total = Total(len(sample)) if len(sample) < EXACT_LIMIT else _at_least(count_matches(outputs), EXACT_LIMIT + 1)
    scale = total.value / len(sample) if sample else 1.0

    def facet(parameter: str, title: str, counts: Counter, *, key: str = "", labels: dict | None = None) -> Facet:
        values = [
            FacetValue(str(value), (labels or {}).get(value, str(value)), round(count * scale))
            for value, count in counts.most_common(TOP_VALUES)
        ]
        return Facet(parameter, title, values, key)

    models, tags, feedback, keys = Counter(), Counter(), Counter(), Counter()
    metadata_values: dict[str, Counter] = {}
    numbers: dict[str, list[float]] = {}
    for _, model, output_tags, score, metadata, _ in sample:
        models[model or "(none)"] += 1
        tags.update(set(output_tags or []))
        feedback[{1: "up", 0: "neutral", -1: "down", None: "none"}[score]] += 1
        for key, value in (metadata or {}).items():
            keys[key] += 1
            if isinstance(value, bool) or isinstance(value, str):
                metadata_values.setdefault(key, Counter())[
                    str(value).lower() if isinstance(value, bool) else value
                ] += 1
            elif isinstance(value, int | float) and is_double(value):
                numbers.setdefault(key, []).append(value)
    for key, values in numbers.items():
        if key in metadata_values:  # a key that holds text too: its numbers are values as well, as meta= reads them
            metadata_values[key].update(str(value) for value in values)
    facets = [
        facet("model", "Model", models),
        facet("tag", "Tag", tags),
        facet("feedback", "Feedback", feedback, labels={"up": "👍 up", "down": "👎 down"}),
    ]
    question = verdict_question(project) if with_gold else None
    if question is not None:
        verdicts = Counter(
            str(v).lower() for v in gold_of_outputs([row[0] for row in sample], question["key"]).values()
        )
        facets.append(facet("gold", f"Gold: {question.get('prompt', question['key'])}", verdicts, key=question["key"]))
    for key, _ in keys.most_common(TOP_METADATA_KEYS):
        if key in metadata_values:
            facets.append(facet("meta", key, metadata_values[key], key=key))
    histograms = [histogram("Output length (characters)", [row[5] for row in sample if row[5] is not None], scale)]
    histograms += [histogram(key, values, scale) for key, values in sorted(numbers.items()) if len(values) >= 5]
    return Summary(total=total, sample=len(sample), facets=facets, histograms=histograms)


def histogram(title: str, values: list[float], scale: float = 1.0) -> Histogram:
    """HISTOGRAM_BINS equal bins from the smallest value to the 99th percentile, the rest in the last bin."""
    if not values:
        return Histogram(title, [], {})
    ordered = sorted(values)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    low, high = ordered[0], at(0.99)
    # In doubles (jsonb gives 1e308 back as an int). From -1e308 to 1e308 the difference is no double; halved,
    # every difference between two doubles is.
    start, half = float(low), 1.0 if math.isfinite(float(high) - float(low)) else 0.5
    width = (float(high) * half - start * half) / HISTOGRAM_BINS or 1
    counts = [0] * HISTOGRAM_BINS
    for value in ordered:
        counts[min(HISTOGRAM_BINS - 1, int((float(value) * half - start * half) / width))] += 1
    bounds = [(start * half + n * width) / half for n in range(HISTOGRAM_BINS + 1)]
    bins = [(bounds[n], bounds[n + 1], round(count * scale)) for n, count in enumerate(counts)]
    return Histogram(title, bins, {"p50": at(0.5), "p90": at(0.9), "p99": high})


@dataclass(frozen=True)
class Day:
    day: date
    outputs: int
    rated: int
    thumbs_down: int
    sampled: bool = False  # counted on a sample of the table's pages and scaled up

    @property
    def down_share(self) -> float | None:
        return self.thumbs_down / self.rated if self.rated else None


def daily(project: Project, spec: ExploreFilter, *, today: date | None = None, total: Total | None = None) -> list[Day]:
    """Outputs and thumbs-down per day (project time zone) over the filter's dates (at most their last MAX_DAILY_DAYS),
    else the last DAILY_DAYS.

    Exact unless the filter's `total` (as `summary` counted it) is over EXACT_LIMIT: such a filter on PostgreSQL is
    counted on a sample of the table's pages (TABLESAMPLE SYSTEM, about DAILY_SAMPLE_ROWS of the project's rows
    in the range, the same pages every time) and scaled up: grouping 700,000 rows by day took 5 s (W5).
    """
    until = spec.until or today or timezone.localdate(timezone=project.tzinfo)
    since = max(spec.since or until - timedelta(days=DAILY_DAYS - 1), until - timedelta(days=MAX_DAILY_DAYS - 1))
    in_range = Q(
        occurred_at__gte=day_start(project, since), occurred_at__lt=day_start(project, until + timedelta(days=1))
    )
    per_day = (
        filter_outputs(project, spec)
        .filter(in_range)
        .annotate(day=TruncDate("occurred_at", tzinfo=project.tzinfo))
        .values("day")
        .annotate(
            outputs=Count("pk"),
            rated=Count("pk", filter=Q(feedback_score__isnull=False)),
            down=Count("pk", filter=Q(feedback_score=-1)),
        )
        .order_by()
    )
    percent = 100.0
    if connection.vendor == "postgresql" and total is not None and (total.estimated or total.value > EXACT_LIMIT):
        rows = estimated_rows(Output.objects.filter(in_range, project=project))
        percent = min(100.0, max(0.1, 100.0 * DAILY_SAMPLE_ROWS / max(rows, 1)))
    if percent < 100.0:
        sql, params = per_day.query.sql_with_params()
        table = f'FROM "{Output._meta.db_table}"'
        sampled = sql.replace(table, f"{table} TABLESAMPLE SYSTEM ({percent:.4f}) REPEATABLE (0)", 1)
        with connection.cursor() as cursor:
            cursor.execute(sampled, params)
            columns = [column.name for column in cursor.description]
            counted = {row["day"]: row for row in (dict(zip(columns, values, strict=True)) for values in cursor)}
    else:
        counted = {row["day"]: row for row in per_day}
    scale = 100.0 / percent
    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
    return [
        Day(
            day,
            round(counted.get(day, {}).get("outputs", 0) * scale),
            round(counted.get(day, {}).get("rated", 0) * scale),
            round(counted.get(day, {}).get("down", 0) * scale),
            sampled=percent < 100.0,
        )
        for day in days
    ]


# -- one conversation ---------------------------------------------------------------------------------------


def conversation(project: Project, session_id: str) -> list[Output]:
    """All outputs of one session in time order (at most MAX_CONVERSATION), each with `items`: its queue items,
    their queue, labels (with experts) and gold answer, prefetched (three queries in all)."""
    if not session_id:  # outputs without a session are not one conversation
        return []
    labels = Label.objects.select_related("expert").order_by("created_at")
    items = Item.objects.select_related("queue", "resolution").prefetch_related(Prefetch("labels", queryset=labels))
    return list(
        Output.objects.filter(project=project, session_id=session_id)
        .order_by("occurred_at", "pk")
        .prefetch_related(Prefetch("items", queryset=items.order_by("pk")))[:MAX_CONVERSATION]
    )
