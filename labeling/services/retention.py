"""Weekly cohort retention of a project's end users (not its experts), stored as RetentionCell rows.

Definitions (the arithmetic is in `labeling.metrics.retention`):

- **Activity**: an Output or a UsageEvent of the project with a non-empty `end_user_id`, at `occurred_at`.
- **Weeks** are the project's cycle weeks: `occurred_at` in `project.tzinfo`, weeks starting on
  `project.cycle_weekday` (as `calendar.cycle_week`). Sunday 23:30 and Monday 00:10 local time are in
  different weeks of a Monday-start project, whatever UTC says.
- **Cohort**: the week of a user's first activity ever (all history). Cell (cohort, k) counts the cohort's
  users active in week cohort + k ("return on") and in that week or any later one ("on or after").
  Cells up to the week holding `now`; that last one is `incomplete`. Activity after `now` is ignored.
- **Verdict split**: the verdict question is the first `binary` question of the project's current rubric.
  A user's verdict comes from the gold answers (`rules.gold`, adjudicated answers winning, ties no answer) on that
  question over the user's outputs that occurred in their cohort week, one vote per resolved item (an
  output in two queues votes twice), combined by `rules.gold.output_verdict`: any fail → "fail", else any
  pass → "pass", else no verdict (the user is only in "all"). The same rule makes one output's verdict in
  "what changed" and failure themes. Segments stored: "all", "pass", "fail".

Speed: on PostgreSQL the week bucketing (`AT TIME ZONE`, counted in weeks from a cycle weekday) and the
de-duplication run in SQL, one row per user (their weeks as a bit mask). Each end user's weeks and verdict are kept
(`RetentionUser`), so a refresh reads only the activity from the week before the last refresh on, and checks that
the older activity is as it was by its row count and hash sum (an index-only read, not the bucketing); older
activity that changed in any way (late rows, an erasure, the raw-data purge), another calendar or verdict question,
or a `now` before the last one rebuild the histories from all activity. Only the users a refresh can have changed
are judged again: new cohorts, users whose cohort week is still being read, and those whose gold answers were
written since the last refresh. SQLite (the demo) buckets all activity in Python with the same rule every time.
A refresh writes only the cells that differ from the stored ones (a week's close changes a few per cohort).
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from operator import itemgetter

from django.db import connection, transaction
from django.db.models import DateField, ExpressionWrapper, F, Q
from django.utils import timezone

from labeling.metrics.retention import cell_count, cohort_table, cohort_table_of_masks, cohorts
from labeling.models import (
    Item,
    Output,
    Project,
    Resolution,
    RetentionCell,
    RetentionState,
    RetentionUser,
    UsageEvent,
)
from labeling.rules.calendar import FIRST_DAY, cycle_week, first_week, week_end, week_function, week_start
from labeling.rules.gold import output_verdict
from labeling.selectors.gold import gold_entries, gold_of_entries
from labeling.selectors.rubrics import verdict_question

from .advisory_locks import hold_project_lock

# Each user's weeks come back as bit masks, one row per user and 63-week span (a bigint holds 63 bits):
# `day` counts days from a first cycle weekday of year 1, so `day / 7` numbers the cycle weeks and
# every local date falls in one. Grouping by user alone is far cheaper than a DISTINCT over
# (user, week) pairs, and sends a fifth of the rows.
_WEEKS_PER_MASK = 63
# Activity in the calendar's first week is left out: it has no whole cycle week (labeling.rules.calendar), and in a
# zone west of UTC its local day would come before `base`, breaking the masks. Only rows stored before ingest
# had a range can be that old.
_SINCE = datetime.combine(FIRST_DAY + timedelta(days=7), time.min, tzinfo=UTC)
_ACTIVITY_WEEKS_SQL = """
WITH local_days AS (
    SELECT end_user_id, (occurred_at AT TIME ZONE %(tz)s)::date - %(base)s AS day
      FROM {outputs} WHERE project_id = %(project)s AND end_user_id <> '' AND occurred_at >= %(since)s {until}
    UNION ALL
    SELECT end_user_id, (occurred_at AT TIME ZONE %(tz)s)::date - %(base)s AS day
      FROM {events} WHERE project_id = %(project)s AND end_user_id <> '' AND occurred_at >= %(since)s {until}
)
SELECT end_user_id, day / (7 * {per_mask}) AS span, bit_or(1::bigint << (day / 7 %% {per_mask})) AS weeks
  FROM local_days
 GROUP BY end_user_id, span
