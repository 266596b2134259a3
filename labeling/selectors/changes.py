"""The stored changes of a cycle week, as report entries (plain data).

Each entry carries its figures and counts as stored (`WeekChange`), a short sentence saying what changed, and
`explore_query`: the explore page's query string for that slice and week (None where no explore filter can name the
slice: an output without a model, a key the `meta=` filter would read otherwise). A usage event's query finds the
outputs of the end users who had that event (any event, for all of them) in those days.
"""

from datetime import date, timedelta
from urllib.parse import parse_qs

from labeling.exceptions import InvalidFilter, NotFound
from labeling.models import ChangeDimension, ChangeKind, CycleStatus, Project, ReviewCycle, WeekChange, week_label
from labeling.rules.calendar import current_week
from labeling.rules.explore import ExploreFilter, filter_query, parse_filter, week_days

_FIELDS = (
    "rank", "kind", "dimension", "key", "value", "current", "baseline", "current_count", "current_total",
    "baseline_count", "baseline_total", "baseline_weeks", "partial", "test", "statistic", "p_value", "q_value",
    "tests", "effect", "relative",
)  # fmt: skip
_PROPORTIONS = {
    ChangeKind.THUMBS_DOWN_SHARE: ("Thumbs-down share of rated outputs", "rated"),
    ChangeKind.COMMENT_SHARE: ("Share of outputs with a feedback comment", "outputs"),
    ChangeKind.SLICE_SHARE: ("Share of {noun} from {slice}", "{noun}"),
    ChangeKind.SLICE_THUMBS_DOWN: ("Thumbs-down rate of {slice}", "rated"),
    ChangeKind.SLICE_PASS_RATE: ("Gold pass rate of {slice}", "verdicts"),
}

# The tests in words, for the meeting page and the Markdown (the stored `test` is the identifier).
TEST_NAMES = {
    "two_proportion_z": "two-proportion z test",
    "poisson_exact_conditional": "exact Poisson rate test",
    "mann_whitney_u": "Mann–Whitney U test",
}
_THUMBS_DOWN_KINDS = (ChangeKind.THUMBS_DOWN_SHARE, ChangeKind.SLICE_THUMBS_DOWN, ChangeKind.NEW_SLICE_THUMBS_DOWN)


def week_changes(*, project: Project, week: date) -> list[dict]:
    """The week's significant changes, biggest first (for the report, the meeting page and the API)."""
    return changes_of_weeks(project=project, weeks=[week])[week]


def changes_of_weeks(*, project: Project, weeks: list[date]) -> dict[date, list[dict]]:
    """`week_changes` of each of the weeks (one query)."""
    entries: dict[date, list[dict]] = {week: [] for week in weeks}
    rows = WeekChange.objects.filter(project=project, week__in=weeks).order_by("week", "rank")
    for week, *values in rows.values_list("week", *_FIELDS):
        row = dict(zip(_FIELDS, values, strict=True))
        entry = {**row, "slice": slice_name(row["dimension"], row["key"], row["value"])}
        entry["direction"] = "up" if row["effect"] > 0 else "down" if row["effect"] < 0 else "flat"
        entry["sentence"] = sentence(entry)
        entry["test_name"] = TEST_NAMES.get(row["test"], row["test"])
        entry["explore_query"] = explore_query(entry, week=week)
        entries[week].append(entry)
    return entries


def changes_of_week(*, project: Project, week: date) -> dict:
    """The week's changes as the meeting page shows them: frozen in the report of a closed week, else as stored by
    the last refresh. NotFound for a week that has not started."""
    if week > current_week(project):
        raise NotFound(f"Week {week_label(week)} has not started yet.")
    cycle = ReviewCycle.objects.filter(project=project, week=week).only("status", "report").first()
    closed = cycle is not None and cycle.status == CycleStatus.CLOSED
    frozen = closed and "changes" in (cycle.report or {})
    return {
        "project": project.slug,
        "week": week_label(week),
        "week_start": week,
        "status": CycleStatus.CLOSED if closed else CycleStatus.OPEN,
        "results": cycle.report["changes"] if frozen else week_changes(project=project, week=week),
    }


def slice_name(dimension: str, key: str, value: str) -> str:
    """The slice in words: "model gpt-next", "topic = returns", "event return_started", "all outputs"."""
    if dimension == ChangeDimension.OVERALL:
        return "all outputs"
    if dimension == ChangeDimension.EVENTS:
        return "all usage events"
    if dimension == ChangeDimension.METADATA:
        return f"{key} = {value}" if value else key
    if dimension == ChangeDimension.MODEL:
        return f"model {value or '(none)'}"
    return f"{'event' if dimension == ChangeDimension.EVENT else 'tag'} {value}"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.3g}"


