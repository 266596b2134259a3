"""Weekly cohort retention of a project's end users, from (user, week) activity pairs. No ORM here.

Definitions (PostHog's "first time" retention):

- Activity is any (end user, week) pair; weeks are the project's cycle weeks, given as their first day.
  Duplicates are allowed and count once.
- A user's **cohort** is the week of their first activity ever.
- Cell (cohort, k): `cohort_users` users; `active_on` of them were active in week cohort + k ("return
  on"); `active_on_or_after` were active in that week or any later one. Week 0 is always 100%.
- Cells run from offset 0 up to the current week; activity after the current week is ignored (it has
  not happened yet as of `current_week`). The cell whose week is the current week is `incomplete`.
- Segments: "all" always; with `segments` (user → segment name, e.g. "pass" / "fail"), each named
  segment gets its own table over its users. Cohorts with no users are not produced.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, timedelta

ALL = "all"
MEASURES = ("active_on", "active_on_or_after")


def _offset(week: date, cohort: date, week_length: int) -> int:
    offset, rest = divmod((week - cohort).days, week_length)
    if rest:
        raise ValueError(f"{week} is not a week start aligned with {cohort} ({week_length}-day weeks).")
    return offset


def user_weeks(activity: Iterable[tuple[str, date]], *, current_week: date | None = None) -> dict[str, set[date]]:
    """Map each user to the distinct weeks they were active in, up to `current_week` when given."""
    weeks: defaultdict[str, set[date]] = defaultdict(set)
    for user, week in activity:
        if current_week is None or week <= current_week:
            weeks[user].add(week)
    return dict(weeks)


def cohorts(activity: Iterable[tuple[str, date]], *, current_week: date | None = None) -> dict[str, date]:
    """Map each user to their cohort: the week of their first activity."""
    return {user: min(weeks) for user, weeks in user_weeks(activity, current_week=current_week).items()}


def cohort_table(
    activity: Iterable[tuple[str, date]],
    *,
    current_week: date,
    segments: Mapping[str, str] | None = None,
    week_length: int = 7,
) -> list[dict]:
    """Return every retention cell up to the current week, for "all" and each segment in `segments`."""
    segments = segments or {}
    cohort_sizes: Counter = Counter()  # (segment, cohort) → users
    active_on: Counter = Counter()  # (segment, cohort, offset) → users active that week
    last_seen: Counter = Counter()  # (segment, cohort, offset) → users whose last active week it is
    for user, weeks in user_weeks(activity, current_week=current_week).items():
        cohort = min(weeks)
        offsets = [_offset(week, cohort, week_length) for week in weeks]
        for segment in (ALL, segments[user]) if user in segments else (ALL,):
            cohort_sizes[segment, cohort] += 1
            last_seen[segment, cohort, max(offsets)] += 1
            for offset in offsets:
                active_on[segment, cohort, offset] += 1

    order = [ALL, *sorted(set(segments.values()) - {ALL})]
    cells = []
    for segment, cohort in sorted(cohort_sizes, key=lambda key: (order.index(key[0]), key[1])):
        last_offset = _offset(current_week, cohort, week_length)
        # Users active on or after week k = users whose last active week is k or later: a suffix sum.
        on_or_after = 0
        column = []
        for offset in range(last_offset, -1, -1):
            on_or_after += last_seen[segment, cohort, offset]
            column.append(
                {
                    "segment": segment,
                    "cohort_week": cohort,
                    "offset": offset,
                    "cohort_users": cohort_sizes[segment, cohort],
                    "active_on": active_on[segment, cohort, offset],
                    "active_on_or_after": on_or_after,
                    "incomplete": cohort + timedelta(days=offset * week_length) == current_week,
                }
            )
        cells.extend(reversed(column))
    return cells


def weighted_mean(
    cells: Iterable[dict],
    *,
    offset: int,
    segment: str = ALL,
    measure: str = "active_on",
    first_cohort: date | None = None,
    last_cohort: date | None = None,
    complete_only: bool = True,
) -> dict:
    """Return the cohort-size-weighted retention at `offset`: returned users / cohort users, over cohorts."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}.")
    returned = users = count = 0
    for cell in cells:
        if cell["segment"] != segment or cell["offset"] != offset:
            continue
        if complete_only and cell["incomplete"]:
            continue
        if (first_cohort and cell["cohort_week"] < first_cohort) or (last_cohort and cell["cohort_week"] > last_cohort):
            continue
        returned += cell[measure]
        users += cell["cohort_users"]
        count += 1
    return {"rate": returned / users if users else None, "returned": returned, "users": users, "cohorts": count}
