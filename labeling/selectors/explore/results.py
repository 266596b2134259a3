"""A page of results in the filter's order (newest first by default) with its total, cursor and the search's
matches marked, and one session's conversation."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.postgres.search import SearchHeadline
from django.db import OperationalError, connection, transaction
from django.db.models import F, FloatField, Prefetch, Q, QuerySet, TextField, Value
from django.db.models.expressions import RawSQL
from psycopg.errors import QueryCanceled

from labeling.exceptions import InvalidFilter
from labeling.models import (
    Item,
    Label,
    Output,
    Project,
    Resolution,
)
from labeling.models.outputs import MetadataNumber
from labeling.rules.cursors import NOT_HANDED_OUT, cursor_position, sign_cursor
from labeling.rules.explore import DEFAULT_SORT, LATENCY_KEY, ExploreFilter, filter_query, search_groups
from labeling.rules.gold import gold_answer, output_verdict
from labeling.rules.text import excerpt, excerpt_around, markdown_text

from ..planner import estimated_rows
from .filters import SEARCH_CONFIGURATION, Verdicts, filter_outputs, substring_terms, tsquery, verdict_questions

PAGE_SIZE = 50
# The explore page signs its cursors for itself; the API list names its own endpoint (rules.cursors).
EXPLORE_PAGE = "labeling:explore"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_PAGE_SIZE = 200
EXACT_LIMIT = 10_000
COUNT_BUDGET_MS = 50  # longest a total may take before the estimate is shown instead
MAX_CONVERSATION = 500
# ts_headline marks matches with these (they cannot occur in stored text, which is refused with control
# characters); templates turn the pieces into escaped text and <mark> elements, never raw HTML.
MARK_START, MARK_END = "\x02", "\x03"
SUBSTRING_EXCERPT_CHARS = 400  # a row's text on SQLite, where there is no headline
_PLAIN_OUTPUT = (
    "(SELECT string_agg(value #>> '{}', ' ') FROM jsonb_path_query(labeling_output.output, "
    "'strict $.** ? (@.type() == \"string\")') AS value)"
)


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
    verdict: bool | None = None  # the output's verdict (`verdicts_of_outputs`), when decided
    # Found by a search whose words are not in the answer: in its input (an earlier turn), context, comment or ids.
    matched_elsewhere: bool = False


@dataclass
class Page:
    rows: list[ResultRow]
    next_cursor: str | None
    total: Total | None = None
    # The filter's verdict questions (`filters.verdict_questions`), read once for its conditions, badges and chips;
    # None for a page without gold (an expert's, the API's).
    verdicts: Verdicts | None = None

    @property
    def verdict_question(self) -> dict | None:
        """The current rubric's verdict question (the filter bar's verdict select)."""
        return self.verdicts.current if self.verdicts else None

    @property
    def judged_question(self) -> dict | None:
        """The verdict question the rows' verdicts read."""
        return self.verdicts.judged if self.verdicts else None


# Each sort (`rules.explore.SORTS`): the key it orders by, whether the largest comes first, and whether the key can
# be NULL (such outputs come last). Paged by the keyset (key, pk). Only the time orders read an index: the others
# sort what the filter matches (a week of outputs in milliseconds), because an index for each cost every ingested
# batch 7–11 % (bench/w1_paired.py) for an order a lead picks now and then.
_ORDERS = {
    "newest": ("occurred_at", True, False),
    "oldest": ("occurred_at", False, False),
    "longest": ("output_chars", True, True),
    "slowest": ("sort_latency", True, True),
}


def sorted_outputs(outputs: QuerySet[Output], sort: str) -> QuerySet[Output]:
    """The outputs in the order of `sort`, ties broken by pk the same way, NULL keys last."""
    key, descending, nullable = _ORDERS[sort]
    if key == "sort_latency":
        outputs = outputs.annotate(sort_latency=MetadataNumber(LATENCY_KEY))
    if not nullable:  # plain ASC/DESC: what the (project, occurred_at) index reads either way
        return outputs.order_by(f"-{key}" if descending else key, "-pk" if descending else "pk")
    return outputs.order_by(F(key).desc(nulls_last=True), "-pk")