def sentence(entry: dict) -> str:
    """A short sentence for the meeting: what moved, from what to what, with the counts behind it."""
    kind, moved = entry["kind"], "rose" if entry["effect"] > 0 else "fell"
    noun = "events" if entry["dimension"] in (ChangeDimension.EVENTS, ChangeDimension.EVENT) else "outputs"
    weeks = entry["baseline_weeks"]
    before = f"the {weeks} week{'s' if weeks != 1 else ''} before"
    if kind == ChangeKind.VOLUME:
        so_far, per = (" so far", "by this point of a week") if entry["partial"] else ("", "a week")
        return (
            f"{noun.capitalize()}: {entry['current_count']:,}{so_far} this week, {entry['direction']} "
            f"{abs(entry['relative'] or 0) * 100:.0f}% from {_number(entry['baseline'])} {per} in {before}."
        )
    if kind == ChangeKind.NEW_SLICE:
        return (
            f"New: {entry['slice']}, {entry['current_count']:,} {noun} this week ({_percent(entry['current'])}), "
            f"none in {before}."
        )
    if kind == ChangeKind.VANISHED_SLICE:
        return (
            f"Gone: {entry['slice']}, no {noun} this week; {entry['baseline_count']:,} in {before} "
            f"({_percent(entry['baseline'])})."
        )
    if kind in (ChangeKind.NEW_SLICE_THUMBS_DOWN, ChangeKind.NEW_SLICE_PASS_RATE):
        rate, unit = (
            ("Thumbs-down rate", "rated")
            if kind == ChangeKind.NEW_SLICE_THUMBS_DOWN
            else ("Gold pass rate", "verdicts")
        )
        return (
            f"{rate} of {entry['slice']} (new this week): {_percent(entry['current'])} "
            f"({entry['current_count']:,} of {entry['current_total']:,} {unit}), against "
            f"{_percent(entry['baseline'])} of all {noun} in {before} "
            f"({entry['baseline_count']:,} of {entry['baseline_total']:,})."
        )
    if kind in (ChangeKind.OUTPUT_LENGTH, ChangeKind.METADATA_MEDIAN):
        what = "output length (characters)" if kind == ChangeKind.OUTPUT_LENGTH else entry["key"]
        return (
            f"Median {what} {moved} from {_number(entry['baseline'])} to {_number(entry['current'])} "
            f"({entry['current_total']:,} {noun} this week, {entry['baseline_total']:,} in {before})."
        )
    title, unit = _PROPORTIONS[kind]
    title, unit = title.format(noun=noun, slice=entry["slice"]), unit.format(noun=noun)
    return (
        f"{title} {moved} from {_percent(entry['baseline'])} to {_percent(entry['current'])} "
        f"({entry['current_count']:,} of {entry['current_total']:,} {unit} this week, "
        f"{entry['baseline_count']:,} of {entry['baseline_total']:,} in {before})."
    )


def explore_query(entry: dict, *, week: date) -> str | None:
    """The explore page's query for the change's slice and week (the baseline weeks for a vanished slice)."""
    dimension, key, value, kind = entry["dimension"], entry["key"], entry["value"], entry["kind"]
    unnamed_model = dimension == ChangeDimension.MODEL and not value
    if unnamed_model:
        return None
    since, until = week_days(week)
    if kind == ChangeKind.VANISHED_SLICE:
        since, until = week - timedelta(weeks=entry["baseline_weeks"] or 1), week - timedelta(days=1)
    spec = ExploreFilter(
        since=since,
        until=until,
        models=(value,) if dimension == ChangeDimension.MODEL else (),
        events=(value,) if dimension == ChangeDimension.EVENT else (),
        has_event=True if dimension == ChangeDimension.EVENTS else None,
        tags=(value,) if dimension == ChangeDimension.TAG else (),
        metadata=((key, (value,)),) if dimension == ChangeDimension.METADATA and value else (),
        metadata_keys=(key,) if kind == ChangeKind.METADATA_MEDIAN else (),
        feedback=(-1,) if kind in _THUMBS_DOWN_KINDS else (),
        has_comment=True if kind == ChangeKind.COMMENT_SHARE else None,
        labeled=True if kind in (ChangeKind.SLICE_PASS_RATE, ChangeKind.NEW_SLICE_PASS_RATE) else None,
    )
    query = filter_query(spec)
    # Only a query the explore page reads back as this very filter: a key holding ":" or a value with spaces at
    # its ends would otherwise open another slice.
    try:
        return query if parse_filter(parse_qs(query)) == spec else None
    except InvalidFilter:
        return None
