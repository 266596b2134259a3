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

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from itertools import accumulate

ALL = "all"
MEASURES = ("active_on", "active_on_or_after")
# A retention rate over fewer users than this is no figure: over 1 user it is 0% or 100%, over 4 one user moves it by
# 25 points (the 95% interval of 1 of 1 runs from 21% to 100%). Five, as agreement's MIN_UNITS (items) is: a floor
# of its own, of users. The rates are still computed, stored and served; the pages draw and print none.
MIN_USERS = 5


def too_few_users(users: int) -> bool:
    """Whether a retention rate over this many users is too small a sample to mean anything."""
    return users < MIN_USERS


def offset_complete(cohort_week: date, offset: int, *, current_week: date, week_length: int = 7) -> bool:
    """Whether week `offset` of the cohort is over while `current_week` runs: only then is its retention final."""
    return cohort_week + timedelta(days=offset * week_length) < current_week


def cell_complete(cell: Mapping, *, current_week: date) -> bool:
    """Whether a stored cell's figure is final while `current_week` runs: its week is over, and it was not stored while
    that week still ran (`incomplete`: a refresh that has not run since left its counts partial)."""
    return not cell["incomplete"] and offset_complete(cell["cohort_week"], cell["offset"], current_week=current_week)


def _week_masks(activity: Iterable[tuple[str, date]], current_week: date, week_length: int) -> dict[str, int]:
    """Map each user to a bit mask of their active weeks: bit n = active n weeks before `current_week`.

    Weeks after the current one are left out. A mask makes the cohort its highest bit and lets users
    with the same history be counted together, which keeps a million rows of activity cheap.
    """
    current = current_week.toordinal()
    bits: dict[date, int] = {}
    masks: dict[str, int] = {}
    for user, week in activity:
        bit = bits.get(week)
        if bit is None:
            weeks_ago, rest = divmod(current - week.toordinal(), week_length)
            if rest:
                raise ValueError(f"{week} is not a week start aligned with {current_week} ({week_length}-day weeks).")
            bit = bits[week] = 1 << weeks_ago if weeks_ago >= 0 else 0
        if bit:
            masks[user] = masks.get(user, 0) | bit
    return masks


def cohorts(activity: Iterable[tuple[str, date]], *, current_week: date | None = None) -> dict[str, date]:
    """Map each user to their cohort: the week of their first activity (up to `current_week` when given)."""
    first: dict[str, date] = {}
    for user, week in activity:
        if (current_week is None or week <= current_week) and (user not in first or week < first[user]):
            first[user] = week
    return first


def cohort_table(
    activity: Iterable[tuple[str, date]],
    *,
    current_week: date,
    segments: Mapping[str, str] | None = None,
    week_length: int = 7,
) -> list[dict]:
    """Return every retention cell up to the current week, for "all" and each segment in `segments`."""
    masks = _week_masks(activity, current_week, week_length)
    return cohort_table_of_masks(masks, current_week=current_week, segments=segments, week_length=week_length)


