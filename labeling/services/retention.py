"""Weekly cohort retention of a project's end users (not its experts), stored as RetentionCell rows.

Definitions (the arithmetic is in `labeling.metrics.retention`):

- **Activity**: an Output or a UsageEvent of the project with a non-empty `end_user_id`, at `occurred_at`.
- **Weeks** are the project's cycle weeks: `occurred_at` in `project.time_zone`, weeks starting on
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
de-duplication run in SQL, one row per user (their weeks as a bit mask), so a million activity rows over
12 weeks and 50,000 users take about a second. SQLite (the demo) buckets in Python with the same rule. A refresh
writes only the cells that differ from the stored ones (a week's close changes a few per cohort).
"""

import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Q, TextField
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast
from django.utils import timezone

from labeling.metrics.retention import cohort_table, cohorts
from labeling.models import Output, Project, Resolution, RetentionCell, UsageEvent
from labeling.rules.calendar import FIRST_DAY, cycle_week, week_function
from labeling.rules.gold import gold_answer, output_verdict
from labeling.selectors.rubrics import verdict_question

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
    params = {"tz": project.time_zone, "base": base, "project": project.pk, "until": until, "since": _SINCE}
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
        .annotate(
            auto=Cast(KeyTransform(key, "automatic"), TextField()),
            decided=Cast(KeyTransform(key, "adjudicated"), TextField()),
        )
        .filter(Q(auto__isnull=False) | Q(decided__isnull=False))
        .filter(**({"item__output__occurred_at__lte": until} if until else {}))
        .values_list("item__output__end_user_id", "item__output__occurred_at", "auto", "decided")
    )
    week_of = week_function(project)
    golds: dict[str, list] = defaultdict(list)
    # Fetched whole (a few small columns per resolved item): a server-side cursor would forgo a parallel plan.
    for user, occurred_at, auto, decided in resolutions:
        if cohorts.get(user) == week_of(occurred_at):
            golds[user].append(
                gold_answer(json.loads(auto) if auto else None, json.loads(decided) if decided else None)
            )
    verdicts = {user: output_verdict(answers) for user, answers in golds.items()}
    return {user: "pass" if verdict else "fail" for user, verdict in verdicts.items() if verdict is not None}


def refresh_retention(*, project: Project, now: datetime | None = None) -> int:
    """Recompute every cohort of the project and store the cells that changed; return how many cells it has."""
    now = now or timezone.now()
    current_week = cycle_week(project, now)
    activity = activity_weeks(project=project, until=now)
    verdicts = user_verdicts(project=project, cohorts=cohorts(activity), until=now)
    table = cohort_table(activity, current_week=current_week, segments=verdicts)
    with transaction.atomic():
        # The project's row lock serialises two refreshes, so one's writes never race the other's.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        _store_changes(project, table)
    return len(table)


_KEY = ("segment", "cohort_week", "offset")
_VALUES = ("cohort_users", "active_on", "active_on_or_after", "incomplete")


def _store_changes(project: Project, table: list[dict]) -> None:
    """Make the project's stored cells equal `table`, writing only the cells that differ.

    A week's close changes a few cells per cohort (the new week's column, the cohorts its users came back to,
    the week that stopped running); replacing every cell rewrote O(weeks²) rows (16k at 104 weeks, 1.3 s of
    the close's 1.9 s of retention), so the write grew with the project's age while the week's news did not.
    """
    stored = {
        (segment, cohort_week, offset): (pk, values)
        for pk, segment, cohort_week, offset, *values in RetentionCell.objects.filter(project=project)
        .order_by()
        .values_list("pk", *_KEY, *_VALUES)
    }
    changed: list[tuple[int, tuple]] = []
    added: list[RetentionCell] = []
    for cell in table:
        values = tuple(cell[name] for name in _VALUES)
        found = stored.pop(tuple(cell[name] for name in _KEY), None)
        if found is None:
            added.append(RetentionCell(project=project, **cell))
        elif tuple(found[1]) != values:
            changed.append((found[0], values))
    if stored:
        RetentionCell.objects.filter(pk__in=[pk for pk, _ in stored.values()]).delete()
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
