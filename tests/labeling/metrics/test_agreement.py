"""Agreement statistics against published worked examples (each test names its source).

Pure functions: no database, so no django_db mark.
"""

import json
import random
import time

import krippendorff
import numpy as np
import pytest

from labeling.metrics import agreement
from labeling.metrics.agreement import (
    categories_for,
    cohen_kappa,
    fleiss_kappa,
    gold_agreement,
    krippendorff_alpha,
    level_for,
    pairwise_cohen,
    question_agreement,
)

BINARY = {"key": "ok", "kind": "binary", "options": [], "scale": None}
RATING = {"key": "tone", "kind": "rating", "options": [], "scale": [1, 5]}
CHOICE = {"key": "topic", "kind": "choice", "options": ["billing", "bug", "other"], "scale": None}

# Krippendorff (2011) "Computing Krippendorff's Alpha-Reliability", section C: 4 observers × 12 units,
# values 1-5, None = missing (unit 12 has a single value and is unpairable). Also irrCAC's cac.raw4raters.
K2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]

# Wikipedia "Krippendorff's alpha", computational example: 3 coders × 15 units (unit 2 and 14 uncoded,
# unit 1 coded once); also the krippendorff package's own test-suite (nominal 0.691358, interval 0.810845).
WIKI_ALPHA = [
    [None, None, None, None, None, 3, 4, 1, 2, 1, 1, 3, 3, None, 3],
    [1, None, 2, 1, 3, 3, 4, 3, None, None, None, None, None, None, None],
    [None, None, 2, 1, 3, 4, 4, None, 2, 1, 1, 3, 3, None, 4],
]

# Fleiss' kappa, Wikipedia "Fleiss' kappa" worked example: 10 subjects × 5 categories, 14 raters each.
WIKI_FLEISS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# irrCAC README, distrib.6raters: the first 15 patients of Fleiss (1971), 6 psychiatrists, 5 diagnoses.
IRRCAC_6RATERS = [
    [0, 0, 0, 6, 0],
    [0, 3, 0, 0, 3],
    [0, 1, 4, 0, 1],
    [0, 0, 0, 0, 6],
    [0, 3, 0, 3, 0],
    [2, 0, 4, 0, 0],
    [0, 0, 4, 0, 2],
    [2, 0, 3, 1, 0],
    [2, 0, 0, 4, 0],
    [0, 0, 0, 0, 6],
    [1, 0, 0, 5, 0],
    [1, 1, 0, 4, 0],
    [0, 3, 3, 0, 0],
    [1, 0, 0, 5, 0],
    [0, 2, 0, 3, 1],
]

# R package irr, dataset `anxiety` (20 subjects rated 1-6), raters 2 and 3 as printed by irr and recorded
# in statsmodels' test-suite (statsmodels/stats/tests/test_inter_rater.py). Neither rater used 5.
ANXIETY_RATER2 = [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4]
ANXIETY_RATER3 = [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]


def units_from_rows(rows):
    """Coders × units rows (None = missing) → {unit: {coder: value}}."""
    units = {}
    for coder, row in enumerate(rows):
        for unit, value in enumerate(row):
            if value is not None:
                units.setdefault(unit, {})[f"c{coder}"] = value
    return units


def units_from_counts(table, categories):
    """Units × categories counts → {unit: {rater: category}}, raters numbered within each unit."""
    units = {}
    for unit, counts in enumerate(table):
        values = [category for category, count in zip(categories, counts, strict=True) for _ in range(count)]
        units[unit] = {f"r{rater}": value for rater, value in enumerate(values)}
    return units


def table_pairs(table, categories):
    """A published contingency table (rows = coder A, columns = coder B) → the list of (a, b) pairs."""
    return [
        (a, b)
        for a, row in zip(categories, table, strict=True)
        for b, n in zip(categories, row, strict=True)
        for _ in range(n)
    ]


