"""A week's counts for "what changed", kept per complete week so that a comparison aggregates only its own week.

`services.changes` compares a cycle week with the CHANGES_BASELINE_WEEKS weeks before it, pooled. Those weeks are
over: counting their rows again at every close and hourly refresh made the step cost five weeks of rows, whatever
the week brought. Here each complete week is counted once (`ChangeWeekTally`) and reused:

- **What is kept**: per week, every value's counts, uncapped — models, tags and categorical metadata values with
  their outputs / rated / thumbs-down (/ commented) counts, each metadata key's entries by kind, numeric metadata
  values rounded as the medians read them, output lengths, event names. The caps (MAX_METADATA_KEYS,
  MAX_VALUES_PER_KEY, MAX_SLICES) are chosen over the pooled weeks, so a week's own top values could not make them
  exact; they are chosen here from the pooled counts with the same rule as the SQL (`_ranked_metadata`). A week with
  more than MAX_KEPT_VALUES values of one dimension or key (an id-like key: one value per output) is stored
  `too_varied`, and a comparison that needs it is counted live, as before.
- **The guard**: each stored week keeps the count and hash sum of its outputs (over the columns the tallies read)
  and of its events, read in the same statement as the tallies (one snapshot). Before reuse one statement reads the
  baseline weeks' pairs again; a week whose pair moved (late rows, late feedback, indexing, redaction, an erasure,
  the purge) is counted again and says why. A week is the instants it spans, so another time zone or cycle weekday
  finds nothing stored and counts afresh; another CHANGES_BASELINE_WEEKS reads more or fewer stored weeks.
- **Read live every time**: the cycle week itself; while it runs, the volume baseline (the rows within its
  elapsed share of each baseline week: two index counts, cheaper than keeping hourly counts); and the labeled
  pass rates, whose gold answers change at any time (adjudication, late labels) and are a sample, not the stream.

PostgreSQL only: SQLite (the demo) keeps the plain path of `services.changes`.
"""

from collections import defaultdict
from datetime import datetime

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from labeling.metrics import changes as tests
from labeling.metrics.changes import Tally
from labeling.models import ChangeDimension, ChangeWeekTally, Output, Project, UsageEvent
from labeling.services.changes import (
    _COUNTS_PG,
    _ENTRIES_PG,
    _KIND_PG,
    _SIGNIFICANT_PG,
    _TEXT_PG,
    _TYPED_PG,
    MAX_VALUES_PER_KEY,
    _fetch,
    _top,
    _verdicts,
    _volume_baseline,
    _Window,
    chosen_metadata,
)

# A week with more distinct values than this in one dimension or metadata key is not kept (its tallies would be
# about as large as its rows): an id-like key brings one value per output. 66 times MAX_VALUES_PER_KEY.
MAX_KEPT_VALUES = 2000
# Nor one with more entries in all (many numeric keys, each up to 900 rounded values a decade): ~2 MB of JSON.
MAX_KEPT_ENTRIES = 50_000

# The guard's hash of a row: every column the tallies read (a composite's text quotes each field, so two rows
# never read alike by accident), with the id, so that a row deleted and another added do not cancel out.
_OUTPUT_HASH = (
    "hashtextextended(ROW(model, tags, metadata, feedback_score, feedback_comment <> '', output_chars)::text, id)"
)
_EVENT_HASH = "hashtextextended(name, id)"
_WEEK = "project_id = %(project)s AND occurred_at >= %(start)s AND occurred_at < %(end)s"

