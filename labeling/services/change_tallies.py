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
  baseline weeks' pairs again; a week whose pair moved (late rows, late feedback, indexing, redaction) is counted
  again and says why. An erasure or the purge drops the kept weeks it touches at once (`forget_weeks`): their
  counts name the rows' values, which must go with the rows. A week is the instants it spans, so another time
  zone or cycle weekday finds nothing stored and counts afresh; another CHANGES_BASELINE_WEEKS reads more or fewer
  stored weeks.
- **The labeled pass rates** are kept too, with a guard of their own over the week's resolved items (their verdict
  entries and their outputs' slices): gold answers change long after a week (a lead adjudicates, late labels), and
  then only that part of the week is counted again. Another verdict question counts it again too.
- **Read live every time**: the cycle week itself; and while it runs, the volume baseline (the rows within its
  elapsed share of each baseline week: two counts over the `(project, occurred_at)` indexes, cheaper than keeping
  hourly counts, and exact at any moment).

PostgreSQL only: SQLite (the demo) keeps the plain path (`services.change_counts`).
"""

import json
from collections import defaultdict
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from labeling.metrics import changes as tests
from labeling.metrics.changes import Tally
from labeling.models import ChangeDimension, ChangeWeekTally, Item, Output, Project, Resolution, UsageEvent
from labeling.rules.calendar import cycle_week, week_start
from labeling.selectors.rubrics import verdict_question
from labeling.services.change_counts import (
    COUNTS_PG,
    DOUBLE_PG,
    ENTRIES_PG,
    KIND_PG,
    MAX_VALUES_PER_KEY,
    SIGNIFICANT_PG,
    TEXT_PG,
    TYPED_PG,
    WeekWindow,
    chosen_metadata,
    fetch_rows,
    top_slices,
    verdict_tallies,
    volume_baseline,
)

# A week with more distinct values than this in one dimension or metadata key is not kept (its tallies would be
# about as large as its rows): an id-like key brings one value per output. 66 times MAX_VALUES_PER_KEY.
MAX_KEPT_VALUES = 2000
# Nor one with more entries in all (many numeric keys, each up to 900 rounded values a decade): ~2 MB of JSON.
MAX_KEPT_ENTRIES = 50_000

# The guard's hash of a row: every column the tallies read, and the id, so that a row deleted and another added do
# not cancel out. The jsonb columns are hashed as they are stored (turning them into text cost a third more).
_OUTPUT_HASH = (
    "jsonb_hash_extended(metadata, jsonb_hash_extended(tags, "
    "hashtextextended(ROW(model, feedback_score, feedback_comment <> '', output_chars)::text, id)))"
)
_EVENT_HASH = "hashtextextended(name, id)"
_WEEK = "project_id = %(project)s AND occurred_at >= %(start)s AND occurred_at < %(end)s"

# The labeled pass rates' rows: the week's resolved items (by their output's moment), with the verdict question's
# entries and the output's slices, as `change_counts._verdicts` reads them; hashed with the item's id. The items are
# found by their output alone (they are its project's), as in `change_counts._verdicts`.
_VERDICT_FROM = f"""
  FROM {Output._meta.db_table} o
  JOIN {Item._meta.db_table} i ON i.output_id = o.id
  JOIN {Resolution._meta.db_table} r ON r.item_id = i.id
 WHERE o.project_id = %(project)s AND o.occurred_at >= %(start)s AND o.occurred_at < %(end)s
"""
_VERDICT_HASH = (
    "jsonb_hash_extended(o.metadata, jsonb_hash_extended(o.tags, "
    "hashtextextended(ROW(o.model, r.automatic -> %(key)s, r.adjudicated -> %(key)s)::text, i.id)))"
)
_VERDICT_ROWS_SQL = f"""
SELECT i.output_id, o.model, o.tags, o.metadata, r.automatic -> %(key)s, r.adjudicated -> %(key)s, {_VERDICT_HASH}
{_VERDICT_FROM}
 ORDER BY i.output_id, i.id