def weighted_kappa_by_definition(pairs, scores, power):
    """Cohen (1968): kappa_w = 1 - sum(w * observed) / sum(w * expected), w = |score_i - score_j| ** power."""
    index = {score: i for i, score in enumerate(scores)}
    observed = np.zeros((len(scores), len(scores)))
    for a, b in pairs:
        observed[index[a], index[b]] += 1
    observed /= observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    w = np.abs(np.subtract.outer(np.asarray(scores, float), np.asarray(scores, float))) ** power
    return 1 - (w * observed).sum() / (w * expected).sum()


# --- question helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "level", "categories"),
    [
        (BINARY, "nominal", [False, True]),
        (CHOICE, "nominal", ["billing", "bug", "other"]),
        (RATING, "ordinal", [1, 2, 3, 4, 5]),
    ],
)
def test_level_and_categories_follow_the_rubric(question, level, categories):
    """binary/choice are nominal, ratings ordinal; the category set is the rubric's, used or not."""
    assert level_for(question) == level
    assert categories_for(question) == categories


@pytest.mark.parametrize("kind", ["text", "correction", "multi_choice"])
def test_free_text_and_multi_choice_have_no_level(kind):
    """These kinds get no alpha level (see question_agreement)."""
    assert level_for({"key": "x", "kind": kind, "options": ["a"], "scale": None}) is None


# --- Krippendorff's alpha ---------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_matches_krippendorff_2011_with_missing_values(level, expected):
    """Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C (4 observers, 12 units,
    missing values): nominal α = 0.743, ordinal 0.815, interval 0.849. The nominal value is also irrCAC's
    published krippen.alpha.raw(cac.raw4raters) = 0.74342; ordinal 0.815 is in the krippendorff package's
    test-suite (test_ordinal_metric)."""
    alpha = krippendorff_alpha(units_from_rows(K2011), level=level, categories=[1, 2, 3, 4, 5])
    assert round(alpha, 3) == expected


@pytest.mark.parametrize(("level", "expected"), [("nominal", 0.691), ("interval", 0.811)])
def test_alpha_matches_wikipedia_example_with_missing_and_single_values(level, expected):
    """Wikipedia "Krippendorff's alpha" example (3 coders × 15 units, unit 1 coded once, units 2 and 14 not
    at all): nominal 0.691, interval 0.811 (krippendorff package test-suite: 0.691358 and 0.810845)."""
    alpha = krippendorff_alpha(units_from_rows(WIKI_ALPHA), level=level, categories=[1, 2, 3, 4])
    assert round(alpha, 3) == expected


def test_alpha_matches_krippendorff_binary_example():
    """Krippendorff (2011), section A, binary data, 2 observers × 10 units:
    A = 0 1 0 0 0 0 0 0 1 0, B = 1 1 1 0 0 1 0 0 0 0. Coincidences: o00 = 10, o01 = o10 = 4, o11 = 2;
    n0 = 14, n1 = 6, n = 20. α = 1 - (n - 1) o01 / (n0 n1) = 1 - 19 · 4 / (14 · 6) = 1 - 76/84 = 0.095."""
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    units = {u: {"A": bool(x), "B": bool(y)} for u, (x, y) in enumerate(zip(a, b, strict=True))}
    alpha = krippendorff_alpha(units, level="nominal", categories=[False, True])
    assert round(alpha, 3) == 0.095
    assert alpha == pytest.approx(1 - 76 / 84)