"""


def activity_weeks(*, project: Project, until: datetime | None = None) -> list[tuple[str, date]]:
    """Return the distinct (end user, cycle week) pairs of the project's outputs and usage events.

    With `until`, only activity that occurred at or before that moment.
    """
    if connection.vendor == "postgresql":
        return _weeks_in_sql(project, until)
    return _weeks_in_python(project, until)


def _weeks_in_sql(project: Project, until: datetime | None = None) -> list[tuple[str, date]]:
    sql = _ACTIVITY_WEEKS_SQL.format(
        outputs=Output._meta.db_table,
        events=UsageEvent._meta.db_table,
        until="AND occurred_at <= %(until)s" if until else "",
        per_mask=_WEEKS_PER_MASK,
    )
    base = date.min + timedelta(days=project.cycle_weekday)  # date.min, 0001-01-01, is a Monday
    # The zone Python counts weeks in (UTC for a name tzdata dropped, which PostgreSQL refuses), not the stored name.
    params = {"tz": project.tzinfo.key, "base": base, "project": project.pk, "until": until, "since": _SINCE}
    with transaction.atomic(), connection.cursor() as cursor:
        # Tens of thousands of users: with the default 4 MB work_mem the hash aggregate spills to disk.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    weeks: dict[tuple[int, int], date] = {}
    pairs = []
    for user, span, mask in rows:
        while mask:
            low = mask & -mask
            bit = (span, low.bit_length() - 1)
            week = weeks.get(bit)
            if week is None:
                week = weeks[bit] = base + timedelta(weeks=span * _WEEKS_PER_MASK + bit[1])
            pairs.append((user, week))
            mask ^= low
    return pairs


def _weeks_in_python(project: Project, until: datetime | None = None) -> list[tuple[str, date]]:
    week_of = week_function(project)
    pairs: set[tuple[str, date]] = set()
    for model in (Output, UsageEvent):
        rows = model.objects.filter(project=project, occurred_at__gte=_SINCE).exclude(end_user_id="")
        if until:
            rows = rows.filter(occurred_at__lte=until)
        moments = rows.values_list("end_user_id", "occurred_at")
        pairs.update((user, week_of(moment)) for user, moment in moments.iterator(chunk_size=5000))
    return sorted(pairs)


def user_verdicts(*, project: Project, cohorts: Mapping[str, date], until: datetime | None = None) -> dict[str, str]:
    """Map users to "fail" or "pass" by the gold answers on their cohort week's outputs (see module doc).

    With `until`, only outputs that occurred at or before that moment.
    """
    question = verdict_question(project)
    key = question["key"] if question else None
    if key is None or not cohorts:
        return {}
    # The answers come back as JSON text and are decoded only for outputs of a cohort week.
    resolutions = (
        Resolution.objects.filter(item__project=project)
        .exclude(item__output__end_user_id="")
        .annotate(**gold_entries(key))
        .filter(Q(auto__isnull=False) | Q(decided__isnull=False))
        .filter(**({"item__output__occurred_at__lte": until} if until else {}))
        .values_list("item__output__end_user_id", "item__output__occurred_at", "auto", "decided")
    )
    # Fetched whole (a few small columns per resolved item): a server-side cursor would forgo a parallel plan.
    return _verdicts_of(project, cohorts, resolutions)


def _verdicts_of(project: Project, cohorts: Mapping[str, date], answers) -> dict[str, str]:
    """Users' verdicts from (user, occurred_at, automatic, adjudicated answer as JSON text) of resolved outputs."""
    week_of = week_function(project)
    golds: dict[str, list] = defaultdict(list)
    for user, occurred_at, auto, decided in answers:
        if cohorts.get(user) == week_of(occurred_at):
            golds[user].append(gold_of_entries(auto, decided))
    verdicts = {user: output_verdict(answers) for user, answers in golds.items()}
    return {user: "pass" if verdict else "fail" for user, verdict in verdicts.items() if verdict is not None}


