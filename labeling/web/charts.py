"""Server-side charts: pure functions that return inline SVG with a data-table fallback. No ORM, no JS.

Every text value is escaped here (`escape`); the result is marked safe so templates insert it as is.
The CSP forbids inline styles: looks come from classes styled in meeting.css, plus a few SVG
presentation attributes (fill="none" on lines) so a chart stays readable without the stylesheet.

Inputs are plain dicts:
- line points: {"x": label, "value": float | None, "low": float | None, "high": float | None, "detail": str,
  "break_before": bool (optional: the line does not join it to the point before), "provisional": bool (optional: a
  week not closed yet; the line to it is dotted, and a legend says why)}
- series: {"key": css-safe name, "name": legend text, "points": [{"x", "value", "detail"}]}, optionally
  "column" (the data table's header, else the name) and "reference" (drawn dashed with square markers,
  one line through its points across the categories it leaves out)
- bars: {"label": str, "value": float | None, "detail": str, "extra": [str, ...]}
A None value leaves a gap; a chart with no value at all renders a "no data yet" note instead.
"""

import math
import re
from collections.abc import Callable, Sequence
from itertools import count, pairwise

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from labeling.metrics.agreement import too_few_units
from labeling.metrics.retention import MIN_USERS, too_few_users
from labeling.reports import TOO_FEW_USERS, agreement_basis, first_cohort_running, fmt_agreement, retention_basis
from labeling.rules.text import counted

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 14, 34  # LEFT is the least: a frame widens it to hold its y labels
# A line chart's last point sits this far from the right edge: room for its label centred on it at the medium size
# ("Week 7" is 57 units wide at 14), so it does not end there, crowding the one before it. A bar is labelled
# within its own column and keeps RIGHT.
POINTS_RIGHT = 32
_ids = count(1)

# Axis labels stay legible on any screen. The SVG scales with its chart's width (a 640-unit viewBox drawn 308 px wide
# on a 390 px phone), so a narrower chart draws its labels larger in viewBox units: per band, the chart's least width
# in CSS px and the labels' font size in viewBox units, at least 9.5 px on screen at that width. meeting.css sets the
# same sizes with container queries on .chart (tests/labeling/web/test_charts.py checks they agree); the x labels
# drawn in each band are those that fit side by side at its size.
TICK_BANDS = (("wide", 560, 11), ("medium", 440, 14), ("narrow", 340, 18), ("phone", 0, 24))
LARGEST_TICK = max(size for _, _, size in TICK_BANDS)
TICK_GAP = 0.6  # the least space between two x labels, in ems
BAR_VALUE_GAP = 0.25  # the least space between two bars' value labels, in ems: each is centred in its own column
# A bar chart's plot starts lower, so a full bar's value label, drawn above it at the largest size, stays in the SVG.
BAR_CHART_TOP = max(TOP, math.ceil(0.8 * LARGEST_TICK) + 4)

# Advance widths in ems, from DejaVu Sans (the widest of the common system sans-serifs), a little over: an estimate
# that is never short, so labels judged apart are apart on screen.
_NARROW, _WIDE = set("ijl'|!.,:;"), set("MWmw%…—@")
_CHAR_EMS = {" ": 0.33, "-": 0.38, "–": 0.52, "f": 0.4, "t": 0.41, "r": 0.43, "(": 0.4, ")": 0.4, "/": 0.35}


def text_width(text: str, size: float) -> float:
    """An estimate, never short, of `text`'s width in viewBox units at font size `size` (a digit is 0.64 em)."""
    ems = 0.0
    for char in text:
        if char in _CHAR_EMS:
            ems += _CHAR_EMS[char]
        elif char in _NARROW:
            ems += 0.34
        elif char in _WIDE:
            ems += 1.0
        elif char.isdigit() or (char.isascii() and char.islower()):
            ems += 0.64
        elif char.isascii() and char.isupper():
            ems += 0.8
        else:  # accented, other scripts, symbols: as wide as an em
            ems += 1.0
    return ems * size * 1.04


def _shorten(text: str, size: float, limit: float) -> str:
    """`text`, cut short with "…" to be at most `limit` wide at `size` (one character at least)."""
    if text_width(text, size) <= limit:
        return text
    for end in range(len(text) - 1, 0, -1):
        if text_width(text[:end].rstrip() + "…", size) <= limit:
            return text[:end].rstrip() + "…"
    return text[:1] + "…"


def percent(value: float | None) -> str:
    """Format a fraction as a whole percentage ("83%"); None as a dash."""
    return "—" if value is None else f"{value * 100:.0f}%"


def decimal(value: float | None) -> str:
    """Format a coefficient with three decimals; None as a dash."""
    return "—" if value is None else f"{value:.3f}"