def test_alpha_passes_the_full_rating_scale_as_value_domain(monkeypatch):
    """The explicit domain is what the package gets: the full scale 1..5 (interval: the values themselves)
    even though nobody used 5, and positions 0..4 for ordinal (ordinal distances use ranks only)."""
    seen = []
    real = krippendorff.alpha

    def spy(**kwargs):
        seen.append(kwargs["value_domain"].tolist())
        return real(**kwargs)

    monkeypatch.setattr(krippendorff, "alpha", spy)  # the module agreement.py imports when it computes
    used_1_to_4 = [[v if v != 5 else 4 for v in row] for row in K2011]
    krippendorff_alpha(units_from_rows(used_1_to_4), level="interval", categories=[1, 2, 3, 4, 5])
    krippendorff_alpha(units_from_rows(used_1_to_4), level="ordinal", categories=[1, 2, 3, 4, 5])
    assert seen == [[1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 1.0, 2.0, 3.0, 4.0]]


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_an_unused_rating_value_does_not_move_alpha(level):
    """Krippendorff's ordinal difference is (sum of n_g for g from c to k - (n_c + n_k)/2)^2 (Krippendorff
    2011, section C): a value nobody used has n_g = 0, so it adds nothing. Nominal and interval differences
    only involve used values. So the same data give the same alpha on 1..4 and on 1..5 — the brief
    expected ordinal alpha to change; Krippendorff's definition (and the package) say it does not."""
    rows = [[v if v != 5 else 4 for v in row] for row in K2011]
    units = units_from_rows(rows)
    on_1_to_4 = krippendorff_alpha(units, level=level, categories=[1, 2, 3, 4])
    on_1_to_5 = krippendorff_alpha(units, level=level, categories=[1, 2, 3, 4, 5])
    assert on_1_to_5 == pytest.approx(on_1_to_4, abs=1e-12)


def test_interval_alpha_keeps_a_gap_on_the_scale():
    """Ratings 1, 2, 4, 5 on a 1..5 scale (3 unused): interval distances are the values' differences, so
    2 and 4 are 2 apart, not neighbours. Our alpha equals the package on the raw values, and differs from
    the alpha of the same data squeezed onto 1..4 (which would make 2 and 4 adjacent)."""
    rows = [[{3: 4, 4: 5, 5: 5}.get(v, v) if v is not None else None for v in row] for row in K2011]
    ours = krippendorff_alpha(units_from_rows(rows), level="interval", categories=[1, 2, 3, 4, 5])
    raw = [[np.nan if v is None else v for v in row] for row in rows]
    assert ours == pytest.approx(krippendorff.alpha(reliability_data=raw, level_of_measurement="interval"))
    squeezed = [[{4: 3, 5: 4}.get(v, v) if v is not None else None for v in row] for row in rows]
    assert ours != pytest.approx(
        krippendorff_alpha(units_from_rows(squeezed), level="interval", categories=[1, 2, 3, 4]), abs=1e-3
    )


def test_alpha_ignores_units_with_one_value():
    """Units with fewer than two values are unpairable and left out: adding some changes nothing."""
    units = units_from_rows(K2011)
    before = krippendorff_alpha(units, level="nominal", categories=[1, 2, 3, 4, 5])
    units.update({f"solo{i}": {"c9": 1 + i % 5} for i in range(20)})
    assert krippendorff_alpha(units, level="nominal", categories=[1, 2, 3, 4, 5]) == before


@pytest.mark.parametrize(
    "units",
    [
        {},
        {1: {"a": 3}, 2: {"a": 4}, 3: {"a": 2}},  # a single coder: nothing pairable
        {1: {"a": 3, "b": None}, 2: {"b": 4}},  # None is no answer
        {1: {"a": 3, "b": 3}, 2: {"a": 3, "b": 3, "c": 3}},  # no variation: expected disagreement 0
    ],
)
def test_alpha_is_none_when_undefined(units):
    """Nothing pairable, or every pairable value the same (the package returns nan: 0/0), gives None."""
    for level in ("nominal", "ordinal", "interval"):
        assert krippendorff_alpha(units, level=level, categories=[1, 2, 3, 4, 5]) is None


def test_alpha_is_one_for_perfect_agreement_with_variation():
    """Krippendorff package test_perfect_agreement: identical coders over varied values give 1."""
    units = {u: {"a": v, "b": v, "c": v} for u, v in enumerate([1, 2, 3, 4])}
    assert krippendorff_alpha(units, level="ordinal", categories=[1, 2, 3, 4, 5]) == 1.0