# One statement, so one snapshot: the tallies and the guard of one week. Columns: part, name, kind, text value,
# number, n, rated, down, commented, hash.
_WEEK_SQL = f"""
WITH o AS MATERIALIZED (
    SELECT id, model, tags, metadata, feedback_score, feedback_comment, output_chars, {_OUTPUT_HASH} AS hash
      FROM {Output._meta.db_table} WHERE {_WEEK}
), ev AS MATERIALIZED (
    SELECT name, {_EVENT_HASH} AS hash FROM {UsageEvent._meta.db_table} WHERE {_WEEK}
)
SELECT 'rows', NULL, NULL, NULL, NULL::float8, count(*), 0, 0, 0, coalesce(sum(o.hash), 0) FROM o
UNION ALL
SELECT 'event_rows', NULL, NULL, NULL, NULL, count(*), 0, 0, 0, coalesce(sum(ev.hash), 0) FROM ev
UNION ALL
SELECT 'model', o.model, NULL, NULL, NULL, count(*), count(o.feedback_score),
       count(CASE WHEN o.feedback_score = -1 THEN 1 END), count(CASE WHEN o.feedback_comment <> '' THEN 1 END), NULL
  FROM o GROUP BY o.model
UNION ALL
SELECT 'tag', t.tag, NULL, NULL, NULL, {_COUNTS_PG}, 0, NULL FROM o
 CROSS JOIN LATERAL (SELECT DISTINCT e #>> '{{}}' AS tag
  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(o.tags) = 'array' THEN o.tags ELSE '[]'::jsonb END) e
 WHERE jsonb_typeof(e) = 'string') t GROUP BY t.tag
UNION ALL
SELECT 'metadata', e.key, {_KIND_PG}, {_TEXT_PG}, NULL, COUNT(*), COUNT(o.feedback_score),
       COUNT(CASE WHEN o.feedback_score = -1 THEN 1 END), 0, NULL
  FROM o {_ENTRIES_PG} WHERE {_TYPED_PG} GROUP BY 2, 3, 4
UNION ALL
SELECT 'number', e.key, NULL, NULL, {_SIGNIFICANT_PG}, COUNT(*), 0, 0, 0, NULL
  FROM o {_ENTRIES_PG} CROSS JOIN LATERAL (SELECT (e.value #>> '{{}}')::float8 AS x) n
 WHERE jsonb_typeof(e.value) = 'number' GROUP BY 2, 5
UNION ALL
SELECT 'length', NULL, NULL, NULL, o.output_chars, count(*), 0, 0, 0, NULL
  FROM o WHERE o.output_chars IS NOT NULL GROUP BY o.output_chars
UNION ALL
SELECT 'event', ev.name, NULL, NULL, NULL, count(*), 0, 0, 0, NULL FROM ev GROUP BY ev.name
"""

# The guard of several weeks at once: count and hash sum per week (`slot`, as `_Window.slot` numbers them).
_GUARD_SQL = """
SELECT 'outputs', slot, count(*), coalesce(sum(hash), 0) FROM ({outputs}) AS o GROUP BY slot
UNION ALL
SELECT 'events', slot, count(*), coalesce(sum(hash), 0) FROM ({events}) AS e GROUP BY slot
"""


def cached_week_counts(*, project: Project, window: _Window) -> tests.WeekCounts | None:
    """The week's and its baseline's counts (what `changes.week_counts` returns), the baseline weeks read from their
    stored tallies (counted and stored first when missing or stale), the cycle week aggregated; None when a week is
    too varied to keep (the caller counts live)."""
    starts = window.starts
    if len(set(starts)) != len(starts):
        return None  # weeks clamped at the calendar's edge: no week to key by
    weeks = {slot: (starts[slot], starts[slot - 1]) for slot in range(1, len(starts))}
    kept = ChangeWeekTally.objects.filter(project=project, starts_at__in=[start for start, _ in weeks.values()])
    stored = {tally.starts_at: tally for tally in kept}
    guards = _guards(project, window) if stored else {}
    tallies: dict[int, dict] = {}
    for slot, (start, end) in weeks.items():
        tally = stored.get(start)
        why = _why_count(tally, end, guards.get(slot, ((0, 0), (0, 0))))
        if why is None:
            if tally.too_varied:
                return None
            tallies[slot] = tally.tallies
        else:
            counted = _count_and_keep(project, start, end, why=why)
            if counted is None:
                return None
            tallies[slot] = counted
    complete = window.elapsed is None
    if complete:  # the closed week is next week's first baseline week: kept now, while its rows are read anyway
        tallies[0] = _count_and_keep(project, starts[0], window.end, why="closed")
    else:
        tallies[0] = _tallies_of(_week_rows(project, starts[0], window.end))[0]
    if tallies[0] is None:
        return None
    _forget_other_weeks(project, starts)
    return _pooled(project, window, tallies)


def _why_count(tally: ChangeWeekTally | None, end: datetime, guard: tuple) -> str | None:
    """Why a baseline week must be counted (None: its stored tallies hold)."""
    if tally is None:
        return "not counted yet"
    if tally.ends_at != end:
        return "the calendar changed"
    if ((tally.output_rows, int(tally.output_hash)), (tally.event_rows, int(tally.event_hash))) != guard:
        return "its rows changed"
    return None


