"""Quality of a week's gold answers: pass rates, mean ratings and category shares, with intervals.

Pure functions over plain Python values; results are JSON-serialisable floats, ints and None.
"""

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Return the Wilson score interval (without continuity correction) for successes out of n."""
    if n <= 0:
        raise ValueError("A proportion needs at least one observation (n > 0).")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie between 0 and n ({n}), not {successes}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, not {confidence}.")
    # Wilson (1927), written out rather than taken from statsmodels: web workers draw the pass-rate trend
    # with it, and statsmodels would bring pandas and scipy (~120 MB) into every one of them.
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float | None, float | None]:
    """Return the mean and its Student-t interval; the interval is None with fewer than two values."""
    n = len(values)
    if n == 0:
        raise ValueError("A mean needs at least one value.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, not {confidence}.")
    mean = math.fsum(values) / n
    if n < 2:
        return mean, None, None
    sd = math.sqrt(math.fsum((value - mean) ** 2 for value in values) / (n - 1))
    if sd == 0:
        # scipy refuses a zero scale; identical values leave no uncertainty to spread.
        return mean, mean, mean
    from scipy import stats

    half = float(stats.t.ppf((1 + confidence) / 2, df=n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def category_shares(values: Sequence[str | list[str]], options: Sequence[str]) -> dict[str, dict]:
    """Count each option (all of them, in rubric order) and its share of the values.

    A multi_choice value is a list and counts once for each option it holds, so shares need not add to 1.
    Values outside `options` are counted in the denominator only; with no values every share is None.
    """
    counts = dict.fromkeys(options, 0)
    for value in values:
        for option in set(value) if isinstance(value, list) else (value,):
            if option in counts:
                counts[option] += 1
    n = len(values)
    return {option: {"count": count, "share": count / n if n else None} for option, count in counts.items()}


# The question kinds quality is computed for: text and correction answers have no pass rate, mean or shares.
MEASURED_KINDS = ("binary", "rating", "choice", "multi_choice")


def question_quality(question: dict, gold_values: Sequence[Any]) -> dict | None:
    """Summarise one question's gold answers; None for text/correction questions or when no item has one.

    binary: pass rate (True = pass) with its Wilson interval; rating: mean with its t interval;
    choice / multi_choice: each option's count and share.
    """
    kind = question["kind"]
    if kind in ("text", "correction"):
        return None
    if kind not in MEASURED_KINDS:
        raise ValueError(f"Unknown question kind {kind!r}.")
    values = [value for value in gold_values if value is not None]
    n = len(values)
    if n == 0:
        return None
    result: dict[str, Any] = {"n": n, "passes": None, "value": None, "ci_low": None, "ci_high": None, "shares": {}}
    if kind == "binary":
        passes = sum(1 for value in values if value is True)
        low, high = wilson_interval(passes, n)
        result.update(passes=passes, value=passes / n, ci_low=low, ci_high=high)
    elif kind == "rating":
        mean, low, high = mean_interval([float(value) for value in values])
        result.update(value=mean, ci_low=low, ci_high=high)
    else:
        result["shares"] = category_shares(values, question.get("options") or [])
    return result
