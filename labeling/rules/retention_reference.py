"""A project's retention reference: the curve a lead expects ("week 1: 40%, week 4: 25%") and where it comes from.

The lead types the curve as text; it is stored as points `[{"week": 1, "rate": 0.4}, …]` (rates as fractions,
like every retention rate in the report), sorted by week, and shown again as the same canonical text. This
module is the one place that reads and writes that text (settings page, project spec, reports).

Rules: points are separated by commas, semicolons or new lines; each is `week N: R%`, N from 1 to 52 (week 0
is always 100%), R from 0 to 100 with at most two decimals; a week appears once. A curve that rises is allowed
(a product may win users back) and passes silently. Empty text: no reference. A curve needs its source (a
benchmark's name, a URL), and a source needs a curve.
"""

import re
from decimal import Decimal

from labeling.exceptions import InvalidInput
from labeling.rules.text import text_problem

FIRST_WEEK, LAST_WEEK = 1, 52
TEXT_MAX = 1000
SOURCE_MAX = 500
EXAMPLE = "week 1: 40%, week 4: 25%"
RATE_DECIMALS = 2

_SEPARATORS = re.compile(r"[,;\n]")
_POINT = re.compile(r"^week\s*(?P<week>\d+)\s*:\s*(?P<rate>-?\d+(?:\.\d+)?)\s*%$", re.IGNORECASE)


def _read(text: str) -> tuple[list[dict], list[str]]:
    """The points of the text, sorted by week, and every problem found (points are only good without problems)."""
    problems: list[str] = []
    if len(text) > TEXT_MAX:
        return [], [f"Use at most {TEXT_MAX:,} characters."]
    if problem := text_problem(text):
        return [], [f"The reference {problem}."]
    points: dict[int, float] = {}
    for entry in _SEPARATORS.split(text):
        entry = " ".join(entry.split())
        if not entry:
            continue
        match = _POINT.match(entry)
        if match is None:
            problems.append(
                f"“{entry[:60]}” is not a point of the curve: write each as “week 1: 40%”, e.g. “{EXAMPLE}”."
            )
            continue
        week, percent = int(match["week"]), Decimal(match["rate"])
        if not FIRST_WEEK <= week <= LAST_WEEK:
            problems.append(
                f"Week {week} is out of range: use weeks {FIRST_WEEK} to {LAST_WEEK} (week 0 is always 100%)."
            )
            continue
        if not 0 <= percent <= 100:
            problems.append(f"Week {week}: {match['rate']}% is outside 0–100%.")
            continue
        if -percent.as_tuple().exponent > RATE_DECIMALS:
            problems.append(f"Week {week}: {match['rate']}% has more than {RATE_DECIMALS} decimals.")
            continue
        if week in points:
            problems.append(f"Week {week} is given twice: keep one rate per week.")
            continue
        points[week] = float(percent / 100) + 0.0  # + 0.0: "-0%" is stored as 0.0, not -0.0
    return [{"week": week, "rate": points[week]} for week in sorted(points)], problems


def parse_reference(text: str) -> list[dict]:
    """Return the curve's points sorted by week (empty text: none); InvalidInput saying every problem."""
    points, problems = _read(text or "")
    if problems:
        raise InvalidInput(" ".join(problems))
    return points


def format_reference(points: list[dict]) -> str:
    """The canonical text of a curve: `parse_reference(format_reference(points)) == points`."""
    return ", ".join(f"week {point['week']}: {_percent(point['rate'])}%" for point in points)


def _percent(rate: float) -> str:
    # Decimal of the float's shortest repr, so 0.125 reads "12.5" and 0.333 reads "33.3", never 33.300000000000004.
    return format((Decimal(repr(rate)) * 100).normalize(), "f")


def rate_at(points: list[dict], week: int) -> float | None:
    """The reference's rate at a week, if the curve gives one (no interpolation: the lead said what they know)."""
    return next((point["rate"] for point in points if point["week"] == week), None)


def reference_problems(text: str, source: str) -> dict[str, list[str]]:
    """What is wrong with a curve's text and its source, by field (`retention_reference`, `…_source`)."""
    problems: dict[str, list[str]] = {}
    points, curve_problems = _read(text or "")
    if curve_problems:
        problems["retention_reference"] = curve_problems
    source = source or ""
    if len(source) > SOURCE_MAX:
        problems["retention_reference_source"] = [f"Use at most {SOURCE_MAX} characters."]
    elif problem := text_problem(source):
        problems["retention_reference_source"] = [f"The source {problem}."]
    elif points and not source.strip():
        problems["retention_reference_source"] = [
            "Say where the curve comes from (a benchmark's name, a report, a URL), so the meeting knows what "
            "it compares with."
        ]
    elif source.strip() and not points and not curve_problems:
        problems["retention_reference_source"] = [
            "A source without a curve says nothing: enter the curve, or clear it."
        ]
    return problems