"""

# One statement, so one snapshot: the tallies and the guard of one week. Columns: part, name, kind, text value,
# number, n, rated, down, commented, hash.
_WEEK_SQL = f"""
WITH o AS MATERIALIZED (
    SELECT id, model, tags, metadata, feedback_score, feedback_comment, output_chars, {_OUTPUT_HASH} AS hash
      FROM {Output._meta.db_table} WHERE {_WEEK}
), ev AS MATERIALIZED (
    SELECT name, {_EVENT_HASH} AS hash FROM {UsageEvent._meta.db_table} WHERE {_WEEK}
)
SELECT 'outputs', NULL, NULL, NULL, NULL::float8, count(*), 0, 0, 0, coalesce(sum(o.hash), 0) FROM o
UNION ALL
SELECT 'events', NULL, NULL, NULL, NULL, count(*), 0, 0, 0, coalesce(sum(ev.hash), 0) FROM ev
UNION ALL
SELECT 'model', o.model, NULL, NULL, NULL, count(*), count(o.feedback_score),
       count(CASE WHEN o.feedback_score = -1 THEN 1 END), count(CASE WHEN o.feedback_comment <> '' THEN 1 END), NULL
  FROM o GROUP BY o.model
UNION ALL
SELECT 'tag', t.tag, NULL, NULL, NULL, {COUNTS_PG}, 0, NULL FROM o
 CROSS JOIN LATERAL (SELECT DISTINCT e #>> '{{}}' AS tag
  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(o.tags) = 'array' THEN o.tags ELSE '[]'::jsonb END) e
 WHERE jsonb_typeof(e) = 'string') t GROUP BY t.tag
UNION ALL
SELECT 'metadata', e.key, {KIND_PG}, {TEXT_PG}, NULL, COUNT(*), COUNT(o.feedback_score),
       COUNT(CASE WHEN o.feedback_score = -1 THEN 1 END), 0, NULL
  FROM o {ENTRIES_PG} WHERE {TYPED_PG} GROUP BY 2, 3, 4