def test_alpha_rejects_values_and_levels_it_cannot_place():
    """A value outside the category set, or an unknown level, is a clear ValueError."""
    with pytest.raises(ValueError, match="not one of the categories"):
        krippendorff_alpha({1: {"a": 6, "b": 1}}, level="ordinal", categories=[1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="level must be one of"):
        krippendorff_alpha({1: {"a": 1, "b": 1}}, level="ratio", categories=[1, 2])


# --- Fleiss' kappa ----------------------------------------------------------------------------------


def test_fleiss_kappa_matches_wikipedia_example():
    """Wikipedia "Fleiss' kappa" worked example (10 subjects, 14 raters, 5 categories): P̄ = 0.378,
    P̄e = 0.213, κ = 0.210 (also statsmodels' test_fleiss_kappa)."""
    units = units_from_counts(WIKI_FLEISS, [1, 2, 3, 4, 5])
    assert round(fleiss_kappa(units, categories=[1, 2, 3, 4, 5]), 3) == 0.210


def test_fleiss_kappa_matches_irrcac_distrib_6raters():
    """irrCAC README: fleiss.kappa.dist(distrib.6raters) = 0.4139265 (Fleiss 1971 data, first 15 patients),
    with string categories, one of which (Depression) is a column like any other."""
    categories = ["Depression", "Personality Disorder", "Schizophrenia", "Neurosis", "Other"]
    units = units_from_counts(IRRCAC_6RATERS, categories)
    assert round(fleiss_kappa(units, categories=categories), 4) == 0.4139


def test_generalised_fleiss_equals_fleiss_1971_when_raters_are_constant():
    """Gwet's generalisation reduces to Fleiss (1971) when every unit has the same number of raters:
    on the Wikipedia table it gives the same 0.210 as statsmodels' Fleiss."""
    table = np.asarray(WIKI_FLEISS, dtype=float)
    assert agreement._gwet_fleiss(table) == pytest.approx(0.20993, abs=5e-6)
    assert agreement._gwet_fleiss(np.asarray(IRRCAC_6RATERS, float)) == pytest.approx(0.4139265, abs=5e-8)


def test_fleiss_kappa_with_a_varying_number_of_raters():
    """Krippendorff's 2011 data (2, 3 or 4 raters per unit). Units 1-11 are pairable; unit 12 (one rating)
    is left out. Observed agreement (Gwet 2014): 8 unanimous units + 0.5 (unit 2: 3·2/(4·3)) + 0 (unit 6)
    + 0.5 (unit 8) = 9/11 = 0.8181818 — irrCAC's published pa for cac.raw4raters. Chance: pi_k = mean over
    the 11 units of r_ik / r_i = (3, 3.25, 2.5, 1.25, 1) / 11, P_e = 28.375 / 121 = 0.234504.
    κ = (99/121 - 28.375/121) / (92.625/121) = 70.625 / 92.625 = 0.762."""
    kappa = fleiss_kappa(units_from_rows(K2011), categories=[1, 2, 3, 4, 5])
    assert kappa == pytest.approx(70.625 / 92.625)
    assert round(kappa, 3) == 0.762


def test_generalised_fleiss_matches_irrcac_when_single_ratings_feed_chance():
    """irrCAC README, fleiss.kappa.raw(cac.raw4raters): pa = 0.8181818, pe = 0.2387153, κ = 0.76117.
    Gwet averages unit 12's lone rating into pi_k: (3, 3.25, 3.5, 1.25, 1) / 12, P_e = 34.375/144.
    Our formula on the full table (unit 12 included) reproduces it; fleiss_kappa() itself leaves such
    units out, like alpha, so both describe the same units (0.762 above)."""
    rows = np.asarray([[np.nan if v is None else v for v in row] for row in K2011], float).T
    table = np.stack([(rows == k).sum(axis=1) for k in range(1, 6)], axis=1).astype(float)
    assert round(agreement._gwet_fleiss(table), 5) == 0.76117


@pytest.mark.parametrize(
    "units",
    [
        {},
        {1: {"a": 1}, 2: {"b": 2}},  # no unit with two ratings
        {1: {"a": 2, "b": 2}, 2: {"a": 2, "b": 2, "c": 2}},  # one category only: chance agreement 1
        {1: {"a": 2, "b": 2}, 2: {"a": 2, "b": 2}},  # the same with constant raters (statsmodels path)
    ],
)
def test_fleiss_kappa_is_none_when_undefined(units):
    """No pairable unit, or expected agreement 1 (0/0), gives None."""
    assert fleiss_kappa(units, categories=[1, 2, 3]) is None


# --- Cohen's kappa ----------------------------------------------------------------------------------


def test_cohen_kappa_matches_wikipedia_example():
    """Wikipedia "Cohen's kappa": 50 proposals, yes/yes 20, yes/no 5, no/yes 10, no/no 15.
    p_o = 35/50 = 0.7, p_e = 0.5 · 0.6 + 0.5 · 0.4 = 0.5, κ = (0.7 - 0.5) / 0.5 = 0.4."""
    pairs = [(True, True)] * 20 + [(True, False)] * 5 + [(False, True)] * 10 + [(False, False)] * 15
    assert cohen_kappa(pairs, categories=[False, True]) == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("table", "weights", "expected", "source"),
    [
        ([[13, 0, 0], [0, 20, 7], [0, 4, 56]], None, 0.7964094, "irrCAC README kappa2.table(cont3x3abstractors)"),
        ([[10, 4, 1, 0], [5, 10, 12, 2], [2, 4, 12, 5], [0, 2, 6, 13]], None, 0.3449, "SAS PROC FREQ skin data"),
        ([[0, 4, 1], [0, 8, 0], [0, 1, 5]], None, 0.4842, "SAS printout in statsmodels' test-suite"),
        ([[0, 4, 1], [0, 8, 0], [0, 1, 5]], "linear", 0.4701, "SAS printout (Cicchetti-Allison weights)"),
    ],
)
def test_cohen_kappa_matches_published_tables(table, weights, expected, source):
    """Published contingency tables: irrCAC README (Cohen's kappa 0.7964094); SAS/STAT PROC FREQ
    "Agreement Study" skin-condition data (simple kappa 0.3449); the SAS printout statsmodels checks
    against (simple 0.4842, weighted with linear / Cicchetti-Allison weights 0.4701)."""
    categories = list(range(len(table)))
    kappa = cohen_kappa(table_pairs(table, categories), categories=categories, weights=weights)
    assert kappa == pytest.approx(expected, abs=5e-5), source