# The gold answers on some users' cohort-week outputs: each user's week probes `output_project_user_time` (~0.2 ms
# with a cold cache). Past _PROBED_USERS users, one pass over the project's resolutions is cheaper. An output's items
# are found by its id alone (they are its project's): with `i.project_id` in the join too, statistics that lagged a
# bulk import (the project believed to have one item) made PostgreSQL read all the project's items again for each
# output (600 outputs: 0.73 million rows handled, against 8,200).
_PROBED_USERS = 2000
_COHORT_WEEK_ANSWERS_SQL = f"""
SELECT o.end_user_id, o.occurred_at, (r.automatic -> %(key)s)::text, (r.adjudicated -> %(key)s)::text
  FROM unnest(%(users)s::text[], %(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS week (end_user_id, starts, ends)
  JOIN {Output._meta.db_table} o ON o.project_id = %(project)s AND o.end_user_id = week.end_user_id
   AND o.occurred_at >= week.starts AND o.occurred_at < week.ends AND o.occurred_at <= %(until)s
  JOIN {Item._meta.db_table} i ON i.output_id = o.id
  JOIN {Resolution._meta.db_table} r ON r.item_id = i.id
 WHERE r.automatic ? %(key)s OR r.adjudicated ? %(key)s
"""


def refresh_retention(*, project: Project, now: datetime | None = None, full: bool = False) -> int:
    """Store the project's retention cells as of `now`, writing only the cells that changed; return how many
    cells it has. `full` rebuilds the users' histories from all activity (the cells are the same either way)."""
    now = now or timezone.now()
    if connection.vendor != "postgresql":
        activity = activity_weeks(project=project, until=now)
        verdicts = user_verdicts(project=project, cohorts=cohorts(activity), until=now)
        table = cohort_table(activity, current_week=cycle_week(project, now), segments=verdicts)
        with transaction.atomic():
            # The project's row lock serialises two refreshes, so one's writes never race the other's.
            Project.objects.lock(project.pk)
            _store_changes(project, table)
        return len(table)
    with transaction.atomic():
        # One refresh of a project at a time (its users' histories are read, changed and written back); ingest,
        # which locks the project's row, is not held up.
        hold_project_lock(_RETENTION_LOCK_SPACE, project.pk)
        table, scope, count = _HistoryRefresh(project, now).cells(full=full)
        _store_changes(project, table, scope)
    return count


# A 64-bit advisory key space of its own (the week locks use the two-key form, which never meets this one).
_RETENTION_LOCK_SPACE = 0x454C_5254 << 32  # "ELRT"
# Gold answers written this long before the last refresh began are judged again: a write whose transaction was
# still open when that refresh read the verdicts is not missed.
_REJUDGE_MARGIN = timedelta(hours=1)

# One statement, so one snapshot: the users' weeks from `window` on (the `weeks` rows), and the row count and hash
# sum of the activity before `window` (to compare with the stored ones) and of that from `window` to `next` (the
# next refresh's older activity is both). Rows hash by user and microsecond, so a row added, deleted or moved to
# another user or time changes the sum; `output_project_user_time` and `event_project_user_time` hold every column.
_HISTORY_SQL = """
SELECT end_user_id, day / (7 * {per_mask}) AS span, bit_or(1::bigint << (day / 7 %% {per_mask})), NULL::bigint,
       NULL::numeric
  FROM ({window_days}) AS local_days
 GROUP BY end_user_id, span
UNION ALL
SELECT NULL, -1, NULL, count(*), coalesce(sum(hashtextextended(end_user_id, micros)), 0) FROM ({older}) AS older
UNION ALL
SELECT NULL, -2, NULL, count(*), coalesce(sum(hashtextextended(end_user_id, micros)), 0) FROM ({moving}) AS moving
"""
_ACTIVITY_SQL = (
    "SELECT end_user_id, {columns} FROM {table} "
    "WHERE project_id = %(project)s AND end_user_id <> '' AND occurred_at >= {since} AND {until}"
)


