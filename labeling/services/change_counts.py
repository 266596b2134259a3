"""What changed, counted from the rows: a cycle week's and its baseline weeks' outputs, events and gold verdicts
aggregated in SQL (`week_counts`), within the caps. `services.changes` says what is compared and why; this module is
the plain path (SQLite, a week too varied to keep) and the vocabulary `services.change_tallies` pools kept weeks with.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Case, Count, IntegerField, Q, QuerySet, When
from django.db.models.fields.json import KeyTransform

from labeling.metrics import changes as tests
from labeling.metrics.changes import Tally
from labeling.models import ChangeDimension, Item, Output, Project, UsageEvent
from labeling.rules.explore import NUMBER_MAX_SQL, has_working_link, tags_of, value_fits
from labeling.rules.gold import gold_answer, output_verdict
from labeling.selectors.rubrics import verdict_question

METADATA_KEY_MIN_SHARE = 0.05  # a key on fewer outputs describes a corner, not the stream
MAX_METADATA_KEYS = 20
MAX_VALUES_PER_KEY = 30  # an id-like key (an order number) has no value worth a slice: its top values stay tiny
MAX_SLICES = 50  # models, tags, event names


@dataclass(frozen=True)
class WeekWindow:
    """The weeks compared: `starts[0]` begins the cycle week, `starts[i]` the baseline week i weeks before."""

    starts: list[datetime]
    end: datetime  # the cycle week's end, or `now` while it runs
    elapsed: timedelta | None  # how far the running week has got (None once it is over)

    def slot(self, field: str = "occurred_at") -> Case:
        """The slot of a row's `occurred_at` (or of another moment `field`; rows are filtered to the window first)."""
        whens = [When(**{f"{field}__gte": start}, then=slot) for slot, start in enumerate(self.starts)]
        return Case(*whens, output_field=IntegerField())

    def rows(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(occurred_at__gte=self.starts[-1], occurred_at__lt=self.end).annotate(slot=self.slot())

    def elapsed_in_baseline(self) -> Q:
        """Rows within the running week's elapsed share of each baseline week."""
        condition = Q()
        for start in self.starts[1:]:
            condition |= Q(occurred_at__gte=start, occurred_at__lt=start + self.elapsed)
        return condition


# Outputs ------------------------------------------------------------------------------------------------------


def week_counts(project: Project, window: WeekWindow) -> tests.WeekCounts:
    """The week's and its baseline's counts over all outputs and events, aggregated in SQL, within the caps."""
    outputs = window.rows(Output.objects.filter(project=project))
    counts = tests.WeekCounts()
    models: dict[str, Tally] = defaultdict(Tally)
    for row in outputs.values("slot", "model").annotate(
        n=Count("pk"),
        rated=Count("feedback_score"),
        down=Count("pk", filter=Q(feedback_score=-1)),
        commented=Count("pk", filter=~Q(feedback_comment="")),
    ):
        figures = (row["slot"], row["n"], row["rated"], row["down"], row["commented"])
        counts.outputs.add(*figures)
        models[row["model"]].add(*figures)
    if tests.baseline_of(counts.outputs.outputs):
        counts.output_volume_baseline = volume_baseline(window, Output.objects.filter(project=project), counts.outputs)
        counts.lengths = _output_lengths(outputs)
        categorical, numeric = _metadata_tallies(outputs, counts.outputs.total())
        counts.slices = [
            *((ChangeDimension.MODEL, "", value, tally) for value, tally in top_slices(models)),
            *((ChangeDimension.TAG, "", value, tally) for value, tally in top_slices(_tag_tallies(outputs))),
            *((ChangeDimension.METADATA, key, value, tally) for (key, value), tally in sorted(categorical.items())),
        ]
        counts.numbers = _numeric_values(outputs, numeric)
        counts.verdicts = _verdicts(project, window)
    events = window.rows(UsageEvent.objects.filter(project=project))
    names: dict[str, Tally] = defaultdict(Tally)
    for row in events.values("slot", "name").annotate(n=Count("pk")):
        counts.events[row["slot"]] = counts.events.get(row["slot"], 0) + row["n"]
        names[row["name"]].add(row["slot"], row["n"])
    if tests.baseline_of(counts.events):
        everything = Tally(outputs=counts.events)
        counts.event_volume_baseline = volume_baseline(window, UsageEvent.objects.filter(project=project), everything)
        counts.event_names = top_slices(names)
    return counts


def top_slices(tallies: dict[str, Tally]) -> list[tuple[str, Tally]]:
    """The MAX_SLICES most frequent models, tags or event names (ties by name) of those whose link is a filter explore
    takes (`value_fits`, as `has_working_link` measures every value matched as stored): one it would refuse is no
    slice, nor takes a place."""
    fitting = [(value, tally) for value, tally in tallies.items() if value_fits(value)]
    return sorted(fitting, key=lambda pair: (-pair[1].total(), pair[0]))[:MAX_SLICES]


def volume_baseline(window: WeekWindow, rows: QuerySet, tally: Tally) -> int:
    """The baseline count to compare the week's volume with: all of it, or while the week runs, the rows within its
    elapsed share of each baseline week."""
    if window.elapsed is None:
        return tests.baseline_of(tally.outputs)
    return rows.filter(window.elapsed_in_baseline()).count()


def _output_lengths(outputs: QuerySet) -> tuple[tests.ValueCounts, tests.ValueCounts]:
    current, baseline = [], []
    rows = outputs.filter(output_chars__isnull=False).values("slot", "output_chars").annotate(n=Count("pk"))
    for row in rows.order_by("slot", "output_chars"):
        (current if row["slot"] == 0 else baseline).append((row["output_chars"], row["n"]))
    return current, baseline


def _subquery(outputs: QuerySet, *fields: str) -> tuple[str, tuple]:
    sql, params = outputs.values("id", "slot", *fields).query.sql_with_params()
    return sql, tuple(params)


def fetch_rows(sql: str, params: Iterable) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


COUNTS_PG = "COUNT(*), COUNT(o.feedback_score), COUNT(CASE WHEN o.feedback_score = -1 THEN 1 END)"
# SQLite (the demo) has no LATERAL DISTINCT: an output listing a tag twice is counted once by its id.
COUNTS_SQLITE = (
    "COUNT(DISTINCT o.id), COUNT(DISTINCT CASE WHEN o.feedback_score IS NOT NULL THEN o.id END), "
    "COUNT(DISTINCT CASE WHEN o.feedback_score = -1 THEN o.id END)"
)


def _tag_tallies(outputs: QuerySet) -> dict[str, Tally]:
    """Outputs, rated and thumbs-down per tag and slot (an output counts once per tag it has)."""
    sub, params = _subquery(outputs, "tags", "feedback_score")
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT o.slot, t.tag, {COUNTS_PG} FROM ({sub}) o "
            "CROSS JOIN LATERAL (SELECT DISTINCT e #>> '{}' AS tag "
            "FROM jsonb_array_elements(CASE WHEN jsonb_typeof(o.tags) = 'array' THEN o.tags ELSE '[]'::jsonb END) e "
            "WHERE jsonb_typeof(e) = 'string') t GROUP BY o.slot, t.tag"
        )
    else:
        sql = (
            f"SELECT o.slot, t.value, {COUNTS_SQLITE} FROM ({sub}) o, json_each(CASE WHEN json_type(o.tags) = 'array' "
            "THEN o.tags ELSE '[]' END) t WHERE t.type = 'text' GROUP BY o.slot, t.value"
        )
    tallies: dict[str, Tally] = defaultdict(Tally)
    for slot, tag, n, rated, down in fetch_rows(sql, params):
        tallies[tag].add(slot, n, rated, down)
    return tallies