UNION ALL
SELECT 'number', e.key, NULL, NULL, {SIGNIFICANT_PG}, COUNT(*), 0, 0, 0, NULL
  FROM o {ENTRIES_PG} CROSS JOIN LATERAL (SELECT (e.value #>> '{{}}')::float8 AS x) n
 WHERE {DOUBLE_PG} GROUP BY 2, 5
UNION ALL
SELECT 'length', NULL, NULL, NULL, o.output_chars, count(*), 0, 0, 0, NULL
  FROM o WHERE o.output_chars IS NOT NULL GROUP BY o.output_chars
UNION ALL
SELECT 'event_name', ev.name, NULL, NULL, NULL, count(*), 0, 0, 0, NULL FROM ev GROUP BY ev.name
"""

# The guards of the baseline weeks, as they are now, in one statement: per stream and week (`slot`, numbered as
# `WeekWindow.slot` does), the count and hash sum.
_GUARD_SQL = f"""
SELECT 'outputs', {{slot}}, count(*), coalesce(sum({_OUTPUT_HASH}), 0)
  FROM {Output._meta.db_table} WHERE {_WEEK} GROUP BY 2
UNION ALL
SELECT 'events', {{slot}}, count(*), coalesce(sum({_EVENT_HASH}), 0)
  FROM {UsageEvent._meta.db_table} WHERE {_WEEK} GROUP BY 2
"""
_VERDICT_GUARD_SQL = f"""
UNION ALL
SELECT 'verdicts', {{slot_of_output}}, count(*), coalesce(sum({_VERDICT_HASH}), 0) {_VERDICT_FROM} GROUP BY 2
"""
_NO_GUARD = (0, 0)


def cached_week_counts(*, project: Project, window: WeekWindow) -> tests.WeekCounts | None:
    """The week's and its baseline's counts (what `change_counts.week_counts` returns): the baseline weeks read from
    their stored tallies (counted and stored first when missing or stale), the cycle week aggregated; None when a
    week is too varied to keep (the caller counts live)."""
    starts = window.starts
    if len(set(starts)) != len(starts):
        return None  # weeks clamped at the calendar's edge: no week to key by
    question = verdict_question(project)
    key = question["key"] if question else ""
    weeks = {slot: (starts[slot], starts[slot - 1]) for slot in range(1, len(starts))}
    kept = ChangeWeekTally.objects.filter(project=project, starts_at__in=[start for start, _ in weeks.values()])
    stored = {tally.starts_at: tally for tally in kept}
    guards = _guards(project, starts, key) if stored else {}
    tallies: dict[int, dict] = {}
    for slot, (start, end) in weeks.items():
        tally = stored.get(start)
        outputs, events, verdicts = (guards.get((stream, slot), _NO_GUARD) for stream in _STREAMS)
        why = _why_count(tally, end, outputs, events)
        if why is not None:
            tallies[slot] = _count_and_keep(project, start, end, key, why=why)
        elif tally.too_varied:
            return None
        elif (why := _why_count_verdicts(tally, key, verdicts)) is not None:
            tallies[slot] = _count_verdicts_again(project, tally, key, why=why)
        else:
            tallies[slot] = tally.tallies
        if tallies[slot] is None:
            return None
    if window.elapsed is None:  # the closed week is next week's first baseline week: kept now, while its rows are read
        tallies[0] = _count_and_keep(project, starts[0], window.end, key, why="closed")
    else:
        tallies[0] = _count(project, starts[0], window.end, key)[0]
    if tallies[0] is None:
        return None
    _forget_other_weeks(project, starts)
    return _pooled(project, window, tallies)


_STREAMS = ("outputs", "events", "verdicts")


def _why_count(tally: ChangeWeekTally | None, end: datetime, outputs: tuple, events: tuple) -> str | None:
    """Why a baseline week must be counted (None: its stored output and event tallies hold)."""
    if tally is None:
        return "not counted yet"
    if tally.ends_at != end:
        return "the calendar changed"
    if (tally.output_rows, int(tally.output_hash)) != outputs or (tally.event_rows, int(tally.event_hash)) != events:
        return "its rows changed"
    return None


def _why_count_verdicts(tally: ChangeWeekTally, key: str, verdicts: tuple) -> str | None:
    if tally.verdict_key != key:
        return "the verdict question changed"
    if (tally.verdict_rows, int(tally.verdict_hash)) != verdicts:
        return "its gold answers changed"
    return None


def _guards(project: Project, starts: list[datetime], key: str) -> dict[tuple[str, int], tuple[int, int]]:
    """Per stream (outputs, events, verdicts) and baseline week, the (count, hash sum) of its rows as they are now."""
    params = {"project": project.pk, "start": starts[-1], "end": starts[0], "key": key}
    params.update({f"start_{slot}": start for slot, start in enumerate(starts) if slot})

    def slot(column: str) -> str:
        whens = " ".join(f"WHEN {column} >= %(start_{slot})s THEN {slot}" for slot in range(1, len(starts)))
        return f"CASE {whens} END"

    sql = _GUARD_SQL.format(slot=slot("occurred_at"))
    if key:
        sql += _VERDICT_GUARD_SQL.format(slot_of_output=slot("o.occurred_at"))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {(stream, slot): (count, int(hashes)) for stream, slot, count, hashes in cursor.fetchall()}


def _count(project: Project, start: datetime, end: datetime, key: str) -> tuple[dict | None, dict]:
    """A week's tallies (None when too varied to keep) and its guards, aggregated from its rows."""
    with connection.cursor() as cursor:
        cursor.execute(_WEEK_SQL, {"project": project.pk, "start": start, "end": end})
        tallies, guards = _tallies_of(cursor.fetchall())
    if tallies is not None:
        tallies["verdicts"], guards["verdicts"] = _verdicts_of_week(project, start, end, key)
    return tallies, guards


def _verdicts_of_week(project: Project, start: datetime, end: datetime, key: str) -> tuple[list, tuple[int, int]]:
    """The week's verdicts per slice, as `change_counts._verdicts` counts them, and their guard."""
    if not key:
        return [], _NO_GUARD
    with connection.cursor() as cursor:
        cursor.execute(_VERDICT_ROWS_SQL, {"project": project.pk, "start": start, "end": end, "key": key})
        rows = cursor.fetchall()
    # jsonb comes back as text from a raw cursor (Django decodes it for the ORM's JSON fields).
    decoded = [
        (output_id, 0, model, *(None if value is None else json.loads(value) for value in jsons))
        for output_id, model, *jsons, _ in rows
    ]
    verdicts = [
        [*labels, tally.outputs[0], tally.passes[0]] for labels, tally in sorted(verdict_tallies(decoded).items())
    ]
    return verdicts, (len(rows), sum(row[-1] for row in rows))


def _count_and_keep(project: Project, start: datetime, end: datetime, key: str, *, why: str) -> dict | None:
    """Count a complete week, store its tallies (or that it is too varied) with its guards; None when too varied."""
    tallies, guards = _count(project, start, end, key)
    (output_rows, output_hash), (event_rows, event_hash) = guards["outputs"], guards["events"]
    verdict_rows, verdict_hash = guards.get("verdicts", _NO_GUARD)
    fields = {
        "ends_at": end, "output_rows": output_rows, "output_hash": output_hash, "event_rows": event_rows,
        "event_hash": event_hash, "verdict_key": key, "verdict_rows": verdict_rows, "verdict_hash": verdict_hash,
        "too_varied": tallies is None, "tallies": tallies or {}, "counted_at": timezone.now(), "counted_because": why,
    }  # fmt: skip
    # An upsert: a close and an hourly refresh of the next week may count the same week at once.
    ChangeWeekTally.objects.bulk_create(
        [ChangeWeekTally(project=project, starts_at=start, **fields)],
        update_conflicts=True,
        unique_fields=["project", "starts_at"],
        update_fields=list(fields),
    )
    return tallies


def _count_verdicts_again(project: Project, tally: ChangeWeekTally, key: str, *, why: str) -> dict:
    """A kept week whose rows hold but whose gold answers changed: only its verdicts are counted again."""
    verdicts, (rows, hashes) = _verdicts_of_week(project, tally.starts_at, tally.ends_at, key)
    tally.tallies = {**tally.tallies, "verdicts": verdicts}
    tally.verdict_key, tally.verdict_rows, tally.verdict_hash = key, rows, hashes
    tally.counted_at, tally.counted_because = timezone.now(), why
    fields = ["tallies", "verdict_key", "verdict_rows", "verdict_hash", "counted_at", "counted_because"]
    ChangeWeekTally.objects.filter(pk=tally.pk).update(**{field: getattr(tally, field) for field in fields})
    return tally.tallies


def _tallies_of(rows: list[tuple]) -> tuple[dict | None, dict]:
    """The week's tallies from `_WEEK_SQL`'s rows (None when too varied to keep), and its output and event guards."""
    tallies: dict[str, list] = {"models": [], "tags": [], "metadata": [], "numbers": [], "lengths": [], "events": []}
    guards = {}
    per_key: dict[tuple, int] = defaultdict(int)
    for part, name, kind, value, number, n, rated, down, commented, hashes in rows:
        if part in ("outputs", "events"):
            guards[part] = (n, int(hashes))
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
        if part in ("model", "tag", "event_name"):
            per_key[(part,)] += 1
        elif part == "metadata":
            per_key[(part, name, kind)] += 1
    entries = sum(len(values) for values in tallies.values())
    too_varied = entries > MAX_KEPT_ENTRIES or any(count > MAX_KEPT_VALUES for count in per_key.values())
    return (None if too_varied else tallies), guards


def forget_weeks(*, project: Project, since: datetime | None = None, until: datetime | None = None) -> None:
    """Drop the kept counts of the weeks that overlap [since, until) (open ends: every week) when rows in them are
    erased or purged: the counts name values of those rows (a metadata value, a tag), which must go with them. The
    next comparison that needs such a week counts it again from what is left."""
    weeks = ChangeWeekTally.objects.filter(project=project)
    if since is not None:
        weeks = weeks.filter(ends_at__gt=since)
    if until is not None:
        weeks = weeks.filter(starts_at__lt=until)
    weeks.delete()


def _forget_other_weeks(project: Project, starts: list[datetime]) -> None:
    """Drop stored weeks no comparison from this one on reads: those of another calendar, and older ones but the
    week before the window (the running week's first refreshes come before the last week's close, which reads it).

    Only after a window of the project's calendar: a closed week made again in the zone it closed in, after the
    project moved (`changes.recompute_closed_weeks_changes`), reads weeks of the older calendar; the current one's,
    which the running week's refreshes read, stay stored, and the next of those drops the older ones."""
    if starts[0] != week_start(project, starts[0].date()):
        return
    before = week_start(project, cycle_week(project, starts[-1] - timedelta(days=1)))
    ChangeWeekTally.objects.filter(project=project).filter(
        Q(starts_at__lt=before) | (Q(starts_at__lt=starts[0]) & ~Q(starts_at__in=[before, *starts]))
    ).delete()


# Pooling ----------------------------------------------------------------------------------------------------------


def _pooled(project: Project, window: WeekWindow, tallies: dict[int, dict]) -> tests.WeekCounts:
    """`change_counts.week_counts`' result from per-week tallies (slot 0 the cycle week): the same caps, chosen over the
    pooled weeks."""
    slots = sorted(tallies)
    counts = tests.WeekCounts()
    models: dict[str, Tally] = defaultdict(Tally)
    for slot in slots:
        for model, n, rated, down, commented in tallies[slot]["models"]:
            counts.outputs.add(slot, n, rated, down, commented)
            models[model].add(slot, n, rated, down, commented)
    if tests.baseline_of(counts.outputs.outputs):
        counts.output_volume_baseline = volume_baseline(window, Output.objects.filter(project=project), counts.outputs)
        # As `change_counts._output_lengths`: this week's (length, n) by length, then each baseline week's in turn.
        lengths = [sorted(map(tuple, tallies[slot]["lengths"])) for slot in slots]
        counts.lengths = (lengths[0], [pair for week in lengths[1:] for pair in week])
        tags: dict[str, Tally] = defaultdict(Tally)
        for slot in slots:
            for tag, n, rated, down in tallies[slot]["tags"]:
                tags[tag].add(slot, n, rated, down)
        categorical, numeric = chosen_metadata(_ranked_metadata(tallies), counts.outputs.total())
        counts.slices = [
            *((ChangeDimension.MODEL, "", value, tally) for value, tally in top_slices(models)),
            *((ChangeDimension.TAG, "", value, tally) for value, tally in top_slices(tags)),
            *((ChangeDimension.METADATA, key, value, tally) for (key, value), tally in sorted(categorical.items())),
        ]
        counts.numbers = _pooled_numbers(tallies, numeric)
        verdicts: dict[tuple[str, str, str], Tally] = defaultdict(Tally)
        for slot in slots:
            for dimension, key, value, n, passes in tallies[slot]["verdicts"]:
                verdicts[(dimension, key, value)].add(slot, n, passes=passes)
        counts.verdicts = verdicts
    names: dict[str, Tally] = defaultdict(Tally)
    for slot in slots:
        for name, n in tallies[slot]["events"]:
            counts.events[slot] = counts.events.get(slot, 0) + n
            names[name].add(slot, n)
    if tests.baseline_of(counts.events):
        everything = Tally(outputs=counts.events)
        counts.event_volume_baseline = volume_baseline(window, UsageEvent.objects.filter(project=project), everything)
        counts.event_names = top_slices(names)
    return counts


def _ranked_metadata(tallies: dict[int, dict]) -> list[tuple]:
    """The rows `change_counts._metadata_tallies`' query returns, from the weeks' tallies: per slot, key, kind and
    value, for each key's MAX_VALUES_PER_KEY most frequent values over all the weeks (ties by value, in the
    database's collation, as its ROW_NUMBER orders them), with the key's count of entries of that kind."""
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
    return [value for (value,) in fetch_rows("SELECT v FROM unnest(%s::text[]) AS v ORDER BY v", [values])]


def _pooled_numbers(tallies: dict[int, dict], keys: list[str]) -> dict[str, tuple[list, list]]:
    """As `change_counts._numeric_values`: per chosen key, this week's (rounded value, n) and the baseline weeks'
    pooled."""
    if not keys:
        return {}
    chosen = set(keys)
    sides: dict[str, tuple[dict, dict]] = {key: (defaultdict(int), defaultdict(int)) for key in keys}
    for slot, slot_tallies in tallies.items():
        for key, value, n in slot_tallies["numbers"]:
            if key in chosen:
                sides[key][0 if slot == 0 else 1][value] += n
    return {key: (sorted(current.items()), sorted(baseline.items())) for key, (current, baseline) in sides.items()}