def _activity(columns: str, *, since: str, until: str) -> str:
    return " UNION ALL ".join(
        _ACTIVITY_SQL.format(columns=columns, table=model._meta.db_table, since=since, until=until)
        for model in (Output, UsageEvent)
    )


_LOCAL_DAY = "(occurred_at AT TIME ZONE %(tz)s)::date - %(base)s AS day"
_MICROS = "(date_part('epoch', occurred_at) * 1000000)::bigint AS micros"  # float8: cheaper than numeric
_HISTORY = _HISTORY_SQL.format(
    per_mask=_WEEKS_PER_MASK,
    window_days=_activity(_LOCAL_DAY, since="%(window)s", until="occurred_at <= %(until)s"),
    older=_activity(_MICROS, since="%(since)s", until="occurred_at < %(window)s"),
    moving=_activity(_MICROS, since="%(window)s", until="occurred_at < %(next)s"),
)


class _HistoryRefresh:
    """One refresh of a project's users' histories (`RetentionUser`) to `now`, and the cells they make.

    A history is (first week, mask): weeks are numbered from the calendar's base as in `_ACTIVITY_WEEKS_SQL`, and
    bit i of the mask is week first + i.
    """

    def __init__(self, project: Project, now: datetime) -> None:
        self.project, self.now = project, now
        self.base = date.min + timedelta(days=project.cycle_weekday)  # date.min, 0001-01-01, is a Monday
        self.current_week = cycle_week(project, now)
        question = verdict_question(project)
        self.verdict_key = question["key"] if question else ""
        # Next time, activity from the week before this one on is read again: rows that arrive late by less than
        # a week (a client's batch, a transaction open across midnight) are read, not taken for changed history.
        previous_week = max(self.current_week - timedelta(days=7), first_week(project))
        self.next_from = max(week_start(project, previous_week), _SINCE)

    def cells(self, *, full: bool) -> tuple[list[dict], "_Scope | None", int]:
        """The project's cells as of `now` that can differ from the stored ones, the part of the table they are (None:
        all of it), and how many cells the whole table has."""
        started = timezone.now()
        state = RetentionState.objects.filter(project=self.project).first()
        reason = "asked" if full else self._why_rebuild(state)
        if reason is None:
            read, older, moving = self._read(window=state.rescan_from)
            if older != (state.old_rows, int(state.old_hash)):
                reason = "older activity changed"
        if reason is None:
            kept = self._stored_histories()
            histories, moved = self._merged(kept, read, window=state.rescan_from)
            since = state.refreshed_at - _REJUDGE_MARGIN
            rejudged = moved | self._recent_cohorts(histories, state.rescan_from) | self._regolded(since)
            stored_old = older
        else:
            histories, _, moving = self._read(window=_SINCE)
            kept = {}
            rejudged = set(histories)
            stored_old = (0, 0)
        verdicts = self._verdicts(kept, histories, rejudged)
        moved_cohorts = self._store(kept, histories, verdicts, rebuilt=reason is not None)
        old_rows, old_hash = stored_old[0] + moving[0], stored_old[1] + moving[1]
        RetentionState.objects.update_or_create(
            project=self.project,
            defaults={
                "now": self.now, "time_zone": self.project.time_zone, "cycle_weekday": self.project.cycle_weekday,
                "verdict_key": self.verdict_key, "rescan_from": self.next_from, "old_rows": old_rows,
                "old_hash": old_hash, "refreshed_at": started,
                "last_refresh": "incremental" if reason is None else f"full: {reason}", "rebuild_owed": "",
            },
        )  # fmt: skip
        converted: dict[tuple[int, int], int] = {}  # users with the same history, converted once
        masks = {}
        for user, history in histories.items():
            mask = converted.get(history)
            masks[user] = converted[history] = mask if mask is not None else self._weeks_ago(*history)
        segments = {user: verdict for user, verdict in verdicts.items() if verdict}
        if reason is not None:
            table = cohort_table_of_masks(masks, current_week=self.current_week, segments=segments)
            return table, None, len(table)
        # A cohort none of whose users changed keeps its cells but for the weeks since the last refresh's (a new
        # week's cells, the week that stopped running); the cohorts of the users who changed may differ anywhere.
        # Only those cells are made: a few hundred of the 16,000 at 104 weeks.
        scope = _Scope(cohorts=moved_cohorts, since=cycle_week(self.project, state.now))
        table = cohort_table_of_masks(masks, current_week=self.current_week, segments=segments, offsets=scope.offsets)
        return table, scope, cell_count(masks, segments=segments)

    def _why_rebuild(self, state: RetentionState | None) -> str | None:
        if state is None:
            return "no history yet"
        if state.rebuild_owed:
            return state.rebuild_owed
        if (state.time_zone, state.cycle_weekday) != (self.project.time_zone, self.project.cycle_weekday):
            return "the calendar changed"
        if state.verdict_key != self.verdict_key:
            return "the verdict question changed"
        if self.now < state.now:
            return "an earlier moment"
        return None

    def _number(self, week: date) -> int:
        return (week - self.base).days // 7

    def _read(self, *, window: datetime) -> tuple[dict[str, tuple[int, int]], tuple[int, int], tuple[int, int]]:
        """Users' histories of the activity from `window` to `now`, and the (count, hash sum) of the activity
        before `window` and of that from `window` to `next_from`."""
        params = {
            "tz": self.project.tzinfo.key, "base": self.base, "project": self.project.pk, "since": _SINCE,
            "window": window, "until": self.now, "next": max(self.next_from, window),
        }  # fmt: skip
        with connection.cursor() as cursor:
            # Tens of thousands of users: with the default 4 MB work_mem the hash aggregate spills to disk.
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute(_HISTORY, params)
            rows = cursor.fetchall()
        spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
        sums = {}
        for user, span, mask, count, hashes in rows:
            if user is None:
                sums[span] = (count, int(hashes))
            else:
                spans[user].append((span * _WEEKS_PER_MASK, mask))
        histories = {}
        for user, masks in spans.items():
            first = min(start + ((mask & -mask).bit_length() - 1) for start, mask in masks)
            histories[user] = (first, sum(_shifted(mask, start - first) for start, mask in masks))
        return histories, sums[-1], sums[-2]

    def _stored_histories(self) -> dict[str, tuple[int, int, str]]:
        rows = RetentionUser.objects.filter(project=self.project).values_list(
            "end_user_id", "first_week", "weeks", "verdict"
        )
        return {
            user: (self._number(week), int.from_bytes(weeks, "little"), verdict)
            for user, week, weeks, verdict in rows.iterator(chunk_size=10_000)
        }

    def _merged(self, kept: dict, read: dict, *, window: datetime) -> tuple[dict[str, tuple[int, int]], set[str]]:
        """The stored histories with their weeks from `window`'s on replaced by those read; and the users whose
        first week moved (a new user, one whose first weeks were erased)."""
        window_week = self._number(cycle_week(self.project, window))
        histories, moved = {}, set()
        for user, (first, mask, _) in kept.items():
            if user not in read and first + mask.bit_length() - 1 < window_week:
                histories[user] = (first, mask)  # nothing to replace: no weeks in the window
                continue
            older = mask & ((1 << max(window_week - first, 0)) - 1)
            new_first, new_mask = read.get(user, (window_week, 0))
            if older:
                new_mask = older | _shifted(new_mask, new_first - first)
                new_first = first
            if new_mask:
                histories[user] = (new_first, new_mask)
            if new_first != first or not new_mask:
                moved.add(user)
        for user in read.keys() - kept.keys():
            histories[user] = read[user]
            moved.add(user)
        return histories, moved

    def _recent_cohorts(self, histories: dict, window: datetime) -> set[str]:
        """Users whose cohort week is read again: outputs of it may have come or gone."""
        window_week = self._number(cycle_week(self.project, window))
        return {user for user, (first, _) in histories.items() if first >= window_week}

    def _regolded(self, since: datetime) -> set[str]:
        """Users with an output whose gold answers were written since `since`."""
        resolved = Resolution.objects.filter(item__project=self.project, updated_at__gte=since)
        return set(resolved.exclude(item__output__end_user_id="").values_list("item__output__end_user_id", flat=True))

    def _verdicts(self, kept: dict, histories: dict, rejudged: set[str]) -> dict[str, str]:
        verdicts = {user: kept[user][2] for user in histories.keys() & kept.keys()}
        weeks = {user: self.base + timedelta(weeks=histories[user][0]) for user in rejudged & histories.keys()}
        judged = self._judged(weeks) if weeks and self.verdict_key else {}
        verdicts.update({user: judged.get(user, "") for user in weeks})
        return verdicts

    def _judged(self, cohort_weeks: dict[str, date]) -> dict[str, str]:
        if len(cohort_weeks) > _PROBED_USERS:
            return user_verdicts(project=self.project, cohorts=cohort_weeks, until=self.now)
        users = sorted(cohort_weeks)
        params = {
            "key": self.verdict_key, "project": self.project.pk, "until": self.now, "users": users,
            "starts": [week_start(self.project, cohort_weeks[user]) for user in users],
            "ends": [week_end(self.project, cohort_weeks[user]) for user in users],
        }  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(_COHORT_WEEK_ANSWERS_SQL, params)
            return _verdicts_of(self.project, cohort_weeks, cursor.fetchall())

    def _store(self, kept: dict, histories: dict, verdicts: dict, *, rebuilt: bool) -> set[date]:
        """Write the users' histories that changed; return the cohort weeks they left or joined."""
        table = RetentionUser._meta.db_table
        gone = list(kept.keys() - histories.keys())
        cohorts = {self.base + timedelta(weeks=kept[user][0]) for user in gone}
        changed = []
        for user, (first, mask) in histories.items():
            verdict = verdicts.get(user, "")
            if rebuilt or kept.get(user) != (first, mask, verdict):
                weeks = mask.to_bytes((mask.bit_length() + 7) // 8, "little")
                changed.append((user, self.base + timedelta(weeks=first), weeks, verdict))
                # (A cohort a user leaves is later than the weeks read again began, so a week from `since` on.)
                cohorts.add(self.base + timedelta(weeks=first))
        with connection.cursor() as cursor:
            # Statements over arrays, whatever the number of users (a week of W4 changes ~50,000 histories).
            if rebuilt:
                cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [self.project.pk])
            elif gone:
                cursor.execute(
                    f"DELETE FROM {table} WHERE project_id = %s AND end_user_id = ANY(%s)", [self.project.pk, gone]
                )
            if changed:
                cursor.execute(
                    f"INSERT INTO {table} (project_id, end_user_id, first_week, weeks, verdict) "
                    "SELECT %s, * FROM unnest(%s::text[], %s::date[], %s::bytea[], %s::text[]) "
                    "ON CONFLICT (project_id, end_user_id) DO UPDATE SET first_week = EXCLUDED.first_week, "
                    "weeks = EXCLUDED.weeks, verdict = EXCLUDED.verdict",
                    [self.project.pk, *(list(column) for column in zip(*changed, strict=True))],
                )
        return cohorts

    def _weeks_ago(self, first: int, mask: int) -> int:
        """The mask as `cohort_table_of_masks` takes it: bit n = active n weeks before the current week."""
        width = self._number(self.current_week) - first + 1
        return int(format(mask, "b").zfill(width)[::-1], 2)