def _guards(project: Project, window: _Window) -> dict[int, tuple[tuple[int, int], tuple[int, int]]]:
    """Per baseline week, the (count, hash sum) of its outputs and of its events, as they are now."""
    baseline = _Window(starts=window.starts[1:], end=window.starts[0], elapsed=None)
    outputs = baseline.rows(Output.objects.filter(project=project)).annotate(hash=RawSQL(_OUTPUT_HASH, ()))
    events = baseline.rows(UsageEvent.objects.filter(project=project)).annotate(hash=RawSQL(_EVENT_HASH, ()))
    parts = []
    params = []
    for queryset in (outputs, events):
        sql, part_params = queryset.values("slot", "hash").query.sql_with_params()
        parts.append(sql)
        params += part_params
    found: dict[str, dict[int, tuple[int, int]]] = {"outputs": {}, "events": {}}
    for stream, slot, count, hashes in _fetch(_GUARD_SQL.format(outputs=parts[0], events=parts[1]), params):
        found[stream][slot + 1] = (count, int(hashes))  # slots of the baseline window start at its first week
    slots = found["outputs"].keys() | found["events"].keys()
    return {slot: (found["outputs"].get(slot, (0, 0)), found["events"].get(slot, (0, 0))) for slot in slots}


def _week_rows(project: Project, start: datetime, end: datetime) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_WEEK_SQL, {"project": project.pk, "start": start, "end": end})
        return cursor.fetchall()


def _count_and_keep(project: Project, start: datetime, end: datetime, *, why: str) -> dict | None:
    """Count a complete week, store its tallies (or that it is too varied) with its guard; None when too varied."""
    tallies, guard = _tallies_of(_week_rows(project, start, end))
    (output_rows, output_hash), (event_rows, event_hash) = guard
    fields = {
        "ends_at": end, "output_rows": output_rows, "output_hash": output_hash, "event_rows": event_rows,
        "event_hash": event_hash, "too_varied": tallies is None, "tallies": tallies or {},
        "counted_at": timezone.now(), "counted_because": why,
    }  # fmt: skip
    # An upsert: a close and an hourly refresh of the next week may count the same week at once.
    ChangeWeekTally.objects.bulk_create(
        [ChangeWeekTally(project=project, starts_at=start, **fields)],
        update_conflicts=True,
        unique_fields=["project", "starts_at"],
        update_fields=list(fields),
    )
    return tallies


def _tallies_of(rows: list[tuple]) -> tuple[dict | None, tuple[tuple[int, int], tuple[int, int]]]:
    """The week's tallies from `_WEEK_SQL`'s rows (None when too varied to keep), and its guard."""
    tallies: dict[str, list] = {"models": [], "tags": [], "metadata": [], "numbers": [], "lengths": [], "events": []}
    guard = {}
    per_key: dict[tuple, int] = defaultdict(int)
    for part, name, kind, value, number, n, rated, down, commented, hashes in rows:
        if part in ("rows", "event_rows"):
            guard[part] = (n, int(hashes))
        elif part == "model":
            tallies["models"].append([name, n, rated, down, commented])
        elif part == "tag":
            tallies["tags"].append([name, n, rated, down])
        elif part == "metadata":
            tallies["metadata"].append([name, kind, value, n, rated, down])
        elif part == "number":
            tallies["numbers"].append([name, number, n])
        elif part == "length":
            tallies["lengths"].append([int(number), n])
        else:
            tallies["events"].append([name, n])
        if part in ("model", "tag", "event"):
            per_key[(part,)] += 1
        elif part == "metadata":
            per_key[(part, name, kind)] += 1
    entries = sum(len(values) for values in tallies.values())
    too_varied = entries > MAX_KEPT_ENTRIES or any(count > MAX_KEPT_VALUES for count in per_key.values())
    return (None if too_varied else tallies), (guard["rows"], guard["event_rows"])


def _forget_other_weeks(project: Project, starts: list[datetime]) -> None:
    """Drop stored weeks no comparison from this one on reads: older ones, and those of another calendar."""
    ChangeWeekTally.objects.filter(project=project).filter(
        Q(starts_at__lt=starts[-1]) | (Q(starts_at__lt=starts[0], starts_at__gt=starts[-1]) & ~Q(starts_at__in=starts))
    ).delete()


# Pooling ----------------------------------------------------------------------------------------------------------