@pytest.mark.parametrize(
    ("weights", "expected"), [(None, -0.006289308), ("linear", 0.1459075), ("quadratic", 0.2520325)]
)
def test_cohen_kappa_matches_irr_on_the_categories_irr_keeps(weights, expected):
    """R irr::kappa2(anxiety[, 2:3], w) = -0.006289308 (unweighted), 0.1459075 ("equal" = linear),
    0.2520325 ("squared" = quadratic), as recorded in statsmodels' test-suite. irr drops the unused
    level 5 and works on 1, 2, 3, 4, 6 as five equally spaced categories: so do we, given that set."""
    pairs = list(zip(ANXIETY_RATER2, ANXIETY_RATER3, strict=True))
    assert cohen_kappa(pairs, categories=[1, 2, 3, 4, 6], weights=weights) == pytest.approx(expected, abs=5e-7)


@pytest.mark.parametrize(("weights", "power"), [("linear", 1), ("quadratic", 2)])
def test_an_unused_rating_value_shapes_weighted_kappa(weights, power):
    """On the full scale 1..6 the unused 5 stays between 4 and 6 (they are 2 apart, not neighbours), so the
    weighted kappa differs from irr's reduced-set value; it equals Cohen's (1968) definition computed with
    the ratings themselves as scores. Unweighted kappa does not care (an empty row and column)."""
    pairs = list(zip(ANXIETY_RATER2, ANXIETY_RATER3, strict=True))
    full = cohen_kappa(pairs, categories=[1, 2, 3, 4, 5, 6], weights=weights)
    reduced = cohen_kappa(pairs, categories=[1, 2, 3, 4, 6], weights=weights)
    assert full == pytest.approx(weighted_kappa_by_definition(pairs, [1, 2, 3, 4, 5, 6], power))
    assert abs(full - reduced) > 1e-3
    assert cohen_kappa(pairs, categories=[1, 2, 3, 4, 5, 6]) == pytest.approx(
        cohen_kappa(pairs, categories=[1, 2, 3, 4, 6])
    )