# Per metadata entry: its kind ('text' for strings and booleans, as the explore filter compares them; 'number') and
# its value as text (NULL for numbers, whose values go to the medians instead).
_OBJECT_PG = "CASE WHEN jsonb_typeof(o.metadata) = 'object' THEN o.metadata ELSE '{}'::jsonb END"
ENTRIES_PG = f"CROSS JOIN LATERAL jsonb_each({_OBJECT_PG}) e"
KIND_PG = "CASE jsonb_typeof(e.value) WHEN 'number' THEN 'number' ELSE 'text' END"
TEXT_PG = "CASE WHEN jsonb_typeof(e.value) = 'number' THEN NULL ELSE e.value #>> '{}' END"
TYPED_PG = "jsonb_typeof(e.value) IN ('string', 'boolean', 'number')"
# A number that is a double (`rules.explore.is_double`): only such a one is cast to float8.
DOUBLE_PG = f"jsonb_typeof(e.value) = 'number' AND abs((e.value #>> '{{}}')::numeric) <= {NUMBER_MAX_SQL}"
ENTRIES_SQLITE = ", json_each(CASE WHEN json_type(o.metadata) = 'object' THEN o.metadata ELSE '{}' END) e"
KIND_SQLITE = "CASE WHEN e.type IN ('integer', 'real') THEN 'number' ELSE 'text' END"
TEXT_SQLITE = "CASE e.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'text' THEN CAST(e.value AS TEXT) END"
TYPED_SQLITE = "e.type IN ('text', 'true', 'false', 'integer', 'real')"


