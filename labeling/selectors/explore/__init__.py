"""Reads behind the explore page and `GET /api/v1/outputs`: one filter (`rules.explore.ExploreFilter`) turned
into SQL by `filter_outputs`, a page of results newest first with the search's matches marked, the facets and
histograms of the first matches in the list's order, outputs per day, and one session's conversation.

Search on PostgreSQL is full-text over the stored `search_vector` (`websearch_to_tsquery`: "a phrase", OR,
-word; English stems, accents folded); a query that looks like an id (one word with a digit, such as an order
number) must also appear exactly in the text, or be an output's, session's or end user's id. On SQLite (the
demo) every word is a case-insensitive substring of the output, input, comment or context instead.

Facets are exact up to EXACT_LIMIT matches; past it they count the first EXACT_LIMIT in the list's order (the newest,
the slowest…) as they are, and say so; the per-day counts come from a random sample of the table's pages, scaled up.
A total is exact when PostgreSQL counts it within COUNT_BUDGET_MS, else the planner's estimate. Each says when it is
an estimate.

The package: `filters.py` turns a filter into SQL (and the search's condition), `results.py` reads a page of
results with its total, cursor and marked matches (and one session's conversation), `facets.py` the facets,
histograms and outputs per day.
"""

from .facets import HISTOGRAM_BINS, Day, Facet, FacetValue, Histogram, Summary, daily, histogram, summary
from .filters import Verdicts, filter_outputs, read_filter, search_condition, verdict_questions
from .results import (
    EXACT_LIMIT,
    EXPLORE_PAGE,
    MAX_CONVERSATION,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    Conversation,
    Page,
    ResultRow,
    Total,
    conversation,
    count_matches,
    cursor_scope,
    decode_cursor,
    encode_cursor,
    marked_pieces,
    match_count,
    output_with_reviews,
    result_page,
    session_turn,
    sorted_outputs,
    verdicts_of_outputs,
)

__all__ = [
    "EXACT_LIMIT",
    "EXPLORE_PAGE",
    "HISTOGRAM_BINS",
    "MAX_CONVERSATION",
    "Conversation",
    "MAX_PAGE_SIZE",
    "PAGE_SIZE",
    "Day",
    "Facet",
    "FacetValue",
    "Histogram",
    "Page",
    "ResultRow",
    "Summary",
    "Verdicts",
    "verdict_questions",
    "Total",
    "conversation",
    "count_matches",
    "cursor_scope",
    "daily",
    "decode_cursor",
    "encode_cursor",
    "filter_outputs",
    "read_filter",
    "verdicts_of_outputs",
    "histogram",
    "marked_pieces",
    "match_count",
    "sorted_outputs",
    "output_with_reviews",
    "result_page",
    "session_turn",
    "search_condition",
    "summary",
]
