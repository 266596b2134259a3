"""Agreement between experts: Krippendorff's alpha, Fleiss' kappa and pairwise Cohen's kappa.

Units are `Mapping[unit_id, Mapping[coder_id, value]]` (unit = item, coder = expert id); a None value
counts as no answer. Every value is coded as its position in the rubric's full category set, so an
unused rating value keeps its place on the scale. Pure functions over plain Python data; the counting
is done with numpy so a week of 10,000 items stays well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where it is used: a web process never loads it
    import numpy as np

Units = Mapping[Hashable, Mapping[Hashable, Any]]

LEVELS = ("nominal", "ordinal", "interval")
# Fewer items with two labels or more than this make no agreement figure: alpha over one item is 0 or undefined, and
# over a handful one label moves it by tenths. The same minimum as a week-over-week change's (the report's
# MIN_ITEMS_TO_COMPARE). The figures are still computed and served (flagged); the pages show none.
MIN_UNITS = 5
WEIGHTS = (None, "linear", "quadratic")


def too_few_units(units: int) -> bool:
    """Whether an agreement over this many items (with two labels or more) is too small a sample to mean anything."""
    return units < MIN_UNITS


# An expert's agreement with the gold answers over fewer items than this is no figure either, for the same reason: over
# 1 item it is 0% or 100%, over 4 one answer moves it by 25 points. The items it stands on are those of the question
# compared most (an expert answers each question of an item once). Still computed, stored and served (flagged); the
# pages show none.
MIN_GOLD_ITEMS = MIN_UNITS


def too_few_gold_items(items: int) -> bool:
    """Whether an expert's agreement with the gold over this many items is too small a sample to mean anything. Over
    none there is no agreement at all (no rate: "—"), not one over too few."""
    return 0 < items < MIN_GOLD_ITEMS


def level_for(question: dict) -> str | None:
    """Return alpha's level of measurement for a question kind, or None when it has no categories."""
    return {"binary": "nominal", "choice": "nominal", "rating": "ordinal"}.get(question["kind"])


def categories_for(question: dict) -> list:
    """Return the rubric's full category set: [False, True], the options, or every point of the scale."""
    kind = question["kind"]
    if kind == "binary":
        return [False, True]
    if kind == "choice":
        return list(question["options"])
    if kind == "rating":
        low, high = question["scale"]
        return list(range(low, high + 1))
    raise ValueError(f"A {kind} question has no category set.")


@dataclass(frozen=True)
class _Coded:
    """The pairable labels as flat arrays: unit index, coder index and category position of each."""

    unit: np.ndarray
    coder: np.ndarray
    code: np.ndarray
    n_units: int
    coders: list

    def matrix(self) -> np.ndarray:
        """Category positions as coders × units, -1 where a coder gave no value."""
        import numpy as np

        codes = np.full((len(self.coders), self.n_units), -1, dtype=np.int64)
        codes[self.coder, self.unit] = self.code
        return codes

    def counts(self, n_categories: int) -> np.ndarray:
        """Units × categories table of how many coders chose each category."""
        import numpy as np

        flat = np.bincount(self.unit * n_categories + self.code, minlength=self.n_units * n_categories)
        return flat.reshape(self.n_units, n_categories)