def _pooled(project: Project, window: _Window, tallies: dict[int, dict]) -> tests.WeekCounts:
    """`changes.week_counts`' result from per-week tallies (slot 0 the cycle week): the same caps, chosen over the
    pooled weeks."""
    slots = sorted(tallies)
    counts = tests.WeekCounts()
    models: dict[str, Tally] = defaultdict(Tally)
    for slot in slots:
        for model, n, rated, down, commented in tallies[slot]["models"]:
            counts.outputs.add(slot, n, rated, down, commented)
            models[model].add(slot, n, rated, down, commented)
    if tests.baseline_of(counts.outputs.outputs):
        counts.output_volume_baseline = _volume_baseline(window, Output.objects.filter(project=project), counts.outputs)
        # As `changes._output_lengths`: this week's (length, n) by length, then each baseline week's in turn.
        lengths = [sorted(map(tuple, tallies[slot]["lengths"])) for slot in slots]
        counts.lengths = (lengths[0], [pair for week in lengths[1:] for pair in week])
        tags: dict[str, Tally] = defaultdict(Tally)
        for slot in slots:
            for tag, n, rated, down in tallies[slot]["tags"]:
                tags[tag].add(slot, n, rated, down)
        categorical, numeric = chosen_metadata(_ranked_metadata(tallies), counts.outputs.total())
        counts.slices = [
            *((ChangeDimension.MODEL, "", value, tally) for value, tally in _top(models)),
            *((ChangeDimension.TAG, "", value, tally) for value, tally in _top(tags)),
            *((ChangeDimension.METADATA, key, value, tally) for (key, value), tally in sorted(categorical.items())),
        ]
        counts.numbers = _pooled_numbers(tallies, numeric)
        counts.verdicts = _verdicts(project, window)
    names: dict[str, Tally] = defaultdict(Tally)
    for slot in slots:
        for name, n in tallies[slot]["events"]:
            counts.events[slot] = counts.events.get(slot, 0) + n
            names[name].add(slot, n)
    if tests.baseline_of(counts.events):
        everything = Tally(outputs=counts.events)
        counts.event_volume_baseline = _volume_baseline(window, UsageEvent.objects.filter(project=project), everything)
        counts.event_names = _top(names)
    return counts


def _ranked_metadata(tallies: dict[int, dict]) -> list[tuple]:
    """The rows `changes._metadata_tallies`' query returns, from the weeks' tallies: per slot, key, kind and value,
    for each key's MAX_VALUES_PER_KEY most frequent values over all the weeks (ties by value, in the database's
    collation, as its ROW_NUMBER orders them), with the key's count of entries of that kind."""
    totals: dict[tuple, int] = defaultdict(int)
    for slot_tallies in tallies.values():
        for key, kind, value, n, _, _ in slot_tallies["metadata"]:
            totals[(key, kind, value)] += n
    by_key: dict[tuple[str, str], list[tuple[str | None, int]]] = defaultdict(list)
    for (key, kind, value), total in totals.items():
        by_key[(key, kind)].append((value, total))
    kept: set[tuple] = set()
    key_totals: dict[tuple[str, str], int] = {}
    for (key, kind), values in by_key.items():
        key_totals[(key, kind)] = sum(total for _, total in values)
        kept.update((key, kind, value) for value in _most_frequent(values))
    rows = []
    for slot in sorted(tallies):
        for key, kind, value, n, rated, down in tallies[slot]["metadata"]:
            if (key, kind, value) in kept:
                rows.append((slot, key, kind, value, n, rated, down, key_totals[(key, kind)]))
    return rows


def _most_frequent(values: list[tuple[str | None, int]]) -> list[str | None]:
    """The MAX_VALUES_PER_KEY values with the largest totals; among equal totals at the cut, the first in the
    database's order (as `ORDER BY total DESC, value`)."""
    if len(values) <= MAX_VALUES_PER_KEY:
        return [value for value, _ in values]
    ordered = sorted(values, key=lambda pair: -pair[1])
    cut = ordered[MAX_VALUES_PER_KEY - 1][1]  # the total at the last place kept
    above = [value for value, total in ordered if total > cut]
    tied = [value for value, total in ordered if total == cut]
    return above + _collated(tied)[: MAX_VALUES_PER_KEY - len(above)]


def _collated(values: list[str]) -> list[str]:
    """`values` in the database's text order (its collation need not be Python's code point order)."""
    if len(values) < 2:
        return values
    return [value for (value,) in _fetch("SELECT v FROM unnest(%s::text[]) AS v ORDER BY v", [values])]


def _pooled_numbers(tallies: dict[int, dict], keys: list[str]) -> dict[str, tuple[list, list]]:
    """As `changes._numeric_values`: per chosen key, this week's (rounded value, n) and the baseline weeks' pooled."""
    if not keys:
        return {}
    chosen = set(keys)
    sides: dict[str, tuple[dict, dict]] = {key: (defaultdict(int), defaultdict(int)) for key in keys}
    for slot, slot_tallies in tallies.items():
        for key, value, n in slot_tallies["numbers"]:
            if key in chosen:
                sides[key][0 if slot == 0 else 1][value] += n
    return {key: (sorted(current.items()), sorted(baseline.items())) for key, (current, baseline) in sides.items()}
