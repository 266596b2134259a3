"""Quality statistics of gold answers: Wilson and t intervals, category shares, per-question summaries.

Pure functions: no database, so no django_db mark.
"""

import json
import math

import pytest

from labeling.metrics.quality import category_shares, mean_interval, question_quality, wilson_interval

BINARY = {"key": "ok", "kind": "binary", "options": [], "scale": None}
RATING = {"key": "tone", "kind": "rating", "options": [], "scale": [1, 5]}
CHOICE = {"key": "topic", "kind": "choice", "options": ["billing", "bug", "other"], "scale": None}
MULTI = {"key": "issues", "kind": "multi_choice", "options": ["rude", "wrong", "slow"], "scale": None}


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0000, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_interval_matches_newcombe_1998(successes, n, low, high):
    """Newcombe (1998), Statist. Med. 17:857-872, Table II, method 3 (Wilson score, no continuity correction).

    By hand for 81/263, z = 1.959964, z^2 = 3.841459:
    centre = (81 + z^2/2) / (263 + z^2) = 82.920729 / 266.841459 = 0.310750;
    half = z * sqrt(81 * 182 / 263 + z^2 / 4) / (263 + z^2) = 1.959964 * 7.550730 / 266.841459 = 0.055460;
    so 0.2553 to 0.3662.
    """
    ci_low, ci_high = wilson_interval(successes, n)
    assert ci_low == pytest.approx(low, abs=5e-5)
    assert ci_high == pytest.approx(high, abs=5e-5)
    assert isinstance(ci_low, float) and isinstance(ci_high, float)


def test_wilson_interval_widens_with_confidence():
    """A 99% interval holds the 95% one (z = 2.576 instead of 1.960)."""
    low95, high95 = wilson_interval(81, 263)
    low99, high99 = wilson_interval(81, 263, confidence=0.99)
    assert low99 < low95 < high95 < high99


@pytest.mark.parametrize(("successes", "n"), [(0, 0), (1, 0), (-1, 5), (6, 5)])
def test_wilson_interval_rejects_impossible_counts(successes, n):
    """n == 0 has no proportion; successes must lie in 0..n."""
    with pytest.raises(ValueError):
        wilson_interval(successes, n)


def test_mean_interval_matches_a_hand_computed_t_interval():
    """Values 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations 9+1+1+1+0+0+4+16 = 32, s^2 = 32/7,
    s = 2.138090, standard error s/sqrt(8) = 0.755929; t(0.975, df=7) = 2.364624 (any t table: 2.365);
    half-width 2.364624 * 0.755929 = 1.787489, so 3.2125 to 6.7875."""
    mean, low, high = mean_interval([2, 4, 4, 4, 5, 5, 7, 9])
    assert mean == 5.0
    assert low == pytest.approx(3.2125, abs=5e-5)
    assert high == pytest.approx(6.7875, abs=5e-5)


def test_mean_interval_of_two_values_uses_df_1():
    """Values 1 and 3: mean 2, s = sqrt(2), se = 1, t(0.975, df=1) = 12.7062 (t table): 2 ± 12.7062."""
    mean, low, high = mean_interval([1, 3])
    assert mean == 2.0
    assert low == pytest.approx(2 - 12.7062, abs=1e-4)
    assert high == pytest.approx(2 + 12.7062, abs=1e-4)


def test_mean_interval_of_one_value_has_no_interval():
    """With one value there is no spread to estimate: the interval is None."""
    assert mean_interval([4]) == (4.0, None, None)


def test_mean_interval_of_identical_values_has_zero_width():
    """All-equal values leave no uncertainty: low = mean = high (scipy would refuse a zero scale)."""
    assert mean_interval([3, 3, 3, 3]) == (3.0, 3.0, 3.0)


def test_mean_interval_of_nothing_is_an_error():
    """An empty list has no mean."""
    with pytest.raises(ValueError):
        mean_interval([])


def test_category_shares_lists_every_option_in_rubric_order():
    """Unused options appear with count 0; share = count / number of values."""
    shares = category_shares(["bug", "billing", "bug", "bug"], CHOICE["options"])
    assert list(shares) == ["billing", "bug", "other"]
    assert shares == {
        "billing": {"count": 1, "share": 0.25},
        "bug": {"count": 3, "share": 0.75},
        "other": {"count": 0, "share": 0.0},
    }