def cohort_table_of_masks(
    masks: Mapping[str, int],
    *,
    current_week: date,
    segments: Mapping[str, str] | None = None,
    week_length: int = 7,
    offsets: Callable[[date, int], range] | None = None,
) -> list[dict]:
    """`cohort_table` from each user's weeks as a bit mask (bit n = active n weeks before `current_week`).

    `offsets(cohort_week, last_offset)`: the offsets of the cells to make for a cohort (default: all, 0 to
    `last_offset`), for a caller that knows which cells can have changed: the table has O(weeks²) cells.
    """
    histories = _histories(masks, segments)

    # Per (segment, cohort weeks ago): its users, and per offset the users active then and those last seen then.
    sizes: dict[tuple[str, int], int] = {}
    active_on: dict[tuple[str, int], list[int]] = {}
    last_seen: dict[tuple[str, int], list[int]] = {}
    for (segment, mask), users in histories.items():
        cohort = mask.bit_length() - 1
        key = (segment, cohort)
        if key not in sizes:
            sizes[key], active_on[key], last_seen[key] = 0, [0] * (cohort + 1), [0] * (cohort + 1)
        sizes[key] += users
        last_seen[key][cohort - ((mask & -mask).bit_length() - 1)] += users
        active = active_on[key]
        weeks = mask
        while weeks:  # the weeks the history was active, not every offset: a long life is mostly gaps
            week = weeks & -weeks
            active[cohort - (week.bit_length() - 1)] += users
            weeks ^= week

    order = {segment: rank for rank, segment in enumerate([ALL, *sorted({segment for segment, _ in sizes} - {ALL})])}
    cells = []
    for key in sorted(sizes, key=lambda key: (order[key[0]], -key[1])):
        segment, cohort = key
        cohort_week = current_week - timedelta(days=cohort * week_length)
        users, active, last = sizes[key], active_on[key], last_seen[key]
        # Users active on or after week k = users whose last active week is k or later: a suffix sum.
        on_or_after = list(accumulate(reversed(last)))[::-1]
        cells.extend(
            {
                "segment": segment,
                "cohort_week": cohort_week,
                "offset": offset,
                "cohort_users": users,
                "active_on": active[offset],
                "active_on_or_after": on_or_after[offset],
                "incomplete": not offset_complete(
                    cohort_week, offset, current_week=current_week, week_length=week_length
                ),
            }
            for offset in (offsets(cohort_week, cohort) if offsets else range(cohort + 1))
        )
    return cells


def cell_count(masks: Mapping[str, int], *, segments: Mapping[str, str] | None = None) -> int:
    """How many cells `cohort_table_of_masks` makes of these masks, every offset."""
    cohorts_of = {(segment, mask.bit_length() - 1) for segment, mask in _histories(masks, segments)}
    return sum(cohort + 1 for _, cohort in cohorts_of)


def _histories(masks: Mapping[str, int], segments: Mapping[str, str] | None) -> Counter:
    """Users by (segment, weeks): users with the same weeks are counted together."""
    histories: Counter = Counter((ALL, mask) for mask in masks.values())
    if segments:
        histories.update((segments[user], mask) for user, mask in masks.items() if segments.get(user, ALL) != ALL)
    return histories


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


def mean_curves(
    cells: Iterable[dict],
    *,
    segments: Iterable[str] = (ALL, "pass", "fail"),
    offsets: int | None = None,
    measure: str = "active_on",
    first_cohort: date | None = None,
    last_cohort: date | None = None,
) -> dict[str, list[dict]]:
    """Per segment, the weighted mean (`weighted_mean`) at each offset over complete cells: points
    {"offset", "rate", "returned", "users", "cohorts"} for offsets 0 .. `offsets` - 1 (default: up to the
    last complete one) that have a cohort, so a curve never ends on a week still running."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}.")
    wanted = list(segments)
    # One pass over the cells, summing per (segment, offset); asking `weighted_mean` (a scan of every cell) once
    # per segment and offset made a long range cubic: 104 weeks of cohorts took a third of a second.
    complete: dict[str, set[int]] = {segment: set() for segment in wanted}
    sums: dict[tuple[str, int], list[int]] = {}
    for cell in cells:
        segment, offset = cell["segment"], cell["offset"]
        if segment not in complete or cell["incomplete"]:
            continue
        complete[segment].add(offset)  # the curve's length counts every complete cell, in range or not
        if (first_cohort and cell["cohort_week"] < first_cohort) or (last_cohort and cell["cohort_week"] > last_cohort):
            continue
        total = sums.setdefault((segment, offset), [0, 0, 0])
        total[0] += cell[measure]
        total[1] += cell["cohort_users"]
        total[2] += 1
    curves = {}
    for segment in wanted:
        limit = offsets if offsets is not None else (max(complete[segment]) + 1 if complete[segment] else 0)
        points = []
        for offset in range(limit):
            returned, users, count = sums.get((segment, offset), (0, 0, 0))
            if count:
                rate = returned / users if users else None
                points.append({"offset": offset, "rate": rate, "returned": returned, "users": users, "cohorts": count})
        curves[segment] = points
    return curves