def _code(units: Units, categories: Sequence) -> _Coded:
    """Keep units with two or more values and code each value by its category position."""
    import numpy as np

    position = {category: i for i, category in enumerate(categories)}
    if len(position) != len(categories):
        raise ValueError(f"The categories repeat a value: {list(categories)!r}.")
    coder_index: dict = {}
    unit_ix: list[int] = []
    coder_ix: list[int] = []
    codes: list[int] = []
    n_units = 0
    for answers in units.values():
        given = [(coder, value) for coder, value in answers.items() if value is not None]
        if len(given) < 2:
            continue
        for coder, value in given:
            try:
                code = position[value]
            except (KeyError, TypeError):
                raise ValueError(f"{value!r} is not one of the categories {list(categories)!r}.") from None
            unit_ix.append(n_units)
            coder_ix.append(coder_index.setdefault(coder, len(coder_index)))
            codes.append(code)
        n_units += 1
    return _Coded(
        unit=np.asarray(unit_ix, dtype=np.int64),
        coder=np.asarray(coder_ix, dtype=np.int64),
        code=np.asarray(codes, dtype=np.int64),
        n_units=n_units,
        coders=list(coder_index),
    )


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def krippendorff_alpha(units: Units, *, level: str, categories: Sequence) -> float | None:
    """Return Krippendorff's alpha over the units with two or more values; None when undefined.

    Undefined means nothing pairable is left, fewer than two categories, or no variation at all (every
    pairable value the same: expected disagreement is 0, the package would give nan).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}.")
    return _alpha(_code(units, categories), level=level, categories=categories)


def _alpha(coded: _Coded, *, level: str, categories: Sequence) -> float | None:
    import numpy as np

    if coded.n_units == 0 or len(categories) < 2:
        return None
    if level == "interval":
        # Interval distances are differences of the values themselves (a gap on the scale is a real gap).
        domain = np.asarray(categories, dtype=np.float64)
    else:
        # Nominal compares identity and ordinal only ranks (weighted by how often the values in between
        # are used), so the positions 0..V-1 stand in for booleans and option strings.
        domain = np.arange(len(categories), dtype=np.float64)
    codes = coded.matrix()
    reliability_data = np.where(codes >= 0, domain[np.maximum(codes, 0)], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        import krippendorff  # imported when used: web workers that never compute alpha stay small

        alpha = krippendorff.alpha(reliability_data=reliability_data, level_of_measurement=level, value_domain=domain)
    return _finite(alpha)


def fleiss_kappa(units: Units, *, categories: Sequence) -> float | None:
    """Return Fleiss' kappa over the units with two or more ratings; None when undefined.

    With the same number of raters on every unit this is Fleiss (1971), computed by statsmodels. With a
    varying number statsmodels refuses, so we use the generalisation of Gwet (2014, Handbook of
    Inter-Rater Reliability, 4th ed., ch. 2; irrCAC's `fleiss.kappa.raw`): observed agreement is the mean
    over units of the share of agreeing rater pairs, sum_k r_ik (r_ik - 1) / (r_i (r_i - 1)); chance
    agreement is sum_k pi_k^2 with pi_k the mean over units of r_ik / r_i. Both reduce to Fleiss' formulas
    when every r_i is equal. (Gwet also averages single-rating units into pi_k; we leave them out, like
    alpha does, so all our statistics describe the same units.)
    """
    coded = _code(units, categories)
    return _fleiss(coded.counts(len(categories))) if coded.n_units else None


def _fleiss(table: np.ndarray) -> float | None:
    """Fleiss' kappa of a units × categories count table; Gwet's generalisation when raters vary."""
    import numpy as np
    from statsmodels.stats import inter_rater

    raters = table.sum(axis=1)
    if not (raters >= 2).any():
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        if (raters == raters[0]).all():
            return _finite(inter_rater.fleiss_kappa(table, method="fleiss"))
        return _finite(_gwet_fleiss(table))


def _gwet_fleiss(table: np.ndarray) -> float:
    """Gwet (2014) generalised Fleiss' kappa: agreement over units with 2+ ratings, chance over rated units."""
    raters = table.sum(axis=1)
    pairable = raters >= 2
    rated = raters >= 1
    observed = ((table * (table - 1)).sum(axis=1)[pairable] / (raters * (raters - 1))[pairable]).mean()
    expected = ((table[rated] / raters[rated, None]).mean(axis=0) ** 2).sum()
    return (observed - expected) / (1 - expected)


def _kappa_from_table(table: np.ndarray, weights: str | None) -> float | None:
    """Cohen's kappa of a square contingency table over the full category set; None when undefined."""
    import numpy as np

    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, not {weights!r}.")
    k = table.shape[0]
    if k < 2 or table.sum() < 1:
        return None
    from statsmodels.stats import inter_rater

    with np.errstate(divide="ignore", invalid="ignore"):
        if weights is None:
            kappa = inter_rater.cohens_kappa(table, return_results=False)
        else:
            # Category positions are the scores, so an unused middle value still widens the distance
            # between its neighbours (rating categories are consecutive integers: positions = values).
            kappa = inter_rater.cohens_kappa(table, weights=np.arange(k), wt=weights, return_results=False)
    return _finite(kappa)


def cohen_kappa(pairs: Sequence[tuple[Any, Any]], *, categories: Sequence, weights: str | None = None) -> float | None:
    """Return Cohen's kappa (unweighted, linear or quadratic) of paired values; None when undefined.

    The contingency table spans the full category set. Undefined: no pair, or chance agreement of 1
    (both coders always gave the one same category).
    """
    import numpy as np

    k = len(categories)
    position = {category: i for i, category in enumerate(categories)}
    table = np.zeros((k, k), dtype=np.float64)
    for a, b in pairs:
        try:
            table[position[a], position[b]] += 1
        except (KeyError, TypeError):
            raise ValueError(f"({a!r}, {b!r}) holds a value outside the categories {list(categories)!r}.") from None
    return _kappa_from_table(table, weights)


def pairwise_cohen(
    units: Units, *, categories: Sequence, weights: str | None = None, min_shared: int = 2
) -> list[dict]:
    """Return Cohen's kappa for each pair of coders sharing at least `min_shared` units, sorted by (a, b)."""
    return _pairwise(_code(units, categories), n_categories=len(categories), weights=weights, min_shared=min_shared)


def _pairwise(coded: _Coded, *, n_categories: int, weights: str | None, min_shared: int) -> list[dict]:
    import numpy as np

    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, not {weights!r}.")
    if coded.n_units == 0:
        return []
    codes = coded.matrix()
    present = codes >= 0
    # Shared units of every coder pair in one matrix product instead of a loop over pairs and units.
    shared = present.astype(np.int64) @ present.T.astype(np.int64)
    order = sorted(range(len(coded.coders)), key=lambda i: coded.coders[i])
    result = []
    for x, i in enumerate(order):
        for j in order[x + 1 :]:
            n = int(shared[i, j])
            if n < max(min_shared, 1):
                continue
            both = present[i] & present[j]
            cells = codes[i, both] * n_categories + codes[j, both]
            table = np.bincount(cells, minlength=n_categories * n_categories).reshape(n_categories, n_categories)
            kappa = _kappa_from_table(table.astype(np.float64), weights)
            result.append({"a": coded.coders[i], "b": coded.coders[j], "kappa": kappa, "n": n})
    return result


def question_agreement(question: dict, units: Units) -> dict | None:
    """Summarise agreement on one question over the units with two or more labels.

    None for text and correction (free text has no categories) and for multi_choice (a set of options
    per label; alpha and kappa need one category per label). Labels outside the rubric's category set
    (say an option a later rubric version dropped) are left out. `cohen_kappa` is the mean of the
    defined pairwise kappas, None if there is none.
    """
    level = level_for(question)
    if level is None:
        return None
    categories = categories_for(question)
    allowed = set(categories)
    kept = {
        unit: {coder: value for coder, value in answers.items() if value is not None and _in(value, allowed)}
        for unit, answers in units.items()
    }
    coded = _code(kept, categories)
    rating = question["kind"] == "rating"
    pairs = _pairwise(coded, n_categories=len(categories), weights="linear" if rating else None, min_shared=2)
    kappas = [pair["kappa"] for pair in pairs if pair["kappa"] is not None]
    return {
        "level": level,
        "units": coded.n_units,
        "labels": int(coded.code.size),
        "experts": len(coded.coders),
        "alpha": _alpha(coded, level=level, categories=categories),
        "alpha_interval": _alpha(coded, level="interval", categories=categories) if rating else None,
        "fleiss_kappa": _fleiss(coded.counts(len(categories))) if coded.n_units else None,
        "cohen_kappa": math.fsum(kappas) / len(kappas) if kappas else None,
        "pairs": pairs,
    }


def _in(value: Any, allowed: set) -> bool:
    try:
        return value in allowed
    except TypeError:  # an unhashable value (a list) is never a category
        return False


def gold_agreement(labels: Iterable[tuple[Any, Any, Any]], gold: Mapping[Any, Any]) -> dict[Any, dict]:
    """Count, per coder, the labels on units with a gold value and how many equal it exactly.

    A multi_choice answer (a list) equals the gold one when it holds the same options, in any order.
    """
    result: dict[Any, dict] = {}
    for coder, unit, value in labels:
        expected = gold.get(unit)
        if expected is None:
            continue
        tally = result.setdefault(coder, {"agree": 0, "compared": 0})
        tally["compared"] += 1
        if _same(value, expected):
            tally["agree"] += 1
    return result


def _same(value: Any, expected: Any) -> bool:
    if isinstance(value, list) and isinstance(expected, list):
        return sorted(map(str, value)) == sorted(map(str, expected))
    # True == 1 in Python: a boolean only equals a boolean.
    if isinstance(value, bool) or isinstance(expected, bool):
        return type(value) is type(expected) and value == expected
    return value == expected