def whole(value: float | None) -> str:
    """Format a count or a measure with thousands separators ("12,345"); None as a dash."""
    return "—" if value is None else f"{value:,.0f}"


FORMATS: dict[str, Callable[[float | None], str]] = {"percent": percent, "decimal": decimal, "whole": whole}


def _num(value: float) -> str:
    return f"{value:.1f}"


def _chart_id(prefix: str) -> str:
    # Unique within a page; several charts share one document.
    return f"chart-{re.sub(r'[^a-z0-9-]+', '-', prefix.lower())}-{next(_ids)}"


def _empty(title: str, message: str) -> SafeString:
    return mark_safe(
        f'<figure class="chart chart-empty" aria-label="{escape(title)}">'
        f'<figcaption class="chart-title">{escape(title)}</figcaption>'
        f'<p class="no-data">{escape(message)}</p></figure>'
    )


class _Frame:
    """Maps category indexes and values to SVG coordinates, and draws the axes.

    The y range is `y_range`, widened to hold every value given (None values are gaps)."""

    def __init__(
        self,
        labels: Sequence[str],
        values: Sequence[float | None],
        y_range: tuple[float, float],
        fmt: Callable[[float | None], str],
        *,
        top: float = TOP,
        right: float = RIGHT,
    ):
        self.labels = list(labels)
        self.top = top
        self.right = right
        self.y_min, self.y_max = _domain([value for value in values if value is not None], *y_range)
        self.ticks = _ticks(self.y_min, self.y_max, whole_numbers=fmt is whole)
        self.y_min, self.y_max = self.ticks[0], self.ticks[-1]
        self.fmt = fmt
        # Room on the left for the widest y label at the largest size it is drawn at.
        widest = max(text_width(fmt(value), LARGEST_TICK) for value in self.ticks)
        self.left = max(LEFT, math.ceil(widest) + 10)
        self.plot_w = WIDTH - self.left - right
        self.plot_h = HEIGHT - top - BOTTOM

    def x(self, index: int) -> float:
        if len(self.labels) == 1:
            return self.left + self.plot_w / 2
        return self.left + self.plot_w * index / (len(self.labels) - 1)

    def y(self, value: float) -> float:
        span = self.y_max - self.y_min or 1.0
        return self.top + self.plot_h * (1 - (value - self.y_min) / span)

    def axes(self, *, band_x: bool = False, shorten: bool = False) -> str:
        """Gridlines with the y labels, and the x labels that fit in each band (see TICK_BANDS): each drawn once,
        with a class per band it shows in. `shorten` cuts long labels to their column's width (a bar chart's
        categories, each one named) before leaving any out."""
        parts = ['<g class="axes">']
        for value in self.ticks:
            y = _num(self.y(value))
            parts.append(f'<line class="gridline" x1="{self.left}" x2="{WIDTH - self.right}" y1="{y}" y2="{y}"/>')
            parts.append(
                f'<text class="tick" x="{self.left - 6}" y="{y}" text-anchor="end" dominant-baseline="middle">'
                f"{escape(self.fmt(value))}</text>"
            )
        positions = [self.bar_center(index) if band_x else self.x(index) for index in range(len(self.labels))]
        slot = self.plot_w / max(len(self.labels), 1) if shorten else None
        bands: dict[tuple[int, str, float, str], list[str]] = {}
        for band, _, size in TICK_BANDS:
            lo = 2 if _clears_the_y_labels(size) else self.left - 4
            for placed in _place_labels(self.labels, positions, size, lo=lo, hi=WIDTH - 2, slot=slot):
                bands.setdefault(placed, []).append(band)
        for (index, text, x, anchor), shown_in in sorted(bands.items()):
            full = self.labels[index]
            title = f"<title>{escape(full)}</title>" if text != full else ""
            classes = " ".join(f"on-{band}" for band in shown_in)
            parts.append(
                f'<text class="tick x-tick banded {classes}" x="{_num(x)}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
                f"{escape(text)}{title}</text>"
            )
        parts.append("</g>")
        return "".join(parts)

    def bar_center(self, index: int) -> float:
        slot = self.plot_w / max(len(self.labels), 1)
        return self.left + slot * (index + 0.5)


def _clears_the_y_labels(size: float) -> bool:
    """Whether x labels drawn at `size` sit clear below the lowest y label (centred on the plot's bottom line), so the
    first may be centred on its point, reaching into the y labels' margin, instead of starting there and crowding the
    next one: at a desktop's sizes, not a phone's, whose larger labels would touch it."""
    x_label_top = HEIGHT - 8 - 0.75 * size
    lowest_y_label_bottom = HEIGHT - BOTTOM + 0.5 * size
    return x_label_top - lowest_y_label_bottom >= 0.25 * size