def test_an_unused_end_value_does_not_change_weighted_kappa():
    """Linear and quadratic weights are scaled by the range, and kappa_w is scale-free: adding an unused
    value at the end of the scale (1..7 instead of 1..6) leaves it unchanged — only gaps inside matter."""
    pairs = list(zip(ANXIETY_RATER2, ANXIETY_RATER3, strict=True))
    for weights in ("linear", "quadratic"):
        assert cohen_kappa(pairs, categories=list(range(1, 8)), weights=weights) == pytest.approx(
            cohen_kappa(pairs, categories=list(range(1, 7)), weights=weights)
        )


@pytest.mark.parametrize(
    "pairs",
    [[], [(3, 3)], [(3, 3), (3, 3), (3, 3)]],
)
@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_is_none_when_undefined(pairs, weights):
    """No pair, or chance agreement 1 (both coders always gave the same one category), gives None."""
    assert cohen_kappa(pairs, categories=[1, 2, 3, 4, 5], weights=weights) is None


def test_cohen_kappa_rejects_bad_input():
    """Unknown weights or a value outside the category set are clear ValueErrors."""
    with pytest.raises(ValueError, match="weights must be one of"):
        cohen_kappa([(1, 2), (2, 1)], categories=[1, 2], weights="cubic")
    with pytest.raises(ValueError, match="outside the categories"):
        cohen_kappa([(1, 9)], categories=[1, 2])


# --- pairwise Cohen, question summaries, gold agreement ---------------------------------------------


def test_pairwise_cohen_lists_pairs_with_enough_shared_units_sorted():
    """Each pair of coders sharing ≥ min_shared units, sorted by (a, b), with the kappa of just those units."""
    units = {
        1: {"bea": 1, "al": 1, "cy": 2},
        2: {"bea": 2, "al": 2, "cy": 2},
        3: {"bea": 3, "al": 2},
        4: {"al": 3, "cy": 3},
        5: {"dee": 1, "al": 1},
    }
    pairs = pairwise_cohen(units, categories=[1, 2, 3])
    assert [(p["a"], p["b"], p["n"]) for p in pairs] == [("al", "bea", 3), ("al", "cy", 3), ("bea", "cy", 2)]
    al_bea = [(1, 1), (2, 2), (2, 3)]
    assert pairs[0]["kappa"] == pytest.approx(cohen_kappa(al_bea, categories=[1, 2, 3]))
    al_cy = [(1, 2), (2, 2), (3, 3)]
    assert pairs[1]["kappa"] == pytest.approx(cohen_kappa(al_cy, categories=[1, 2, 3]))
    assert [p["b"] for p in pairwise_cohen(units, categories=[1, 2, 3], min_shared=1)] == ["bea", "cy", "dee", "cy"]
    assert pairwise_cohen(units, categories=[1, 2, 3], min_shared=4) == []


def test_question_agreement_on_a_rating():
    """Ratings: ordinal alpha, interval alpha, Fleiss, linear-weighted pairwise Cohen and their mean,
    counted over the units with two or more labels (the Krippendorff 2011 data: 11 units, 40 labels)."""
    units = units_from_rows(K2011)
    units["lonely"] = {"c0": 5}
    result = question_agreement(RATING, units)
    assert result["level"] == "ordinal"
    assert (result["units"], result["labels"], result["experts"]) == (11, 40, 4)
    assert round(result["alpha"], 3) == 0.815
    assert round(result["alpha_interval"], 3) == 0.849
    assert result["fleiss_kappa"] == pytest.approx(70.625 / 92.625)
    assert [(p["a"], p["b"]) for p in result["pairs"]] == [
        ("c0", "c1"),
        ("c0", "c2"),
        ("c0", "c3"),
        ("c1", "c2"),
        ("c1", "c3"),
        ("c2", "c3"),
    ]
    c0_c3 = [(a, b) for a, b in zip(K2011[0], K2011[3], strict=True) if a is not None and b is not None]
    assert result["pairs"][2]["kappa"] == pytest.approx(
        cohen_kappa(c0_c3, categories=[1, 2, 3, 4, 5], weights="linear")
    )
    assert result["cohen_kappa"] == pytest.approx(sum(p["kappa"] for p in result["pairs"]) / 6)
    json.dumps(result)