def read_in_index_order(sort: str) -> bool:
    """Whether the (project, occurred_at) index delivers the outputs in the order of `sort` (newest, oldest): the
    first rows come without sorting every match."""
    return not _ORDERS[sort][2]


def _page_after(ordered: QuerySet[Output], sort: str, value: Any, pk: int, size: int) -> list[Output]:
    """Up to `size` outputs that come after (value, pk) in the order of `sort`. The bound on the key alone lets an
    index (the time orders') start at the cursor rather than read every row before it; the outputs without a key
    (last) are read apart, once those with one run out."""
    key, descending, nullable = _ORDERS[sort]
    if value is None:  # among the outputs without a key, at the end
        return list(ordered.filter(**{f"{key}__isnull": True, "pk__lt": pk})[:size])
    if isinstance(value, Decimal) and connection.vendor == "sqlite":
        # SQLite compares a number with the text Django binds a Decimal as by type (every number is less): bind a float.
        value = Value(float(value), output_field=FloatField())
    beyond = "lt" if descending else "gt"
    after = ordered.filter(Q(**{f"{key}__{beyond}": value}) | Q(**{key: value, f"pk__{beyond}": pk}))
    found = list(after.filter(**{f"{key}__{beyond}e": value})[:size])
    if nullable and len(found) < size:
        found += ordered.filter(**{f"{key}__isnull": True})[: size - len(found)]
    return found


def count_matches(outputs: QuerySet, *, budget_ms: int = COUNT_BUDGET_MS) -> Total:
    """Exact up to EXACT_LIMIT when PostgreSQL can count that far within `budget_ms`, else the planner's estimate.
    (Explore's matches, and the admin's change lists of any table.)

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


def match_count(project: Project, spec: ExploreFilter) -> Total:
    """How many outputs the filter finds, counted as a page's total is (`count_matches`)."""
    return count_matches(filter_outputs(project, spec))


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
    """One page of matches in the filter's order (`spec.sort`), and the cursor of the next page (keyset: no OFFSET to
    walk); cursors are signed for `cursor_endpoint`, the page or API endpoint that hands them out, and for this
    project and filter (its sort included)."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    # Experts label blind: the page leaves the gold verdicts out for them (`with_gold=False`).
    shows_gold = with_pieces and with_gold
    verdicts = verdict_questions(project, spec) if shows_gold or spec.gold else None
    outputs = filter_outputs(project, spec, verdicts=verdicts)
    page = sorted_outputs(outputs, spec.sort)
    scope = cursor_scope(project, spec)
    if cursor:
        value, pk = decode_cursor(cursor, endpoint=cursor_endpoint, scope=scope, sort=spec.sort)
        found = _page_after(page, spec.sort, value, pk, limit + 1)
    else:
        found = list(page[: limit + 1])
    has_more = len(found) > limit
    found = found[:limit]
    rows = [ResultRow(output, []) for output in found]
    if with_pieces:
        _add_pieces(rows, spec.q)
        # Only words a search looks for can be marked: one that only leaves words out ("-refund") marks none.
        looks_for_words = any(not excluded for _, excluded in substring_terms(spec.q)) if spec.q else False
        for row in rows:
            row.matched_elsewhere = looks_for_words and not any(hit for _, hit in row.pieces)
        _add_verdicts(rows, verdicts.judged if shows_gold and verdicts else None)
    return Page(
        rows=rows,
        next_cursor=encode_cursor(found[-1], endpoint=cursor_endpoint, scope=scope, sort=spec.sort)
        if has_more
        else None,
        total=at_least(count_matches(outputs), len(found) + has_more) if with_total else None,
        verdicts=verdicts if shows_gold else None,
    )


def at_least(total: Total, seen: int) -> Total:
    """An estimate is never below what was seen: the planner can guess 3 where a page holds 51."""
    return Total(max(total.value, seen), estimated=True) if total.estimated and total.value < seen else total


def cursor_scope(project: Project, spec: ExploreFilter) -> str:
    """What a result page's cursor is good for: the project (by id) and the filter, in its canonical form."""
    return f"{project.pk} {filter_query(spec)}"


