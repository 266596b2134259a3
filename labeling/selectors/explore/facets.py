"""The facets and histograms of a filter's first matches in the list's order, and its outputs per day."""

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import connection
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from labeling.models import (
    Output,
    Project,
)
from labeling.rules.calendar import day_start
from labeling.rules.explore import (
    DEFAULT_SORT,
    FEEDBACK_WORDS,
    ExploreFilter,
    has_working_link,
    is_double,
    metadata_text,
    most_common,
    pair_fits,
    shown_value,
    tags_of,
    value_fits,
)

from ..metrics import first_week_of_the_project
from ..planner import estimated_rows
from .filters import Verdicts, filter_outputs, verdict_questions
from .results import (
    EXACT_LIMIT,
    Total,
    at_least,
    count_matches,
    read_in_index_order,
    sorted_outputs,
    verdicts_of_outputs,
)

DAILY_SAMPLE_ROWS = 5_000  # about how many rows a sampled per-day chart reads (~80 a day over 60 days)
DAILY_DAYS = 60  # the per-day charts' range when the filter gives no dates
MAX_DAILY_DAYS = 366  # the longest range a per-day chart draws (its last days): a bar per day stays readable
TOP_VALUES = 8
TOP_METADATA_KEYS = 12
HISTOGRAM_BINS = 12


@dataclass(frozen=True)
class FacetValue:
    value: str  # as stored (rules.explore.facet_filter writes it as the filter parameter takes it)
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
    """Facets and histograms of the filter's first `sample` matches in the `sort` order: all of them up to
    EXACT_LIMIT, else the first EXACT_LIMIT of `total`, counted as they are (never scaled to `total`)."""

    total: Total
    sample: int
    facets: list[Facet]
    histograms: list[Histogram]
    sort: str = DEFAULT_SORT  # rules.explore.SORTS' key, a word too: the "newest", "slowest" 10,000
    verdicts: Verdicts | None = None  # the filter's verdict questions, read once: `daily` takes them too

    @property
    def in_default_order(self) -> bool:
        """Of the newest matches (DEFAULT_SORT): the note on a sample names the order only when it is another."""
        return self.sort == DEFAULT_SORT

    @property
    def estimated(self) -> bool:
        """The counts are of a sample (`sample` of `total`), not of every match: the API's deprecated `estimated`."""
        return self.total.estimated or self.total.value > self.sample


