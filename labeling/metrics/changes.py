"""What changed: the tests behind a week's "what changed" list, and the Benjamini–Hochberg correction.

Pure functions over counts (no ORM). Each comparison is the cycle week ("current") against the pooled baseline
weeks before it; the service feeds the counts it aggregated in SQL. A comparison is only tested when both sides
have enough data (the MIN_* counts), and only listed when its q value is within the FDR and its effect is at least
the minimum effect of its kind (the effect alone never makes a change: a 3-output slice stays unlisted).

scipy and statsmodels are imported inside the functions: web workers import this package (the report reads the
stored rows), and only the close and the hourly refresh need the tests.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

# Minimum effects: smaller changes are real but not worth a meeting's minute.
# Rates and shares must move by 2 percentage points AND by 20 % of their baseline: 2 points alone would list
# a 40 % → 42 % drift; 20 % alone would list a 0.5 % → 0.6 % blip on a huge slice.
MIN_POINTS = 0.02
MIN_RELATIVE = 0.20
# Weekly volume swings by ±10 % with holidays and marketing; a fifth more or less is a change to look at.
MIN_VOLUME_RELATIVE = 0.20
# A median length or latency 10 % away from its baseline is visible to users (and to the bill).
MIN_MEDIAN_RELATIVE = 0.10

# Minimum counts per side, so that a handful of outputs is never "significant" (the z and Mann–Whitney
# approximations also need them).
MIN_TOTAL = 30  # outputs (or events) on each side before any share, volume or median is compared
MIN_SLICE_COUNT = 10  # a slice must hold (or be expected to hold) this many outputs this week to be compared
MIN_RATED = 20  # rated outputs of a slice, on each side, before its thumbs-down rate is compared (as MIN_GOLD)
MIN_GOLD = 20  # gold verdicts of a slice, on each side, before its pass rate is compared
MIN_VALUES = 30  # values on each side before a median is compared

# Numeric metadata values are compared rounded to this many significant digits (`significant`): a continuous key
# (latency in ms, tokens) would otherwise bring back one row per output. Rounded, a key has at most 900 distinct
# values per power of ten a side whatever the volume; Mann–Whitney's tie correction absorbs the ties, and the
# 0.5 % rounding is far below MIN_MEDIAN_RELATIVE.
SIGNIFICANT_DIGITS = 3


class Kind:
    """What a change is about (stored as `WeekChange.kind`)."""

    VOLUME = "volume"
    THUMBS_DOWN_SHARE = "thumbs_down_share"
    COMMENT_SHARE = "comment_share"
    OUTPUT_LENGTH = "output_length"
    METADATA_MEDIAN = "metadata_median"
    SLICE_SHARE = "slice_share"
    SLICE_THUMBS_DOWN = "slice_thumbs_down"
    SLICE_PASS_RATE = "slice_pass_rate"
    NEW_SLICE = "new_slice"
    VANISHED_SLICE = "vanished_slice"
    NEW_SLICE_THUMBS_DOWN = "new_slice_thumbs_down"  # against all outputs' rate in the baseline weeks
    NEW_SLICE_PASS_RATE = "new_slice_pass_rate"  # likewise


TWO_PROPORTION_Z = "two_proportion_z"
POISSON_EXACT = "poisson_exact_conditional"
MANN_WHITNEY = "mann_whitney_u"


@dataclass(frozen=True)
class Comparison:
    """One tested comparison of the current week with the baseline (figures as stored on `WeekChange`).

    Proportions: `current` = current_count / current_total (likewise for the baseline). Volume: `current` is the
    count, `baseline` the count expected from the baseline (mean per week, scaled to the elapsed share).
    Medians: `current`/`baseline` are the medians of current_total / baseline_total values.
    `effect` is current − baseline; `relative` is effect / baseline (None when the baseline is 0).
    """

    kind: str
    current: float
    baseline: float
    current_count: int
    current_total: int
    baseline_count: int
    baseline_total: int
    test: str
    statistic: float
    p_value: float
    effect: float
    relative: float | None
    big_enough: bool
    slice: dict = field(default_factory=dict)  # the caller's labels (dimension, key, value): carried through
    q_value: float | None = None

    @property
    def magnitude(self) -> float:
        """How big the change is, for ordering: new and vanished slices first, then by relative change."""
        if self.kind in (Kind.NEW_SLICE, Kind.VANISHED_SLICE) or self.relative is None:
            return math.inf
        return abs(self.relative)


def _relative(current: float, baseline: float) -> float | None:
    return (current - baseline) / baseline if baseline else None


def proportion_big_enough(current: float, baseline: float) -> bool:
    """A rate or share moved by at least MIN_POINTS and by at least MIN_RELATIVE of its baseline."""
    difference = abs(current - baseline)
    relative = _relative(current, baseline)
    return difference >= MIN_POINTS - 1e-12 and (relative is None or abs(relative) >= MIN_RELATIVE - 1e-12)


def compare_proportions(
    *, kind: str, current_count: int, current_total: int, baseline_count: int, baseline_total: int, min_total: int
) -> Comparison | None:
    """Two-proportion z test (pooled, two-sided) of current_count/current_total against the baseline's.

    The 2×2 table it tests is [[current_count, current_total − current_count], [baseline_count, …]]; its z² is the
    chi-square of that table without continuity correction. None when a side has fewer than `min_total`.
    """
    if current_total < min_total or baseline_total < min_total:
        return None
    from statsmodels.stats.proportion import proportions_ztest

    current, baseline = current_count / current_total, baseline_count / baseline_total
    if current_count + baseline_count in (0, current_total + baseline_total):
        statistic, p_value = 0.0, 1.0  # all or none on both sides: nothing can differ (and z is 0/0)
    else:
        z, p = proportions_ztest([current_count, baseline_count], [current_total, baseline_total])
        statistic, p_value = float(z), float(p)
    return Comparison(
        kind=kind,
        current=current,
        baseline=baseline,
        current_count=current_count,
        current_total=current_total,
        baseline_count=baseline_count,
        baseline_total=baseline_total,
        test=TWO_PROPORTION_Z,
        statistic=statistic,
        p_value=p_value,
        effect=current - baseline,
        relative=_relative(current, baseline),
        big_enough=proportion_big_enough(current, baseline),
    )


def compare_slice_share(
    *, current_count: int, current_total: int, baseline_count: int, baseline_total: int
) -> Comparison | None:
    """A slice's share of all outputs (or events): a new slice when the baseline never had it, vanished when the
    week has none, else its share. None when the slice is too small (fewer than MIN_SLICE_COUNT this week, and
    fewer expected from its baseline share) or a side has fewer than MIN_TOTAL in all."""
    if current_total < MIN_TOTAL or baseline_total < MIN_TOTAL:
        return None
    expected = baseline_count / baseline_total * current_total
    if max(current_count, expected) < MIN_SLICE_COUNT:
        return None
    kind = Kind.NEW_SLICE if baseline_count == 0 else Kind.VANISHED_SLICE if current_count == 0 else Kind.SLICE_SHARE
    comparison = compare_proportions(
        kind=kind,
        current_count=current_count,
        current_total=current_total,
        baseline_count=baseline_count,
        baseline_total=baseline_total,
        min_total=MIN_TOTAL,
    )
    if comparison is not None and kind != Kind.SLICE_SHARE:
        # Appearing or disappearing is the change itself, whatever its share.
        comparison = replace(comparison, big_enough=True)
    return comparison


def compare_volume(*, current_count: int, baseline_count: int, baseline_exposure: float) -> Comparison | None:
    """This week's count against the baseline's, as two Poisson rates: exact conditional test.

    `baseline_exposure` is how many current-week spans the baseline covers (4 full weeks → 4; while the week
    runs, the baseline is counted over the same elapsed share of each of its weeks, so it stays the number of
    baseline weeks). Given n = current + baseline, the current count is Binomial(n, 1 / (1 + exposure)) when the
    rates are equal. None without a baseline of MIN_TOTAL, or when neither this week nor a baseline week
    holds MIN_TOTAL.
    """
    if baseline_exposure <= 0:
        return None
    expected = baseline_count / baseline_exposure
    if baseline_count < MIN_TOTAL or max(current_count, expected) < MIN_TOTAL:
        return None
    # statsmodels' `test_poisson_2indep(method="exact-cond")` is this binomial test (its tests say so), but its
    # module takes 1.6 s to import, once per worker process: in a fresh process that was a fifth of the step.
    from scipy.stats import binomtest

    result = binomtest(current_count, current_count + baseline_count, 1 / (1 + baseline_exposure))
    relative = _relative(current_count, expected)
    return Comparison(
        kind=Kind.VOLUME,
        current=float(current_count),
        baseline=expected,
        current_count=current_count,
        current_total=current_count,
        baseline_count=baseline_count,
        baseline_total=baseline_count,
        test=POISSON_EXACT,
        # The exact test has no z: its statistic is the rate ratio it tests (1 when nothing changed).
        statistic=current_count / expected,
        p_value=_finite(result.pvalue),
        effect=current_count - expected,
        relative=relative,
        big_enough=relative is not None and abs(relative) >= MIN_VOLUME_RELATIVE - 1e-12,
    )


def compare_medians(
    *, kind: str, current: Sequence[tuple[float, int]], baseline: Sequence[tuple[float, int]]
) -> Comparison | None:
    """Mann–Whitney U (two-sided, asymptotic with tie correction) of the current week's values against the
    baseline's, each given as (value, how many times) pairs as SQL's GROUP BY returns them. The effect is the
    change of the median. None with fewer than MIN_VALUES on a side."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    current_values, baseline_values = _expand(current), _expand(baseline)
    if len(current_values) < MIN_VALUES or len(baseline_values) < MIN_VALUES:
        return None
    result = mannwhitneyu(current_values, baseline_values, alternative="two-sided", method="asymptotic")
    current_median, baseline_median = float(np.median(current_values)), float(np.median(baseline_values))
    relative = _relative(current_median, baseline_median)
    effect = current_median - baseline_median
    return Comparison(
        kind=kind,
        current=current_median,
        baseline=baseline_median,
        current_count=len(current_values),
        current_total=len(current_values),
        baseline_count=len(baseline_values),
        baseline_total=len(baseline_values),
        test=MANN_WHITNEY,
        statistic=float(result.statistic),
        p_value=_finite(result.pvalue),
        effect=effect,
        # A median moving away from 0 is a change of any size relative to 0.
        relative=relative,
        big_enough=(abs(relative) >= MIN_MEDIAN_RELATIVE - 1e-12) if relative is not None else effect != 0,
    )


def significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """`value` rounded to `digits` significant digits, halves away from zero (as PostgreSQL's numeric `round`)."""
    if value == 0 or not math.isfinite(value):
        return value
    exponent = math.floor(math.log10(abs(value)))
    step = Decimal(1).scaleb(exponent - digits + 1)
    # 15 significant digits, as PostgreSQL turns a float8 into numeric: 0.24449999999999994 is 0.2445 there, so
    # its half rounds up (repr's shortest form would round it down).
    return float(Decimal(f"{float(value):.15g}").quantize(step, rounding=ROUND_HALF_UP))


def _finite(p_value) -> float:
    # Identical values on both sides leave nothing to test (scipy answers NaN): no evidence of a change.
    return float(p_value) if math.isfinite(p_value) else 1.0


def _expand(pairs: Sequence[tuple[float, int]]):
    import numpy as np

    if not pairs:
        return np.array([], dtype=float)
    values, counts = zip(*pairs, strict=True)
    return np.repeat(np.asarray(values, dtype=float), np.asarray(counts, dtype=int))


def adjust(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """The comparisons with their Benjamini–Hochberg q values, computed over all of them together."""
    if not comparisons:
        return []
    from statsmodels.stats.multitest import multipletests

    _, q_values, _, _ = multipletests([c.p_value for c in comparisons], method="fdr_bh")
    return [replace(c, q_value=float(q)) for c, q in zip(comparisons, q_values, strict=True)]


def significant_changes(comparisons: Sequence[Comparison], *, fdr: float) -> list[Comparison]:
    """The changes to list: BH-adjusted over every comparison tried, q ≤ fdr and a big enough effect, biggest
    first (ties: smaller p, then the slice's labels, so the order never depends on the input's)."""
    listed = [c for c in adjust(comparisons) if c.q_value <= fdr and c.big_enough]
    return sorted(
        listed,
        key=lambda c: (
            -c.magnitude,
            c.p_value,
            c.kind,
            *(str(c.slice.get(name, "")) for name in ("dimension", "key", "value")),
        ),
    )


# From a week's counts to its comparisons --------------------------------------------------------------------------

# Slice dimensions (the values of models.ChangeDimension; metrics import no models).
OVERALL, EVENTS, MODEL, TAG, METADATA, EVENT = "overall", "events", "model", "tag", "metadata", "event"

ValueCounts = list[tuple[float, int]]  # (value, how many), as GROUP BY returns them


@dataclass
class Tally:
    """Counts of one slice per slot: slot 0 is the current week, 1… the baseline weeks. For gold verdicts, `outputs`
    counts the verdicts and `passes` the passing ones."""

    outputs: dict[int, int] = field(default_factory=dict)
    rated: dict[int, int] = field(default_factory=dict)
    down: dict[int, int] = field(default_factory=dict)
    commented: dict[int, int] = field(default_factory=dict)
    passes: dict[int, int] = field(default_factory=dict)

    def add(self, slot: int, outputs: int, rated: int = 0, down: int = 0, commented: int = 0, passes: int = 0):
        for counts, count in ((self.outputs, outputs), (self.rated, rated), (self.down, down),
                              (self.commented, commented), (self.passes, passes)):  # fmt: skip
            counts[slot] = counts.get(slot, 0) + count

    def total(self) -> int:
        return sum(self.outputs.values())


def current_of(counts: dict[int, int]) -> int:
    return counts.get(0, 0)


def baseline_of(counts: dict[int, int]) -> int:
    return sum(count for slot, count in counts.items() if slot > 0)


def weeks_with_data(counts: dict[int, int]) -> int:
    """Baseline weeks holding any row: a project younger than the baseline is compared with the weeks it has."""
    return sum(1 for slot, count in counts.items() if slot > 0 and count)


@dataclass
class WeekCounts:
    """What the service aggregates (in SQL) for a week and its baseline: the input of `week_comparisons`.

    `output_volume_baseline` / `event_volume_baseline` are the baseline counts to compare the week's volume with
    (over the same elapsed share of each baseline week while the week runs). `slices` are (dimension, key, value,
    tally) of models, tags and categorical metadata values, already capped; `verdicts` the gold verdicts per
    (dimension, key, value), the overall one under (OVERALL, "", "").
    """

    outputs: Tally = field(default_factory=Tally)
    output_volume_baseline: int = 0
    lengths: tuple[ValueCounts, ValueCounts] = ((), ())
    slices: list[tuple[str, str, str, Tally]] = field(default_factory=list)
    numbers: dict[str, tuple[ValueCounts, ValueCounts]] = field(default_factory=dict)
    verdicts: dict[tuple[str, str, str], Tally] = field(default_factory=dict)
    events: dict[int, int] = field(default_factory=dict)
    event_volume_baseline: int = 0
    event_names: list[tuple[str, Tally]] = field(default_factory=list)


def _sides(part: dict[int, int], whole: dict[int, int]) -> dict[str, int]:
    return {
        "current_count": current_of(part),
        "current_total": current_of(whole),
        "baseline_count": baseline_of(part),
        "baseline_total": baseline_of(whole),
    }


def _baseline_sides(part: dict[int, int], whole: dict[int, int]) -> dict[str, int]:
    return {"baseline_count": baseline_of(part), "baseline_total": baseline_of(whole)}


def _labelled(labels: dict, *comparisons: Comparison | None) -> list[Comparison]:
    return [replace(c, slice=labels) for c in comparisons if c is not None]


def week_comparisons(counts: WeekCounts) -> list[Comparison]:
    """Every comparison the week's counts allow (each labelled with its slice), ready for `significant_changes`.

    A stream (outputs, events) with no baseline at all is not compared: in a project's first week everything is new.
    """
    comparisons: list[Comparison] = []
    overall = counts.outputs
    if baseline_of(overall.outputs):
        volume = compare_volume(
            current_count=current_of(overall.outputs),
            baseline_count=counts.output_volume_baseline,
            baseline_exposure=weeks_with_data(overall.outputs),
        )
        comparisons += _labelled({"dimension": OVERALL}, volume)
        down, commented = _sides(overall.down, overall.rated), _sides(overall.commented, overall.outputs)
        comparisons += _labelled(
            {"dimension": OVERALL},
            compare_proportions(kind=Kind.THUMBS_DOWN_SHARE, **down, min_total=MIN_RATED),
            compare_proportions(kind=Kind.COMMENT_SHARE, **commented, min_total=MIN_TOTAL),
            compare_medians(kind=Kind.OUTPUT_LENGTH, current=counts.lengths[0], baseline=counts.lengths[1]),
        )
        new_slices = set()
        for dimension, key, value, tally in counts.slices:
            down = _sides(tally.down, tally.rated)
            if not baseline_of(tally.outputs):
                # A new model (say) has no rate of its own before: is its rate what all outputs had?
                new_slices.add((dimension, key, value))
                down = {**down, **_baseline_sides(overall.down, overall.rated)}
            kind = Kind.NEW_SLICE_THUMBS_DOWN if (dimension, key, value) in new_slices else Kind.SLICE_THUMBS_DOWN
            comparisons += _labelled(
                {"dimension": dimension, "key": key, "value": value},
                compare_slice_share(**_sides(tally.outputs, overall.outputs)),
                compare_proportions(kind=kind, **down, min_total=MIN_RATED),
            )
        for key, (current, baseline) in sorted(counts.numbers.items()):
            comparisons += _labelled(
                {"dimension": METADATA, "key": key},
                compare_medians(kind=Kind.METADATA_MEDIAN, current=current, baseline=baseline),
            )
        # The labeled sample adds no slices of its own: only those chosen from all outputs, and the overall rate.
        chosen = {(OVERALL, "", "")} | {(dimension, key, value) for dimension, key, value, _ in counts.slices}
        every_verdict = counts.verdicts.get((OVERALL, "", ""), Tally())
        for labels, tally in sorted(counts.verdicts.items()):
            if labels in chosen:
                passes, kind = _sides(tally.passes, tally.outputs), Kind.SLICE_PASS_RATE
                if labels in new_slices:
                    passes = {**passes, **_baseline_sides(every_verdict.passes, every_verdict.outputs)}
                    kind = Kind.NEW_SLICE_PASS_RATE
                comparisons += _labelled(
                    dict(zip(("dimension", "key", "value"), labels, strict=True)),
                    compare_proportions(kind=kind, **passes, min_total=MIN_GOLD),
                )
    # Each comparison names how many baseline weeks it pooled (weeks before a project's first row do not count).
    comparisons = [replace(c, slice={**c.slice, "weeks": weeks_with_data(overall.outputs)}) for c in comparisons]
    if baseline_of(counts.events):
        weeks = weeks_with_data(counts.events)
        volume = compare_volume(
            current_count=current_of(counts.events),
            baseline_count=counts.event_volume_baseline,
            baseline_exposure=weeks,
        )
        comparisons += _labelled({"dimension": EVENTS, "weeks": weeks}, volume)
        for name, tally in counts.event_names:
            comparisons += _labelled(
                {"dimension": EVENT, "value": name, "weeks": weeks},
                compare_slice_share(**_sides(tally.outputs, counts.events)),
            )
    return comparisons