def encode_cursor(output: Output, *, scope: str, endpoint: str = EXPLORE_PAGE, sort: str = DEFAULT_SORT) -> str:
    """The signed cursor of the page after this output, for this endpoint and scope (see `rules.cursors`): its sort
    key and its pk, `<key>_<pk>`, signed. The key of a time sort is its moment in microseconds since the epoch; of
    another, its number, empty when the output has none."""
    key = _ORDERS[sort][0]
    if key == "occurred_at":
        value = str((output.occurred_at - _EPOCH) // timedelta(microseconds=1))
    else:
        number = getattr(output, key)
        value = "" if number is None else str(Decimal(number))  # as SQLite gives it too (a float or an int)
    return sign_cursor(f"{value}_{output.pk}", endpoint=endpoint, scope=scope)


def decode_cursor(
    cursor: str, *, scope: str, endpoint: str = EXPLORE_PAGE, sort: str = DEFAULT_SORT
) -> tuple[Any, int]:
    """The (sort key, pk) a cursor was made from (the key a moment for a time sort; a number or None otherwise);
    InvalidFilter for anything this endpoint did not hand out for this scope."""
    position = cursor_position(cursor, endpoint=endpoint, scope=scope)
    try:
        value, pk = position.rsplit("_", 1)
        key = _ORDERS[sort][0]
        if key == "occurred_at":
            return _EPOCH + timedelta(microseconds=int(value)), int(pk)
        if key == "output_chars":
            return (int(value) if value else None), int(pk)
        return (Decimal(value) if value else None), int(pk)
    except (ValueError, OverflowError, ArithmeticError):  # signed but unreadable: only after a change of format
        raise InvalidFilter({"cursor": NOT_HANDED_OUT}) from None


def _add_pieces(rows: list[ResultRow], q: str) -> None:
    if q and rows and connection.vendor == "postgresql":
        headlines = dict(
            Output.objects.filter(pk__in=[row.output.pk for row in rows])
            .annotate(
                headline=SearchHeadline(
                    RawSQL(_PLAIN_OUTPUT, [], output_field=TextField()),
                    tsquery(q),
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
            headline = headlines.get(row.output.pk)
            # The headline quotes the stored Markdown; the row shows its plain text, as an excerpt does.
            row.pieces = marked_pieces(markdown_text(headline) if headline else excerpt(row.output.output))
        return
    # The row shows why it was found: the words searched together where they stand together, else the first word.
    groups = search_groups(q) if q else []
    phrases = [" ".join(term for term, excluded in group if not excluded) for group in groups]
    terms = [term for group in groups for term, excluded in group if not excluded]
    for row in rows:
        row.pieces = excerpt_around(row.output.output, phrases, SUBSTRING_EXCERPT_CHARS, also_marked=terms)


def marked_pieces(headline: str) -> list[tuple[str, bool]]:
    """A headline's text split at the match marks into (text, is_match) pieces."""
    pieces = []
    for index, part in enumerate(re.split(f"[{MARK_START}{MARK_END}]", headline)):
        if part:
            pieces.append((part, index % 2 == 1))
    return pieces


def _add_verdicts(rows: list[ResultRow], question: dict | None) -> None:
    if question is None or not rows:
        return
    verdicts = verdicts_of_outputs([row.output.pk for row in rows], question["key"])
    for row in rows:
        row.verdict = verdicts.get(row.output.pk)


def verdicts_of_outputs(output_ids: Iterable[int], key: str) -> dict[int, bool]:
    """Each decided output's verdict: the gold answers of its items to the verdict question `key`, combined by the
    project's one rule (`rules.gold.output_verdict`: a fail in any queue is a fail), as failure themes read it."""
    answers: dict[int, list[Any]] = {}
    resolutions = Resolution.objects.filter(item__output_id__in=list(output_ids))
    for output_id, automatic, adjudicated in resolutions.values_list("item__output_id", "automatic", "adjudicated"):
        answers.setdefault(output_id, []).append(gold_answer((automatic or {}).get(key), (adjudicated or {}).get(key)))
    verdicts = {output_id: output_verdict(given) for output_id, given in answers.items()}
    return {output_id: verdict for output_id, verdict in verdicts.items() if verdict is not None}


# -- one conversation ---------------------------------------------------------------------------------------


def _with_reviews(outputs):
    """The outputs, each with `items`: its queue items, their queue, labels (with experts) and gold answer."""
    labels = Label.objects.select_related("expert").order_by("created_at")
    items = Item.objects.select_related("queue", "resolution").prefetch_related(Prefetch("labels", queryset=labels))
    return outputs.prefetch_related(Prefetch("items", queryset=items.order_by("pk")))


@dataclass
class Conversation:
    """A window of a session's turns in time order (at most MAX_CONVERSATION), and whether turns come before or after
    it."""

    outputs: list[Output]
    earlier: bool = False
    later: bool = False


def conversation(project: Project, session_id: str, *, around: Output | None = None) -> Conversation:
    """The outputs of one session in time order, each with `items`: its queue items, their queue, labels (with
    experts) and gold answer, prefetched. A session of more than MAX_CONVERSATION turns shows a window of them: from
    its first turn, or around the output `around` (of this session), with up to half the window before it, so that
    the turn asked for is always on the page."""
    if not session_id:  # outputs without a session are not one conversation
        return Conversation([])
    turns = Output.objects.filter(project=project, session_id=session_id)
    if around is None or around.session_id != session_id:
        found = list(_with_reviews(turns.order_by("occurred_at", "pk"))[: MAX_CONVERSATION + 1])
        return Conversation(found[:MAX_CONVERSATION], later=len(found) > MAX_CONVERSATION)
    moment = around.occurred_at
    before = Q(occurred_at__lt=moment) | Q(occurred_at=moment, pk__lt=around.pk)
    # Up to half the window before the turn; the rest after it, and when the turns after run short, more before (the
    # last turn of a long session shows the 499 before it, not 250).
    earlier = list(turns.filter(before).order_by("-occurred_at", "-pk").values_list("pk", flat=True)[:MAX_CONVERSATION])
    rest = turns.exclude(before).order_by("occurred_at", "pk").values_list("pk", flat=True)
    later = list(rest[: MAX_CONVERSATION + 1])
    shown_after = later[: MAX_CONVERSATION - min(len(earlier), MAX_CONVERSATION // 2)]
    shown_before = earlier[: MAX_CONVERSATION - len(shown_after)]
    window = _with_reviews(turns.filter(pk__in=[*shown_before, *shown_after]).order_by("occurred_at", "pk"))
    return Conversation(list(window), earlier=len(earlier) > len(shown_before), later=len(later) > len(shown_after))


def session_turn(project: Project, external_id: str) -> Output | None:
    """The output a conversation page opens at (`conversation`'s `around`): its id, session and moment only."""
    return (
        Output.objects.filter(project=project, external_id=external_id)
        .only("pk", "external_id", "session_id", "occurred_at")
        .first()
    )


def output_with_reviews(project: Project, external_id: str) -> Output | None:
    """One output of the project by its external id, with `items` as `conversation` gives them; None if none."""
    return _with_reviews(Output.objects.filter(project=project, external_id=external_id)).first()