def test_question_agreement_on_a_binary_question():
    """Binary: nominal alpha (Krippendorff's binary example, 0.095), no interval alpha, unweighted kappa."""
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    units = {u: {7: bool(x), 3: bool(y)} for u, (x, y) in enumerate(zip(a, b, strict=True))}
    result = question_agreement(BINARY, units)
    assert result["level"] == "nominal"
    assert result["alpha_interval"] is None
    assert round(result["alpha"], 3) == 0.095
    assert [(p["a"], p["b"], p["n"]) for p in result["pairs"]] == [(3, 7, 10)]
    pairs = list(zip([bool(y) for y in b], [bool(x) for x in a], strict=True))
    assert result["cohen_kappa"] == pytest.approx(cohen_kappa(pairs, categories=[False, True]))


def test_question_agreement_leaves_out_values_outside_the_rubric():
    """A label holding an option this rubric version no longer has is left out, not an error."""
    units = {1: {"a": "bug", "b": "bug"}, 2: {"a": "billing", "b": "legacy"}, 3: {"a": "other", "b": "bug"}}
    result = question_agreement(CHOICE, units)
    assert (result["units"], result["labels"], result["experts"]) == (2, 4, 2)


def test_question_agreement_with_no_pairable_units():
    """Single labels only: counts are 0 and every statistic None."""
    result = question_agreement(CHOICE, {1: {"a": "bug"}, 2: {"b": "other"}})
    assert result == {
        "level": "nominal",
        "units": 0,
        "labels": 0,
        "experts": 0,
        "alpha": None,
        "alpha_interval": None,
        "fleiss_kappa": None,
        "cohen_kappa": None,
        "pairs": [],
    }


@pytest.mark.parametrize("kind", ["text", "correction", "multi_choice"])
def test_question_agreement_skips_kinds_without_one_category_per_label(kind):
    """Free text has no categories; a multi_choice label is a set of options, not one category."""
    units = {1: {"a": ["x"], "b": ["x"]}, 2: {"a": ["y"], "b": ["x", "y"]}}
    assert question_agreement({"key": "k", "kind": kind, "options": ["x", "y"], "scale": None}, units) is None


def test_question_agreement_is_fast_on_a_large_week():
    """10,000 items × 3 labels from 16 experts: well under a second (best of two runs on a busy machine)."""
    rng = random.Random(20)
    units = {}
    for unit in range(10_000):
        truth = rng.randint(1, 5)
        units[unit] = {c: min(5, max(1, truth + rng.choice((-1, 0, 0, 0, 1)))) for c in rng.sample(range(16), 3)}
    timings = []
    for _ in range(2):
        start = time.perf_counter()
        result = question_agreement(RATING, units)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 1.0, timings
    assert (result["units"], result["labels"], result["experts"], len(result["pairs"])) == (10_000, 30_000, 16, 120)
    assert 0.5 < result["alpha"] < 1 and 0.5 < result["alpha_interval"] < 1


def test_gold_agreement_counts_exact_matches_per_expert():
    """Only units with a gold value are compared; equality is exact (True is not 1), lists in any order."""
    gold = {1: True, 2: False, 3: 4, 4: ["rude", "slow"], 5: None}
    labels = [
        ("ann", 1, True),
        ("ann", 2, True),
        ("ann", 3, 4),
        ("ann", 9, True),
        ("ann", 5, True),
        ("bob", 1, 1),
        ("bob", 4, ["slow", "rude"]),
        ("bob", 3, 4.0),
    ]
    assert gold_agreement(labels, gold) == {"ann": {"agree": 2, "compared": 3}, "bob": {"agree": 2, "compared": 3}}
    assert gold_agreement([], gold) == {}
