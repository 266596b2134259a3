"""The tests behind "what changed", checked against scipy and statsmodels on hand-made tables, the minimum effects
and counts, the Benjamini–Hochberg correction, and power / false discoveries on synthetic weeks (a fast version of
bench/changes_power.py)."""

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest, chi2_contingency, mannwhitneyu
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from labeling.metrics import changes
from labeling.metrics.changes import Kind, Tally, WeekCounts


def test_a_rate_is_a_two_proportion_z_test_on_its_two_by_two_table():
    # A slice's thumbs-down this week (45 of 300 rated) against its baseline (120 of 1,600).
    result = changes.compare_proportions(
        kind=Kind.SLICE_THUMBS_DOWN, current_count=45, current_total=300, baseline_count=120, baseline_total=1600,
        min_total=30,
    )  # fmt: skip

    z, p = proportions_ztest([45, 120], [300, 1600])
    chi2, chi2_p, _, _ = chi2_contingency([[45, 255], [120, 1480]], correction=False)
    assert (result.statistic, result.p_value) == (pytest.approx(z), pytest.approx(p))
    assert (result.statistic**2, result.p_value) == (pytest.approx(chi2), pytest.approx(chi2_p))
    assert (result.current, result.baseline, result.effect) == (0.15, 0.075, pytest.approx(0.075))
    assert result.relative == pytest.approx(1.0) and result.big_enough


def test_volume_is_the_exact_conditional_test_of_two_poisson_rates():
    result = changes.compare_volume(current_count=520, baseline_count=1600, baseline_exposure=4)

    # Given 2,120 rows, this week's share is Binomial(2120, 1/5) when the rate did not change.
    assert result.p_value == pytest.approx(binomtest(520, 2120, 1 / 5).pvalue)
    assert (result.current, result.baseline, result.statistic) == (520, 400, pytest.approx(1.3))
    assert result.relative == pytest.approx(0.3) and result.big_enough


def test_medians_are_compared_by_mann_whitney_on_the_grouped_values():
    current = [(100, 40), (180, 25), (250, 5)]
    baseline = [(90, 150), (120, 100), (200, 30)]

    result = changes.compare_medians(kind=Kind.OUTPUT_LENGTH, current=current, baseline=baseline)

    expanded = [np.repeat([v for v, _ in side], [n for _, n in side]) for side in (current, baseline)]
    expected = mannwhitneyu(*expanded, alternative="two-sided", method="asymptotic")
    assert (result.statistic, result.p_value) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue))
    assert (result.current, result.baseline) == (np.median(expanded[0]), np.median(expanded[1]))
    assert (result.current_total, result.baseline_total) == (70, 280)


@pytest.mark.parametrize(
    "value, rounded",
    [(1234.5, 1230), (1235, 1240), (-1245, -1250), (0.0012345, 0.00123), (987654, 988000), (5, 5), (0, 0),
     (999.96, 1000), (1e-300, 1e-300)],
)  # fmt: skip
def test_numbers_are_rounded_to_three_significant_digits_halves_away_from_zero(value, rounded):
    assert changes.significant(value) == rounded


def test_identical_values_on_both_sides_are_no_change_not_nan():
    result = changes.compare_medians(kind=Kind.METADATA_MEDIAN, current=[(5, 40)], baseline=[(5, 90)])
    assert result.p_value == 1.0 and not result.big_enough


@pytest.mark.parametrize(
    "current, baseline, big_enough",
    [
        (0.12, 0.10, True),  # +2 points, +20 %
        (0.115, 0.10, False),  # +1.5 points: too small however relative
        (0.42, 0.40, False),  # +2 points but +5 %
        (0.03, 0.0, True),  # from nothing: +3 points
        (0.005, 0.0, False),
    ],
)
def test_a_rate_must_move_two_points_and_a_fifth(current, baseline, big_enough):
    assert changes.proportion_big_enough(current, baseline) is big_enough


@pytest.mark.parametrize(
    "current_count, baseline_count, kind",
    [(3, 0, None), (9, 0, None), (10, 0, Kind.NEW_SLICE), (0, 200, Kind.VANISHED_SLICE), (0, 5, None), (60, 200, "x")],
)
def test_a_slice_is_compared_only_with_enough_outputs(current_count, baseline_count, kind):
    result = changes.compare_slice_share(
        current_count=current_count, current_total=500, baseline_count=baseline_count, baseline_total=2000
    )
    if kind is None:
        assert result is None
    else:
        assert result.kind == (Kind.SLICE_SHARE if kind == "x" else kind)
        if kind != "x":
            assert result.big_enough  # appearing or disappearing is the change itself


def test_too_few_rated_outputs_are_not_compared():
    assert changes.compare_proportions(
        kind=Kind.SLICE_THUMBS_DOWN, current_count=3, current_total=3, baseline_count=10, baseline_total=400,
        min_total=changes.MIN_RATED,
    ) is None  # fmt: skip


def test_benjamini_hochberg_matches_statsmodels_and_lists_the_biggest_first():
    made = [
        changes.compare_proportions(kind=Kind.SLICE_SHARE, current_count=c, current_total=1000, baseline_count=b,
                                    baseline_total=4000, min_total=30)
        for c, b in [(150, 400), (130, 400), (101, 400), (400, 1600), (60, 400)]
    ]  # fmt: skip
    made = [replace(c, slice={"dimension": "model", "value": str(i)}) for i, c in enumerate(made)]

    adjusted = changes.adjust(made)
    listed = changes.significant_changes(made, fdr=0.05)

    expected = multipletests([c.p_value for c in made], method="fdr_bh")[1]
    assert [c.q_value for c in adjusted] == pytest.approx(list(expected))
    assert all(c.q_value <= 0.05 and c.big_enough for c in listed)
    assert [c.slice["value"] for c in listed] == ["0", "4", "1"]  # +50 %, −40 %, +30 %; 1 % and 0 % unlisted


def test_week_comparisons_skip_a_stream_without_baseline():
    counts = WeekCounts()
    counts.outputs.add(0, 500, 100, 50)
    assert changes.week_comparisons(counts) == []


def test_week_comparisons_pool_only_the_baseline_weeks_with_data():
    counts = WeekCounts(outputs=Tally())
    counts.outputs.add(0, 600)
    counts.outputs.add(1, 300)
    counts.outputs.add(2, 300)  # the project is two weeks old
    counts.output_volume_baseline = 600

    [volume] = [c for c in changes.week_comparisons(counts) if c.kind == Kind.VOLUME]

    assert (volume.baseline, volume.relative, volume.slice["weeks"]) == (300, 1.0, 2)


def _bench():
    path = Path(__file__).resolve().parents[3] / "bench" / "changes_power.py"
    spec = importlib.util.spec_from_file_location("changes_power", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_planted_changes_are_found_and_null_weeks_stay_within_the_fdr():
    """bench/changes_power.py with 30 repetitions (the bench runs 200): power and false discoveries."""
    figures = _bench().run(30, seed=11)

    assert min(figures["power"].values()) >= 0.95
    # With nothing planted, any discovery is false: its rate (the FDR) must stay within q, with a binomial margin
    # for 30 draws (P(more than 4 of 30) < 0.06 at q = 0.05).
    assert figures["null_fdr_q_only"] <= 4 / 30
    assert figures["null_fdr"] <= figures["null_fdr_q_only"]