def _place_labels(
    labels: Sequence[str], positions: Sequence[float], size: float, *, lo: float, hi: float, slot: float | None
) -> list[tuple[int, str, float, str]]:
    """The x labels to draw at font size `size`, as (index, text, x, text-anchor), so that no two come closer than
    TICK_GAP and none leaves [lo, hi].

    The last label (the latest week) is always named and, where the two fit side by side, the one before it too: a
    weekly meeting compares the latest week with the week before. Then every k-th label counting back from the last
    one named, for the k that names the most. A label sits centred on its point, or starts or ends there at the
    chart's edges; the one before the last also ends at its point when centred it would crowd the last. The label next
    to those named at the right may be left out when they crowd it, and the first when it crowds its neighbour. A
    label too wide for `slot` (or for half the axis) is cut short with "…"."""
    gap = TICK_GAP * size
    limit = (slot - gap) if slot else (hi - lo) / 2
    texts = [_shorten(label, size, limit) for label in labels]
    widths = [text_width(text, size) for text in texts]
    before_last = len(labels) - 2
    # Whether the last two fit side by side does not depend on k: asked once, of the two alone.
    pair_fits = _every_kth(texts, widths, positions, len(labels), True, gap=gap, lo=lo, hi=hi) is not None
    best: list[tuple[int, str, float, str]] = []
    best_rank = (False, 0, 0)  # names the one before the last, how many, minus how many were left out for crowding
    for every in range(1, len(labels) + 1):
        if best_rank[0] == pair_fits and 1 + math.ceil(len(labels) / every) < best_rank[1]:
            break  # fewer labels than the best, at best
        for with_before_last in (True, False) if pair_fits else (False,):
            tried = _every_kth(texts, widths, positions, every, with_before_last, gap=gap, lo=lo, hi=hi)
            if tried is None:
                continue
            placed, left_out = tried
            rank = (any(index == before_last for index, *_ in placed), len(placed), -left_out)
            if rank > best_rank:
                best, best_rank = placed, rank
    return best


def _every_kth(
    texts: Sequence[str],
    widths: Sequence[float],
    positions: Sequence[float],
    every: int,
    with_before_last: bool,
    *,
    gap: float,
    lo: float,
    hi: float,
) -> tuple[list[tuple[int, str, float, str]], int] | None:
    """The last label and every `every`-th counting back from it, or (`with_before_last`) from the one before it,
    which is then named too; with how many were left out for crowding those named at the right or being crowded by
    the first. None if they do not fit otherwise."""
    last = len(texts) - 1
    # Right to left. The labels named at the right are named whatever crowds them (else this try fails).
    indexes = [last, *range(last - 1, -1, -every)] if with_before_last else list(range(last, -1, -every))
    named_at_right = 2 if with_before_last else 1
    placed: list[tuple[int, str, float, str]] = []
    left_out, left_edge = 0, math.inf
    for number, index in enumerate(indexes):
        x, width = positions[index], widths[index]
        if lo <= x - width / 2 and x + width / 2 <= hi:
            anchor, left = "middle", x - width / 2
        elif x - width / 2 < lo and x + width <= hi:
            anchor, left = "start", x
        elif x + width / 2 > hi and lo <= x - width:
            anchor, left = "end", x - width
        else:
            return None
        if with_before_last and number == 1 and left + width + gap > left_edge and lo <= x - width:
            anchor, left = "end", x - width  # ending at its point, as the last does, leaves the last more room
        if left + width + gap > left_edge:
            # The labels named at the right (the last ends at its point) may crowd the next one; the first, starting
            # at its point, may be crowded by its own: leave that one out. Any other crowding means `every` is too
            # small.
            if number >= named_at_right and number in (named_at_right, len(indexes) - 1):
                left_out += 1
                continue
            return None
        placed.append((index, texts[index], round(x, 1), anchor))
        left_edge = left
    return placed[::-1], left_out


def _domain(values: list[float], low: float, high: float) -> tuple[float, float]:
    """The y range: [low, high], widened to hold every value."""
    return min([low, *values]), max([high, *values])


def _ticks(low: float, high: float, *, whole_numbers: bool) -> list[float]:
    """The y axis's ticks: five evenly spaced from `low` to `high`; on an axis of counts, whole numbers a whole step
    apart up to `high` or just past it (a fifth of 3 is 0.75, and its ticks would read "0 1 2 2 3")."""
    if not whole_numbers:
        return [low + (high - low) * step / 4 for step in range(5)]
    first = math.floor(low)
    step = max(1, math.ceil((high - first) / 4))
    return [first + step * index for index in range(math.ceil((high - first) / step) + 1)]