def _metadata_tallies(outputs: QuerySet, total: int) -> tuple[dict[tuple[str, str], Tally], list[str]]:
    """The categorical slices (key, text value) with their tallies, and the numeric keys, within the caps.

    One query: counts per slot, key, kind and text value, kept for each key's MAX_VALUES_PER_KEY most frequent
    values over the window (and for its numbers, one row per slot), with the key's count of entries of that kind.
    """
    sub, params = _subquery(outputs, "metadata", "feedback_score")
    postgres = connection.vendor == "postgresql"
    entries, kind, text, typed = (
        (ENTRIES_PG, KIND_PG, TEXT_PG, TYPED_PG)
        if postgres
        else (ENTRIES_SQLITE, KIND_SQLITE, TEXT_SQLITE, TYPED_SQLITE)
    )
    sql = f"""
        WITH per_slot AS (
            SELECT o.slot AS slot, e.key AS key, {kind} AS kind, {text} AS value, COUNT(*) AS n,
                   COUNT(o.feedback_score) AS rated, COUNT(CASE WHEN o.feedback_score = -1 THEN 1 END) AS down
            FROM ({sub}) o {entries} WHERE {typed} GROUP BY 1, 2, 3, 4
        ), per_value AS (
            SELECT key, kind, value, SUM(n) AS total FROM per_slot GROUP BY key, kind, value
        ), ranked AS (
            SELECT key, kind, value, SUM(total) OVER (PARTITION BY key, kind) AS key_total,
                   ROW_NUMBER() OVER (PARTITION BY key, kind ORDER BY total DESC, value) AS position
            FROM per_value
        )
        SELECT p.slot, p.key, p.kind, p.value, p.n, p.rated, p.down, r.key_total
        FROM per_slot p JOIN ranked r
          ON r.key = p.key AND r.kind = p.kind AND (r.value = p.value OR (r.value IS NULL AND p.value IS NULL))
        WHERE r.position <= %s
    """
    return chosen_metadata(fetch_rows(sql, (*params, MAX_VALUES_PER_KEY)), total)


def chosen_metadata(rows: list[tuple], total: int) -> tuple[dict[tuple[str, str], Tally], list[str]]:
    """The categorical slices and numeric keys within the caps, from (slot, key, kind, value, n, rated, down,
    key_total) rows of each key's MAX_VALUES_PER_KEY most frequent values (`_metadata_tallies`' query, or the same
    rows pooled from stored week tallies)."""
    presence: dict[str, int] = defaultdict(int)
    kind_totals: dict[tuple[str, str], int] = {}
    for _, key, kind_name, _, _, _, _, key_total in rows:
        kind_totals[(key, kind_name)] = int(key_total)
    for (key, _), key_total in kind_totals.items():
        presence[key] += key_total
    least = METADATA_KEY_MIN_SHARE * total

    def has_slice_with_link(key: str) -> bool:
        # A key takes a place when a slice of it can have a working link: its median (`has_meta=key`) when its
        # numbers are compared, or a value of it (`meta=key:value`, at least the key and its colon). A pair's key
        # is quoted where `has_meta`'s is not (a colon in it): it can fit there and in no pair.
        numbers_compared = kind_totals.get((key, "number"), 0) >= least
        return has_working_link("meta", key, "") or numbers_compared and has_working_link("has_meta", "", key)

    keys = sorted(
        (key for key, count in presence.items() if count >= least and has_slice_with_link(key)),
        key=lambda key: (-presence[key], key),
    )[:MAX_METADATA_KEYS]
    chosen = set(keys)
    categorical: dict[tuple[str, str], Tally] = defaultdict(Tally)
    for slot, key, kind_name, value, n, rated, down, _ in rows:
        if key in chosen and kind_name == "text" and has_working_link("meta", key, value):
            if kind_totals[(key, "text")] >= least:
                categorical[(key, value)].add(slot, n, rated, down)
    numeric = sorted(key for key in keys if kind_totals.get((key, "number"), 0) >= least)
    return categorical, numeric


# A number rounded to SIGNIFICANT_DIGITS significant digits, in SQL (numeric `round` takes a negative scale).
SIGNIFICANT_PG = (
    "CASE WHEN x = 0 THEN 0::float8 "
    f"ELSE round(x::numeric, {tests.SIGNIFICANT_DIGITS} - 1 - floor(log(abs(x)))::int)::float8 END"
)