def _shifted(mask: int, by: int) -> int:
    return mask << by if by >= 0 else mask >> -by


def forget_end_user(*, project: Project, end_user_id: str) -> None:
    """Drop an erased end user's history at once, and owe the project a rebuild: without the history, the next
    refresh could not tell which cohort's cells still count them (one seen only in the weeks read again)."""
    RetentionUser.objects.filter(project=project, end_user_id=end_user_id).delete()
    RetentionState.objects.filter(project=project).update(rebuild_owed="an end user was erased")


_KEY = ("segment", "cohort_week", "offset")
_VALUES = ("cohort_users", "active_on", "active_on_or_after", "incomplete")
_key_of, _values_of = itemgetter(*_KEY), itemgetter(*_VALUES)


@dataclass(frozen=True)
class _Scope:
    """The stored cells a refresh can have changed: every cell of `cohorts`, and any cell of a week from `since` on."""

    cohorts: set[date]
    since: date

    def offsets(self, cohort_week: date, last: int) -> range:
        """The offsets from 0 to `last` of the cohort's cells that the scope holds."""
        if cohort_week in self.cohorts:
            return range(last + 1)
        return range(max(0, -(-(self.since - cohort_week).days // 7)), last + 1)  # the first week from `since` on

    def holds(self, cohort_week: date, offset: int) -> bool:
        return offset in self.offsets(cohort_week, offset)  # one rule: the cells `offsets` makes


def _store_changes(project: Project, table: list[dict], scope: _Scope | None = None) -> None:
    """Make the project's stored cells equal `table` (within `scope`, when given), writing only the cells that differ.

    A week's close changes a few cells per cohort (the new week's column, the cohorts its users came back to,
    the week that stopped running); replacing every cell rewrote O(weeks²) rows (16k at 104 weeks, 1.3 s of
    the close's 1.9 s of retention), so the write grew with the project's age while the week's news did not.
    """
    # (pk, segment, cohort week, offset, *values) rows, by their key
    rows = RetentionCell.objects.filter(project=project).order_by()
    if scope is not None:
        week = ExpressionWrapper(F("cohort_week") + F("offset") * timedelta(weeks=1), DateField())
        rows = rows.alias(cell_week=week).filter(Q(cohort_week__in=scope.cohorts) | Q(cell_week__gte=scope.since))
        table = [cell for cell in table if scope.holds(cell["cohort_week"], cell["offset"])]
    stored = {row[1:4]: row for row in rows.values_list("pk", *_KEY, *_VALUES)}
    changed: list[tuple[int, tuple]] = []
    added: list[RetentionCell] = []
    for cell in table:
        values = _values_of(cell)
        found = stored.pop(_key_of(cell), None)
        if found is None:
            added.append(RetentionCell(project=project, **cell))
        elif found[4:] != values:
            changed.append((found[0], values))
    if stored:
        RetentionCell.objects.filter(pk__in=[row[0] for row in stored.values()]).delete()
    if changed:
        _update_cells(changed)
    RetentionCell.objects.bulk_create(added, batch_size=1000)


def _update_cells(changed: list[tuple[int, tuple]]) -> None:
    if connection.vendor != "postgresql":
        cells = [RetentionCell(pk=pk, **dict(zip(_VALUES, values, strict=True))) for pk, values in changed]
        RetentionCell.objects.bulk_update(cells, list(_VALUES), batch_size=500)
        return
    columns = list(zip(*((pk, *values) for pk, values in changed), strict=True))
    table = RetentionCell._meta.db_table
    with connection.cursor() as cursor:
        # One statement over arrays, whatever the number of cells (bulk_update's CASE per column grows with it).
        cursor.execute(
            f"UPDATE {table} AS cell SET cohort_users = new.cohort_users, active_on = new.active_on, "
            "active_on_or_after = new.active_on_or_after, incomplete = new.incomplete "
            "FROM unnest(%s::bigint[], %s::integer[], %s::integer[], %s::integer[], %s::boolean[]) "
            "AS new(id, cohort_users, active_on, active_on_or_after, incomplete) WHERE cell.id = new.id",
            [list(column) for column in columns],
        )