def _segments(
    indexed: list[tuple[int, float | None]], breaks: frozenset[int] = frozenset()
) -> list[list[tuple[int, float]]]:
    """Runs of consecutive defined values: a None breaks the line, and so does an index in `breaks` (a point that does
    not compare with the one before: a rating asked on another scale)."""
    runs: list[list[tuple[int, float]]] = [[]]
    for index, value in indexed:
        if (value is None or index in breaks) and runs[-1]:
            runs.append([])
        if value is not None:
            runs[-1].append((index, value))
    return [run for run in runs if run]


def _svg_open(
    frame: _Frame, name: str, title: str, description: str, *, band_x: bool = False, shorten: bool = False
) -> list[str]:
    """The chart's first parts: the SVG element with its title and description, then the frame's axes."""
    chart_id = _chart_id(name)
    svg = (
        f'<svg class="chart-svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(description)}</desc>'
    )
    return [svg, frame.axes(band_x=band_x, shorten=shorten)]


def _polylines(
    frame: _Frame,
    indexed: list[tuple[int, float | None]],
    css: str,
    breaks: frozenset[int] = frozenset(),
    provisional: frozenset[int] = frozenset(),
) -> list[str]:
    """One line per run of defined values: a None leaves a gap, an index in `breaks` starts a new line. A stretch
    that reaches a `provisional` point (a week not closed yet, whose figure may still change) is drawn dotted."""
    lines = []
    for run in _segments(indexed, breaks):
        for stretch, dotted in _stretches(run, provisional):
            coords = " ".join(f"{_num(frame.x(index))},{_num(frame.y(value))}" for index, value in stretch)
            # The dash pattern as an SVG attribute too, as the reference line's: it reads so without the stylesheet.
            style = f' class="line {css} provisional" stroke-dasharray="2 4"' if dotted else f' class="line {css}"'
            lines.append(f'<polyline{style} fill="none" points="{coords}"/>')
    return lines


def _stretches(run: list[tuple[int, float]], provisional: frozenset[int]) -> list[tuple[list[tuple[int, float]], bool]]:
    """A run cut where its style changes: (points, dotted), a step between two points dotted when either is
    provisional; neighbouring stretches share their point, so the line stays whole."""
    if len(run) == 1:
        return [(run, run[0][0] in provisional)]
    stretches: list[tuple[list[tuple[int, float]], bool]] = []
    for before, after in pairwise(run):
        dotted = before[0] in provisional or after[0] in provisional
        if stretches and stretches[-1][1] == dotted:
            stretches[-1][0].append(after)
        else:
            stretches.append(([before, after], dotted))
    return stretches


def _reference_line(frame: _Frame, indexed: list[tuple[int, float | None]], css: str) -> list[str]:
    """A reference curve: one dashed line through every point it gives, across the weeks it leaves out."""
    defined = [(index, value) for index, value in indexed if value is not None]
    if len(defined) < 2:
        return []
    coords = " ".join(f"{_num(frame.x(index))},{_num(frame.y(value))}" for index, value in defined)
    # The dash pattern as an SVG attribute too, so the line reads as a reference without the stylesheet.
    return [f'<polyline class="line reference {css}" fill="none" stroke-dasharray="9 4 2 4" points="{coords}"/>']