def _numeric_values(outputs: QuerySet, keys: list[str]) -> dict[str, tuple[list, list]]:
    """Per numeric key, its (value, count) pairs this week and in the baseline, values rounded to
    `SIGNIFICANT_DIGITS` significant digits (`metrics.changes.significant`): bounded rows, not one per output."""
    if not keys:
        return {}
    sub, params = _subquery(outputs, "metadata")
    placeholders = ", ".join(["%s"] * len(keys))
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT o.slot = 0, e.key, {SIGNIFICANT_PG}, COUNT(*) FROM ({sub}) o {ENTRIES_PG} "
            "CROSS JOIN LATERAL (SELECT (e.value #>> '{}')::float8 AS x) n "
            f"WHERE {DOUBLE_PG} AND e.key IN ({placeholders}) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
        rows = fetch_rows(sql, (*params, *keys))
    else:  # SQLite (the demo, small) has no log(): rounded here
        sql = (
            f"SELECT o.slot = 0, e.key, CAST(e.value AS REAL), COUNT(*) FROM ({sub}) o {ENTRIES_SQLITE} "
            f"WHERE e.type IN ('integer', 'real') AND e.key IN ({placeholders}) GROUP BY 1, 2, 3"
        )
        rounded: dict[tuple, int] = defaultdict(int)
        for is_current, key, value, n in fetch_rows(sql, (*params, *keys)):
            rounded[(bool(is_current), key, tests.significant(value))] += n
        rows = [(*group, n) for group, n in sorted(rounded.items())]
    values: dict[str, tuple[list, list]] = {key: ([], []) for key in keys}
    for is_current, key, value, n in rows:
        values[key][0 if is_current else 1].append((value, n))
    return values


# Labeled pass rates ---------------------------------------------------------------------------------------------


def _verdicts(project: Project, window: WeekWindow) -> dict[tuple[str, str, str], Tally]:
    """Gold verdicts on the verdict question and their passes, overall and per slice the output belongs to.

    Each output counts once, in the week its `occurred_at` falls in (an old output picked into this week's queue
    counts in its own week), with the verdict of all its items (`rules.gold.output_verdict`: a fail in any queue
    fails it). Labeled items are few (a sample), so they are read row by row.
    """
    question = verdict_question(project)
    if question is None:
        return {}
    # The items by their output alone (they are its project's): with the item's project too, statistics that lagged a
    # bulk import (the project believed to have one item) made PostgreSQL read all the project's outputs again for
    # each of its items (900 outputs: 0.8-1.2 million rows handled, against 5,400-9,000).
    rows = (
        Item.objects.filter(
            resolution__isnull=False,
            output__project=project,
            output__occurred_at__gte=window.starts[-1],
            output__occurred_at__lt=window.end,
        )
        .annotate(
            slot=window.slot("output__occurred_at"),
            # Only the verdict question's entries: decoding every answer of every resolution was most of the step.
            automatic_entry=KeyTransform(question["key"], "resolution__automatic"),
            adjudicated_entry=KeyTransform(question["key"], "resolution__adjudicated"),
        )
        .values_list(
            "output_id",
            "slot",
            "output__model",
            "output__tags",
            "output__metadata",
            "automatic_entry",
            "adjudicated_entry",
        )  # fmt: skip
        .order_by("output_id", "pk")
    )
    return verdict_tallies(rows)


def verdict_tallies(rows: Iterable[tuple]) -> dict[tuple[str, str, str], Tally]:
    """The verdicts per slice from (output id, slot, model, tags, metadata, automatic entry, adjudicated entry) rows
    of resolved items, in output then item order (`_verdicts`' query, or one week's from `change_tallies`)."""
    outputs: dict[int, tuple[int, str, object, object]] = {}
    golds: dict[int, list] = defaultdict(list)
    for output_id, slot, model, tags, metadata, automatic_entry, adjudicated_entry in rows:
        outputs[output_id] = (slot, model, tags, metadata)
        golds[output_id].append(gold_answer(automatic_entry, adjudicated_entry))
    verdicts: dict[tuple[str, str, str], Tally] = defaultdict(Tally)
    for output_id, (slot, model, tags, metadata) in outputs.items():
        verdict = output_verdict(golds[output_id])
        if verdict is None:
            continue
        found = [(ChangeDimension.OVERALL, "", ""), (ChangeDimension.MODEL, "", model)]
        found += [(ChangeDimension.TAG, "", tag) for tag in tags_of(tags)]
        for key, value in metadata.items() if isinstance(metadata, dict) else ():
            if isinstance(value, bool | str):
                found.append((ChangeDimension.METADATA, key, str(value).lower() if isinstance(value, bool) else value))
        for labels in found:
            verdicts[labels].add(slot, 1, passes=int(verdict))
    return verdicts