def summary(project: Project, spec: ExploreFilter, *, with_gold: bool = True) -> Summary:
    """Counts per model, tag, feedback score, gold verdict and top metadata values, the output length histogram,
    and a histogram with percentiles of every numeric metadata key, of the filter's first EXACT_LIMIT matches in its
    order (`spec.sort`): every match up to EXACT_LIMIT, else the outputs the list shows first, as "Add all" and the
    export take them. Counted as they are: scaled up to the total, the newest 10,000 would speak for a year of
    outputs they are not a random sample of. `with_gold=False` leaves the gold verdicts out (an expert's view:
    labeling is blind).

    The first EXACT_LIMIT by latency or length read every match (no index orders them, and none is added: ingest
    would pay for it), as the list's first page in that order does."""
    verdicts = verdict_questions(project, spec) if with_gold or spec.gold else None
    outputs = filter_outputs(project, spec, verdicts=verdicts)
    columns = ("pk", "model", "tags", "feedback_score", "metadata", "output_chars")
    ordered = sorted_outputs(outputs, spec.sort)
    if read_in_index_order(spec.sort):
        sample = list(ordered.values_list(*columns)[:EXACT_LIMIT])  # the index's first rows, read as they come
    else:
        # Two steps in one statement: the first EXACT_LIMIT pks, sorted as narrow rows (a top-N in memory; sorting
        # every match with its metadata spilled 75 MB to disk at 300,000 outputs), then those outputs' columns, in
        # no order: the counts need none, and ties are broken by value (`rules.explore.most_common`). Not for an
        # index's order: 10,000 probes by pk cost the newest ~60 ms more than reading the index's first rows.
        sample = list(Output.objects.filter(pk__in=ordered.values("pk")[:EXACT_LIMIT]).values_list(*columns))
    total = Total(len(sample)) if len(sample) < EXACT_LIMIT else at_least(count_matches(outputs), EXACT_LIMIT + 1)

    def facet(parameter: str, title: str, counts: Counter, *, key: str = "", labels: dict | None = None) -> Facet:
        # A value longer than a filter value may be is no category (a 4 MB string made a 12 MB answer): left out.
        # Measured only until TOP_VALUES are listed.
        values = []
        for value, count in most_common(counts):
            if len(values) == TOP_VALUES:
                break
            if has_working_link(parameter, key, str(value)):
                values.append(FacetValue(str(value), (labels or {}).get(value, shown_value(str(value))), count))
        return Facet(parameter, title, values, key)

    models, tags, feedback, keys = Counter(), Counter(), Counter(), Counter()
    metadata_values: dict[str, Counter] = {}
    numbers: dict[str, list[float]] = {}
    for _, model, output_tags, score, metadata, _ in sample:
        models[model or "(none)"] += 1
        tags.update(tags_of(output_tags))
        feedback[{1: "up", 0: "neutral", -1: "down", None: "none"}[score]] += 1
        for key, value in (metadata or {}).items():
            keys[key] += 1
            if isinstance(value, bool) or isinstance(value, str) and value_fits(value):  # a value, not a long text
                metadata_values.setdefault(key, Counter())[metadata_text(value)] += 1
            elif isinstance(value, int | float) and is_double(value):
                numbers.setdefault(key, []).append(value)
    for key, values in numbers.items():
        if key in metadata_values:  # a key that holds text too: its numbers are values as well, as meta= reads them
            metadata_values[key].update(metadata_text(value) for value in values)
    facets = [
        facet("model", "Model", models),
        facet("tag", "Tag", tags),
        facet("feedback", "Feedback", feedback, labels=FEEDBACK_WORDS),  # the filter's words: an emoji may draw a box
    ]
    question = verdicts.judged if with_gold and verdicts else None  # the one the filter's outputs were judged on
    if question is not None:
        answers = Counter(
            str(v).lower() for v in verdicts_of_outputs([row[0] for row in sample], question["key"]).values()
        )
        facets.append(facet("gold", f"Gold: {question.get('prompt', question['key'])}", answers, key=question["key"]))
    # The most frequent keys with a value to list: a key too long for any `key:value` filter lists none, and would
    # take the place of one that does.
    listed = [key for key, _ in most_common(keys) if key in metadata_values and pair_fits(key, "")]
    for key in listed[:TOP_METADATA_KEYS]:
        facets.append(facet("meta", key, metadata_values[key], key=key))
    histograms = [histogram("Output length (characters)", [row[5] for row in sample if row[5] is not None])]
    histograms += [histogram(key, values) for key, values in sorted(numbers.items()) if len(values) >= 5]
    return Summary(
        total=total, sample=len(sample), facets=facets, histograms=histograms, sort=spec.sort, verdicts=verdicts
    )


def histogram(title: str, values: list[float]) -> Histogram:
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
    bins = [(bounds[n], bounds[n + 1], count) for n, count in enumerate(counts)]
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


def _default_since(project: Project, until: date) -> date:
    """The last DAILY_DAYS up to `until`, from the project's first week when that is later (and not after `until`)."""
    since = until - timedelta(days=DAILY_DAYS - 1)
    # A project created before that range started needs no query: nothing of it can be older than its creation week.
    if since >= timezone.localdate(project.created_at, timezone=project.tzinfo):
        return since
    return min(max(since, first_week_of_the_project(project)), until)


def daily(
    project: Project,
    spec: ExploreFilter,
    *,
    today: date | None = None,
    total: Total | None = None,
    verdicts: Verdicts | None = None,
) -> list[Day]:
    """Outputs and thumbs-down per day (project time zone) over the filter's dates (at most their last MAX_DAILY_DAYS),
    else the last DAILY_DAYS, but not before the project's first week: a young project's chart is its own days, not
    eight weeks of empty bars.

    Exact unless the filter's `total` (as `summary` counted it) is over EXACT_LIMIT: such a filter on PostgreSQL is
    counted on a sample of the table's pages (TABLESAMPLE SYSTEM, about DAILY_SAMPLE_ROWS of the project's rows
    in the range, the same pages every time) and scaled up: grouping 700,000 rows by day took 5 s (W5). `verdicts`:
    the filter's verdict questions, as `summary` read them.
    """
    until = spec.until or today or timezone.localdate(timezone=project.tzinfo)
    since = max(spec.since or _default_since(project, until), until - timedelta(days=MAX_DAILY_DAYS - 1))
    in_range = Q(
        occurred_at__gte=day_start(project, since), occurred_at__lt=day_start(project, until + timedelta(days=1))
    )
    per_day = (
        filter_outputs(project, spec, verdicts=verdicts)
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