def _table(caption: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f'<th scope="col">{escape(header)}</th>' for header in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return (
        f'<details class="chart-data"><summary>Numbers: {escape(caption)}</summary>'
        f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></details>'
    )


def _figure(kind: str, name: str, title: str, svg: str, legend: str, table: str) -> SafeString:
    return mark_safe(
        f'<figure class="chart chart-{kind}" data-chart="{escape(name)}" aria-label="{escape(title)}">'
        f'<figcaption class="chart-title">{escape(title)}</figcaption>{svg}{legend}{table}</figure>'
    )


def line_chart(
    *,
    name: str,
    title: str,
    points: Sequence[dict],
    fmt: str = "percent",
    y_range: tuple[float, float] = (0.0, 1.0),
    empty_message: str = "No data yet.",
) -> SafeString:
    """A line with its interval band (`low`..`high`), one dot per point with a tooltip, and a data table."""
    values = [point.get("value") for point in points]
    if not points or all(value is None for value in values):
        return _empty(title, empty_message)
    formatter = FORMATS[fmt]
    bounds = [v for point in points for v in (point.get("value"), point.get("low"), point.get("high"))]
    frame = _Frame([str(point["x"]) for point in points], bounds, y_range, formatter, right=POINTS_RIGHT)
    parts = _svg_open(frame, name, title, f"{len(points)} points; the shaded band is the 95% interval.")

    def has_band(point: dict) -> bool:
        return point.get("low") is not None and point.get("high") is not None

    # A point marked `break_before` (asked on another scale than the one before) starts a new line and band.
    breaks = frozenset(index for index, point in enumerate(points) if point.get("break_before"))
    for run in _segments([(index, 0.0 if has_band(point) else None) for index, point in enumerate(points)], breaks):
        indexes = [index for index, _ in run]
        if len(indexes) == 1:  # a lone interval: draw it as a whisker
            point, x = points[indexes[0]], _num(frame.x(indexes[0]))
            low_y, high_y = _num(frame.y(point["low"])), _num(frame.y(point["high"]))
            parts.append(f'<line class="band-whisker" x1="{x}" x2="{x}" y1="{low_y}" y2="{high_y}"/>')
            continue
        upper = [f"{_num(frame.x(i))},{_num(frame.y(points[i]['high']))}" for i in indexes]
        lower = [f"{_num(frame.x(i))},{_num(frame.y(points[i]['low']))}" for i in reversed(indexes)]
        parts.append(f'<polygon class="band" points="{" ".join(upper + lower)}"/>')

    provisional = frozenset(index for index, point in enumerate(points) if point.get("provisional"))
    parts += _polylines(frame, list(enumerate(values)), "series-0", breaks, provisional)
    for index, point in enumerate(points):
        if point.get("value") is None:
            continue
        tip = _tip(str(point["x"]), formatter(point["value"]), point)
        css = "point series-0 provisional" if index in provisional else "point series-0"
        parts.append(
            f'<circle class="{css}" cx="{_num(frame.x(index))}" cy="{_num(frame.y(point["value"]))}" r="3.5" '
            f'data-x="{escape(point["x"])}" data-value="{point["value"]:.4f}"><title>{escape(tip)}</title></circle>'
        )
    parts.append("</svg>")

    rows = [
        [
            str(point["x"]),
            formatter(point.get("value")),
            f"{formatter(point.get('low'))} – {formatter(point.get('high'))}" if point.get("low") is not None else "—",
            str(point.get("detail", "")),
        ]
        for point in points
    ]
    table = _table(title, ["Week", "Value", "95% interval", "Counts"], rows)
    legend = (
        '<ul class="chart-legend"><li class="provisional"><span class="swatch" aria-hidden="true"></span>'
        "Dotted: a week not closed yet, whose figure may still change</li></ul>"
        if provisional
        else ""
    )
    return _figure("line", name, title, "".join(parts), legend, table)


def _tip(x: str, value: str, point: dict) -> str:
    tip = f"{x}: {value}"
    if point.get("low") is not None and point.get("high") is not None:
        tip += f" (95% interval {FORMATS['percent'](point['low'])}–{FORMATS['percent'](point['high'])})"
    if point.get("detail"):
        tip += f" · {point['detail']}"
    return tip


def multi_line_chart(
    *,
    name: str,
    title: str,
    series: Sequence[dict],
    x_title: str = "Week",
    fmt: str = "percent",
    y_range: tuple[float, float] = (0.0, 1.0),
    empty_message: str = "No data yet.",
) -> SafeString:
    """Several lines over the same categories (the x labels of the first series), a legend and a data table.

    A point whose value is None leaves a gap in its line; its `missing` text, when given, says why in the table."""
    values = [point.get("value") for line in series for point in line["points"]]
    if not series or all(value is None for value in values):
        return _empty(title, empty_message)
    formatter = FORMATS[fmt]
    labels: list[str] = []
    for line in series:
        for point in line["points"]:
            if str(point["x"]) not in labels:
                labels.append(str(point["x"]))
    frame = _Frame(labels, values, y_range, formatter, right=POINTS_RIGHT)
    names = ", ".join(str(line["name"]) for line in series)
    parts = _svg_open(frame, name, title, f"Lines: {names}.")
    for number, line in enumerate(series):
        css = f"series-{number} series-{escape(line['key'])}"
        by_x = {str(point["x"]): point for point in line["points"]}
        indexed = [(index, by_x[label].get("value") if label in by_x else None) for index, label in enumerate(labels)]
        is_reference = bool(line.get("reference"))
        if is_reference:
            parts += _reference_line(frame, indexed, css)
        else:
            parts += _polylines(frame, indexed, css)
        for index, value in indexed:
            if value is None:
                continue
            point = by_x[labels[index]]
            tip = f"{line['name']}, {labels[index]}: {formatter(value)}"
            if point.get("detail"):
                tip += f" · {point['detail']}"
            x, y = round(frame.x(index), 1), round(frame.y(value), 1)  # a square centred where a dot would be
            data = f'data-series="{escape(line["key"])}" data-x="{escape(labels[index])}" data-value="{value:.4f}"'
            if is_reference:  # a square, not a dot: told apart without its colour
                parts.append(
                    f'<rect class="point reference {css}" x="{_num(x - 3.5)}" y="{_num(y - 3.5)}" width="7" height="7" '
                    f"{data}><title>{escape(tip)}</title></rect>"
                )
            else:
                parts.append(
                    f'<circle class="point {css}" cx="{_num(x)}" cy="{_num(y)}" r="3" {data}>'
                    f"<title>{escape(tip)}</title></circle>"
                )
    parts.append("</svg>")
    legend = (
        '<ul class="chart-legend">'
        + "".join(
            f'<li class="series-{number} series-{escape(line["key"])}{" reference" if line.get("reference") else ""}">'
            f'<span class="swatch" aria-hidden="true"></span>{escape(line["name"])}</li>'
            for number, line in enumerate(series)
        )
        + "</ul>"
    )
    rows = []
    for label in labels:
        row = [label]
        for line in series:
            point = next((p for p in line["points"] if str(p["x"]) == label), None)
            if point is None:
                row.append("—")
            else:
                detail = f" ({point['detail']})" if point.get("detail") else ""
                shown = point.get("missing") if point.get("value") is None and point.get("missing") else None
                row.append((shown or formatter(point.get("value"))) + detail)
        rows.append(row)
    table = _table(title, [x_title, *(str(line.get("column") or line["name"]) for line in series)], rows)
    return _figure("multi", name, title, "".join(parts), legend, table)


def bar_chart(
    *,
    name: str,
    title: str,
    bars: Sequence[dict],
    fmt: str = "decimal",
    y_range: tuple[float, float] = (0.0, 1.0),
    value_title: str = "Value",
    extra_headers: Sequence[str] = (),
    empty_message: str = "No data yet.",
) -> SafeString:
    """Vertical bars from zero (negative values go below it), labelled, with a data table (plus extra columns)."""
    if not bars:
        return _empty(title, empty_message)
    formatter = FORMATS[fmt]
    values = [bar.get("value") for bar in bars]
    frame = _Frame([str(bar["label"]) for bar in bars], values, y_range, formatter, top=BAR_CHART_TOP)
    parts = _svg_open(frame, name, title, f"{len(bars)} bars.", band_x=True, shorten=True)
    slot = frame.plot_w / len(bars)
    width = min(slot * 0.6, 80)
    zero = frame.y(0.0)
    parts.append(f'<line class="baseline" x1="{frame.left}" x2="{WIDTH - RIGHT}" y1="{_num(zero)}" y2="{_num(zero)}"/>')

    def bands_it_fits(text: str) -> list[str]:
        """The bands in which `text`, drawn at their size, fits its bar's column (TICK_BANDS)."""
        return [band for band, _, size in TICK_BANDS if text_width(text, size) + BAR_VALUE_GAP * size <= slot]

    for index, bar in enumerate(bars):
        center = frame.bar_center(index)
        value = bar.get("value")
        tip = f"{bar['label']}: {formatter(value)}" + (f" · {bar['detail']}" if bar.get("detail") else "")
        if value is None:
            # Why there is no bar where it fits ("too few items"), else a dash; its tooltip and the table say it all.
            missing = bar.get("missing", "n/a")
            fits = bands_it_fits(missing)
            for text, shown_in in ((missing, fits), ("—", [band for band, _, _ in TICK_BANDS if band not in fits])):
                if shown_in:
                    parts.append(
                        f'<text class="bar-missing banded {" ".join(f"on-{band}" for band in shown_in)}" '
                        f'x="{_num(center)}" y="{_num(zero - 6)}" text-anchor="middle">'
                        f"{escape(text)}<title>{escape(tip)}</title></text>"
                    )
            continue
        top, bottom = sorted((frame.y(value), zero))
        css = "bar negative" if value < 0 else "bar"
        parts.append(
            f'<rect class="{css}" x="{_num(center - width / 2)}" y="{_num(top)}" width="{_num(width)}" '
            f'height="{_num(max(bottom - top, 0.5))}" data-label="{escape(bar["label"])}" data-value="{value:.4f}">'
            f"<title>{escape(tip)}</title></rect>"
        )
        # Above the bar, or for a bar below zero above the zero line (below it the x labels would be in the way).
        # Drawn at the axis labels' size in each band it fits its column at; the data table has every value.
        text = formatter(value)
        fits = bands_it_fits(text)
        if fits:
            classes, label_y = " ".join(f"on-{band}" for band in fits), (top if value >= 0 else zero) - 4
            parts.append(
                f'<text class="bar-value banded {classes}" x="{_num(center)}" y="{_num(label_y)}" text-anchor="middle">'
                f"{escape(text)}</text>"
            )
    parts.append("</svg>")
    rows = [
        [str(bar["label"]), formatter(bar.get("value")), *(str(cell) for cell in bar.get("extra", ()))] for bar in bars
    ]
    table = _table(title, ["", value_title, *extra_headers], rows)
    return _figure("bar", name, title, "".join(parts), "", table)


def histogram_chart(
    *,
    name: str,
    title: str,
    bars: Sequence[dict],
    markers: Sequence[dict] = (),
    x_title: str = "Range",
    value_title: str = "Outputs",
    empty_message: str = "No data.",
) -> SafeString:
    """Adjacent count columns (a histogram, or counts per day), with optional vertical markers
    (`{"at": fractional column index, "label": "p50 = 120"}`) and a data table. Bars as for bar_chart."""
    if not bars or not any(bar.get("value") for bar in bars):
        return _empty(title, empty_message)
    frame = _Frame([str(bar["label"]) for bar in bars], [bar.get("value") for bar in bars], (0.0, 1.0), whole)
    parts = _svg_open(frame, name, title, f"{len(bars)} columns.", band_x=True)
    slot = frame.plot_w / len(bars)
    zero = frame.y(0.0)
    for index, bar in enumerate(bars):
        value = bar.get("value") or 0
        top = frame.y(value)
        tip = f"{bar['label']}: {whole(value)}" + (f" · {bar['detail']}" if bar.get("detail") else "")
        parts.append(
            f'<rect class="bar" x="{_num(frame.left + slot * index + 0.5)}" y="{_num(top)}" '
            f'width="{_num(max(slot - 1, 0.5))}" '
            f'height="{_num(max(zero - top, 0.5 if value else 0))}" data-label="{escape(bar["label"])}" '
            f'data-value="{value}"><title>{escape(tip)}</title></rect>'
        )
    for marker in markers:
        x = _num(frame.left + slot * min(max(marker["at"], 0.0), len(bars)))
        parts.append(
            # Labelled in the legend below and the tooltip: close percentiles would overlap as SVG text.
            f'<line class="marker" x1="{x}" x2="{x}" y1="{frame.top}" y2="{_num(zero)}">'
            f"<title>{escape(marker['label'])}</title></line>"
        )
    parts.append("</svg>")
    legend = (
        '<p class="chart-markers">' + " · ".join(escape(marker["label"]) for marker in markers) + "</p>"
        if markers
        else ""
    )
    rows = [[str(bar["label"]), whole(bar.get("value")), str(bar.get("detail", ""))] for bar in bars]
    table = _table(title, [x_title, value_title, ""], rows)
    return _figure("histogram", name, title, "".join(parts), legend, table)


# The meeting page's and the dashboard's three charts, from report-shaped data. -------------------------------


def pass_rate_chart(trend: Sequence[dict], *, title: str = "Pass rate by week") -> SafeString:
    """The pass-rate trend with its 95% interval band; `trend` rows as in the report's `pass_rate_trend`, `provisional`
    where a week's figure is not final (drawn dotted), and a `note` to say why (the dashboard's "running")."""
    points = [
        {
            "x": row["week"],
            "value": row.get("value"),
            "low": row.get("ci_low"),
            "high": row.get("ci_high"),
            "detail": (
                f"{row['passes']}/{row['n']} passed" if row.get("passes") is not None else f"n = {row.get('n') or 0}"
            )
            + (f" · {row['note']}" if row.get("note") else ""),
            "break_before": bool(row.get("scale_changed")),
            "provisional": bool(row.get("provisional")),
        }
        for row in trend
    ]
    return line_chart(
        name="pass-rate", title=title, points=points, empty_message="No pass rate yet: no item has a gold answer."
    )


RETENTION_SERIES = (("all", "All users"), ("pass", "Outputs labeled pass"), ("fail", "Outputs labeled fail"))


def _stands_on_too_few_users(cell: dict) -> bool:
    """A rate measured over too few users to draw (not a cell with no rate: that is a gap of another kind)."""
    return cell.get("rate") is not None and too_few_users(cell.get("users", 0))


def retention_chart(
    curves: dict,
    *,
    reference: dict | None = None,
    first_cohort: dict | None = None,
    title: str = "Retention by week since first visit",
) -> SafeString:
    """Retention curves split by verdict; `curves` as in the report's `retention.curves`.

    `first_cohort` ({"cohort_week": label, "users"}) is the first cohort of end users seen: without curves the chart
    says it is still running (a curve is made of weeks that are over) instead of "no end-user activity".

    `reference` (the report's `retention.reference`: {"points": [{"week", "rate"}], "source"}) adds the lead's
    expected curve as a dashed line with square markers, a legend entry naming its source and a column of the
    data table. It is drawn at the weeks the curves show; weeks past them are named in its legend entry.
    """
    series = []
    for key, label in RETENTION_SERIES:
        points = [
            {
                "x": f"Week {cell['offset']}",
                # Over too few users no point is drawn (a gap in the line): the data table says why.
                "value": None if _stands_on_too_few_users(cell) else cell.get("rate"),
                "missing": TOO_FEW_USERS if _stands_on_too_few_users(cell) else None,
                "detail": retention_basis(cell),
            }
            for cell in curves.get(key) or []
        ]
        if points:
            series.append({"key": key, "name": label, "points": points})
    measured = any(point["value"] is not None for line in series for point in line["points"])
    if measured and reference and reference.get("points"):
        series.append(_reference_series(reference, {point["x"] for line in series for point in line["points"]}))
    return multi_line_chart(
        name="retention",
        title=title,
        series=series,
        x_title="Weeks since first visit",
        empty_message=_no_retention_yet(first_cohort) if not series else _TOO_FEW_USERS_FOR_A_CURVE,
    )


# Curves whose every week is over fewer than MIN_USERS users: not "no activity", nor a first cohort still running.
_TOO_FEW_USERS_FOR_A_CURVE = (
    f"No retention curve yet: every week since first visit counts fewer than {MIN_USERS} users, too few for a rate."
)


def _no_retention_yet(first_cohort: dict | None) -> str:
    """Why the retention chart is empty: no end user seen yet, or the first cohort's week not over yet."""
    if not first_cohort:
        return "No retention yet: no end-user activity has been recorded."
    return first_cohort_running(first_cohort)


def _reference_series(reference: dict, shown: set[str]) -> dict:
    """The reference curve as a chart series: its points at the weeks shown, the others named in the legend."""
    source = str(reference.get("source") or "").strip()
    name = f"Reference: {source}" if source else "Reference"
    on_chart, off_chart = [], []
    for point in reference["points"]:
        x = f"Week {point['week']}"
        (on_chart if x in shown else off_chart).append({"x": x, "value": point["rate"]})
    column = name
    if off_chart:
        name += " (not on this chart: " + ", ".join(f"{p['x'].lower()} {percent(p['value'])}" for p in off_chart) + ")"
    return {"key": "reference", "name": name, "column": column, "points": on_chart, "reference": True}


def agreement_chart(rows: Sequence[dict], *, title: str = "Agreement per question (Krippendorff's α)") -> SafeString:
    """Bars of α per question, with Fleiss' and mean Cohen's κ in the data table."""
    bars = [
        {
            "label": row["question"],
            # Over too few items no figure is drawn: the bar's place says why.
            "value": None if too_few_units(row.get("units", 0)) else row.get("alpha"),
            "missing": "too few items" if too_few_units(row.get("units", 0)) else "n/a",
            "detail": f"{agreement_basis(row.get('units', 0))}, {counted(row.get('labels', 0), 'label')}, "
            f"{row.get('level', '')}",
            "extra": [
                fmt_agreement(row.get("fleiss_kappa"), row.get("units", 0)),
                fmt_agreement(row.get("cohen_kappa"), row.get("units", 0)),
                str(row.get("units", 0)),
                str(row.get("experts", 0)),
            ],
        }
        for row in rows
    ]
    return bar_chart(
        name="agreement",
        title=title,
        bars=bars,
        value_title="Krippendorff's α",
        extra_headers=["Fleiss' κ", "Cohen's κ (mean)", "Items", "Experts"],
        y_range=(0.0, 1.0),
        empty_message="No agreement yet: no item has two labels.",
    )


SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 96, 24, 2


def sparkline(values: Sequence[float | None], *, title: str) -> SafeString:
    """A small trend line (a table cell's width), from 0 to the largest value; a None leaves a gap. No axes: the
    title (read by screen readers and shown on hover) says what it is and the figures are beside it."""
    defined = [value for value in values if value is not None]
    top = max(defined, default=0) or 1.0
    step = (SPARK_WIDTH - 2 * SPARK_PAD) / max(len(values) - 1, 1)
    plot = SPARK_HEIGHT - 2 * SPARK_PAD

    def point(index: int, value: float) -> str:
        return f"{_num(SPARK_PAD + step * index)},{_num(SPARK_PAD + plot * (1 - value / top))}"

    lines = "".join(
        f'<polyline class="spark-line" fill="none" stroke="currentColor" points="{" ".join(point(*p) for p in run)}"/>'
        for run in _segments(list(enumerate(values)))
    )
    return mark_safe(
        f'<svg class="sparkline" viewBox="0 0 {SPARK_WIDTH} {SPARK_HEIGHT}" width="{SPARK_WIDTH}" '
        f'height="{SPARK_HEIGHT}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{lines}</svg>"
    )