def test_category_shares_of_multi_choice_need_not_add_to_one():
    """A multi_choice value is a list; each option counts once per value, and shares can exceed 1 in sum."""
    shares = category_shares([["rude", "wrong"], ["wrong"], [], ["wrong", "wrong"]], MULTI["options"])
    assert shares == {
        "rude": {"count": 1, "share": 0.25},
        "wrong": {"count": 3, "share": 0.75},
        "slow": {"count": 0, "share": 0.0},
    }
    assert sum(entry["share"] for entry in shares.values()) == 1.0
    shares = category_shares([["rude", "wrong"], ["rude", "slow"]], MULTI["options"])
    assert sum(entry["share"] for entry in shares.values()) == 2.0


def test_category_shares_of_no_values_are_undefined():
    """With no values counts are 0 and shares None (0/0), never a division error."""
    assert category_shares([], ["a", "b"]) == {"a": {"count": 0, "share": None}, "b": {"count": 0, "share": None}}


def test_binary_quality_is_a_pass_rate_with_its_wilson_interval():
    """81 passes of 263 gold answers (None ignored): the Newcombe (1998) example again, 0.2553 to 0.3662."""
    gold = [True] * 81 + [False] * 182 + [None] * 7
    quality = question_quality(BINARY, gold)
    assert quality["n"] == 263
    assert quality["passes"] == 81
    assert quality["value"] == pytest.approx(81 / 263)
    assert quality["ci_low"] == pytest.approx(0.2553, abs=5e-5)
    assert quality["ci_high"] == pytest.approx(0.3662, abs=5e-5)
    assert quality["shares"] == {}
    json.dumps(quality)


def test_rating_quality_is_a_mean_with_its_t_interval():
    """Ratings 2, 4, 4, 4, 5, 5, 7, 9 (a median gold may be fractional): see the hand-computed interval above."""
    quality = question_quality(RATING, [2, 4, 4, 4, 5, 5, 7, 9, None])
    assert quality["n"] == 8
    assert quality["passes"] is None
    assert quality["value"] == 5.0
    assert quality["ci_low"] == pytest.approx(3.2125, abs=5e-5)
    assert quality["ci_high"] == pytest.approx(6.7875, abs=5e-5)
    assert quality["shares"] == {}
    assert question_quality(RATING, [3.5])["ci_low"] is None


@pytest.mark.parametrize(
    ("question", "gold", "expected"),
    [
        (CHOICE, ["bug", "bug", "other", None], {"billing": 0, "bug": 2, "other": 1}),
        (MULTI, [["rude"], ["rude", "slow"], []], {"rude": 2, "wrong": 0, "slow": 1}),
    ],
)
def test_choice_quality_is_shares_of_every_option(question, gold, expected):
    """choice / multi_choice: counts for every option, shares of the items with a gold value."""
    quality = question_quality(question, gold)
    n = len([value for value in gold if value is not None])
    assert quality["n"] == n
    assert quality["value"] is None and quality["ci_low"] is None and quality["ci_high"] is None
    assert quality["passes"] is None
    assert {option: entry["count"] for option, entry in quality["shares"].items()} == expected
    assert all(math.isclose(entry["share"], entry["count"] / n) for entry in quality["shares"].values())


@pytest.mark.parametrize("kind", ["text", "correction"])
def test_free_text_questions_have_no_quality(kind):
    """Text and corrections are read, not counted."""
    assert question_quality({"key": "why", "kind": kind, "options": [], "scale": None}, ["fine", "bad"]) is None


@pytest.mark.parametrize("question", [BINARY, RATING, CHOICE, MULTI])
def test_no_gold_answers_means_no_quality(question):
    """n == 0 (nothing or only ties) gives None, not a row of zeros."""
    assert question_quality(question, []) is None
    assert question_quality(question, [None, None]) is None


def test_unknown_kind_is_an_error():
    """A kind we do not know is a bug upstream, not a silent None."""
    with pytest.raises(ValueError, match="Unknown question kind"):
        question_quality({"key": "x", "kind": "slider"}, [1])
