"""The server-side SVG charts: well-formed, escaped, honest about gaps and empty data."""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labeling.web import charts

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(\"x\")</script>' onload='evil()"


def parse(markup: str) -> ET.Element:
    """Parse the chart as XML: escaping mistakes make it fail or show up as extra elements."""
    return ET.fromstring(str(markup))


def svg_of(figure: ET.Element) -> ET.Element:
    return figure.find(f"{SVG}svg")


def trend(values):
    return [
        {"week": f"2026-W{40 + i:02d}", "value": v, "ci_low": None if v is None else v - 0.1,
         "ci_high": None if v is None else v + 0.05, "n": 20, "passes": None if v is None else round(v * 20)}
        for i, v in enumerate(values)
    ]  # fmt: skip


def test_the_pass_rate_chart_has_a_point_per_week_a_band_and_a_table():
    figure = parse(charts.pass_rate_chart(trend([0.5, 0.6, 0.75])))
    svg = svg_of(figure)
    points = svg.findall(f".//{SVG}circle")
    assert [p.get("data-x") for p in points] == ["2026-W40", "2026-W41", "2026-W42"]
    assert [float(p.get("data-value")) for p in points] == [0.5, 0.6, 0.75]
    # Higher values sit higher on the chart (smaller y).
    ys = [float(p.get("cy")) for p in points]
    assert ys[0] > ys[1] > ys[2]
    assert len(svg.findall(f".//{SVG}polygon[@class='band']")) == 1
    assert svg.find(f"{SVG}title").text == "Pass rate by week"
    assert figure.get("data-chart") == "pass-rate"
    rows = figure.findall(".//details/table/tbody/tr")
    assert [row[0].text for row in rows] == ["2026-W40", "2026-W41", "2026-W42"]
    assert rows[2][1].text == "75%"
    assert rows[2][2].text == "65% – 80%"
    assert rows[2][3].text == "15/20 passed"


def test_a_missing_week_breaks_the_line_instead_of_joining_across_it():
    svg = svg_of(parse(charts.pass_rate_chart(trend([0.5, 0.6, None, 0.7, 0.8]))))
    assert len(svg.findall(f".//{SVG}polyline")) == 2
    assert len(svg.findall(f".//{SVG}circle")) == 4
    assert len(svg.findall(f".//{SVG}polygon[@class='band']")) == 2


@pytest.mark.parametrize(
    "markup",
    [
        charts.pass_rate_chart([]),
        charts.pass_rate_chart(trend([None, None])),
        charts.retention_chart({}),
        charts.retention_chart({"all": [], "pass": [], "fail": []}),
        charts.agreement_chart([]),
        charts.line_chart(name="x", title="X", points=[]),
        charts.multi_line_chart(name="x", title="X", series=[]),
        charts.bar_chart(name="x", title="X", bars=[]),
    ],
)
def test_empty_data_shows_a_friendly_note_not_a_broken_chart(markup):
    figure = parse(markup)
    assert "chart-empty" in figure.get("class")
    assert svg_of(figure) is None
    assert figure.find("p").text.startswith("No ")


def test_hostile_strings_come_out_escaped_everywhere():
    hostile_trend = [{"week": HOSTILE, "value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 2, "passes": 1}]
    curves = {"all": [{"offset": 0, "rate": 1.0, "returned": 3, "users": 3}]}
    agreement = [{"question": HOSTILE, "alpha": 0.4, "level": HOSTILE, "fleiss_kappa": 0.3, "units": 4}]
    for markup in (
        charts.pass_rate_chart(hostile_trend, title=HOSTILE),
        charts.retention_chart(curves, title=HOSTILE),
        charts.agreement_chart(agreement, title=HOSTILE),
        charts.multi_line_chart(
            name=HOSTILE, title="t", series=[{"key": HOSTILE, "name": HOSTILE, "points": [{"x": HOSTILE, "value": 1}]}]
        ),
        charts.pass_rate_chart([], title=HOSTILE),
    ):
        assert "<script>" not in markup
        assert "&lt;script&gt;" in markup
        figure = parse(markup)  # well-formed: no attribute was broken out of
        assert not figure.findall(".//script") and not figure.findall(f".//{SVG}script")
        for element in figure.iter():
            assert not any(name.startswith("on") for name in element.attrib), element.attrib
        texts = "".join(figure.itertext())
        assert HOSTILE in texts  # shown as the text it is


def test_bars_go_up_from_zero_and_below_it_for_negative_agreement():
    rows = [
        {"question": "correct", "alpha": 0.8, "fleiss_kappa": 0.79, "cohen_kappa": 0.81, "units": 30, "experts": 3},
        {"question": "tone", "alpha": -0.2, "fleiss_kappa": -0.1, "cohen_kappa": None, "units": 12, "experts": 2},
        {"question": "helpful", "alpha": None, "units": 0},
    ]
    figure = parse(charts.agreement_chart(rows))
    svg = svg_of(figure)
    bars = svg.findall(f".//{SVG}rect")
    assert [bar.get("data-label") for bar in bars] == ["correct", "tone"]
    baseline = float(svg.find(f".//{SVG}line[@class='baseline']").get("y1"))
    up, down = bars
    assert float(up.get("y")) + float(up.get("height")) == pytest.approx(baseline, abs=0.2)
    assert float(down.get("y")) == pytest.approx(baseline, abs=0.2)
    assert "negative" in down.get("class")
    assert [text for text in svg.iter(f"{SVG}text") if "bar-missing" in text.get("class", "").split()]
    rows = figure.findall(".//details/table/tbody/tr")
    assert [cell.text for cell in rows[0]] == ["correct", "0.800", "0.790", "0.810", "30", "3"]
    assert [cell.text for cell in rows[1]][:4] == ["tone", "-0.200", "-0.100", "—"]


def test_retention_curves_are_split_by_verdict_with_counts_beside_each_rate():
    curves = {
        key: [
            {"offset": k, "rate": rate, "returned": round(rate * users), "users": users} for k, rate in enumerate(rates)
        ]
        for key, users, rates in (("all", 20, [1.0, 0.5, 0.4]), ("pass", 10, [1.0, 0.7, 0.6]), ("fail", 10, [1.0, 0.3]))
    }
    figure = parse(charts.retention_chart(curves))
    svg = svg_of(figure)
    assert len(svg.findall(f".//{SVG}polyline")) == 3
    fail_points = svg.findall(f".//{SVG}circle[@data-series='fail']")
    assert [p.get("data-x") for p in fail_points] == ["Week 0", "Week 1"]
    assert ["".join(li.itertext()) for li in figure.findall(".//ul/li")] == [
        "All users",
        "Outputs labeled pass",
        "Outputs labeled fail",
    ]
    rows = figure.findall(".//details/table/tbody/tr")
    assert [cell.text for cell in rows[1]] == [
        "Week 1",
        "50% (10 of 20 users)",
        "70% (7 of 10 users)",
        "30% (3 of 10 users)",
    ]
    assert [cell.text for cell in rows[2]][3] == "—"


def test_values_outside_the_range_widen_it_instead_of_leaving_the_chart():
    svg = svg_of(
        parse(
            charts.line_chart(
                name="m", title="Mean", points=[{"x": "a", "value": 3.0}, {"x": "b", "value": 4.5}], fmt="decimal"
            )
        )
    )
    for point in svg.findall(f".//{SVG}circle"):
        assert charts.TOP <= float(point.get("cy")) <= charts.HEIGHT - charts.BOTTOM


def test_a_histogram_has_adjacent_columns_percentile_markers_and_escaped_labels():
    bars = [{"label": f"{n * 10}", "value": v, "detail": HOSTILE} for n, v in enumerate([3, 0, 12, 1_250])]
    markers = [{"at": 1.5, "label": "p50 = 15"}, {"at": 3.9, "label": f"p99 {HOSTILE}"}]
    figure = parse(charts.histogram_chart(name=HOSTILE, title=HOSTILE, bars=bars, markers=markers))
    svg = svg_of(figure)
    rects = svg.findall(f".//{SVG}rect")
    assert [int(r.get("data-value")) for r in rects] == [3, 0, 12, 1250]
    heights = [float(r.get("height")) for r in rects]
    assert heights[3] > heights[2] > heights[0] and heights[1] == 0
    xs = [float(r.get("x")) for r in rects]
    widths = [float(r.get("width")) for r in rects]
    assert all(abs(xs[i] + widths[i] + 1 - xs[i + 1]) < 0.2 for i in range(3))  # touching columns
    lines = svg.findall(f".//{SVG}line[@class='marker']")
    assert len(lines) == 2 and float(lines[0].get("x1")) < float(lines[1].get("x1"))
    assert HOSTILE in figure.find("p").text  # the legend names the markers, as text
    assert "1,250" in ET.tostring(figure, encoding="unicode")
    assert not figure.findall(".//script")


def test_a_histogram_of_nothing_says_so():
    assert "no-data" in charts.histogram_chart(name="h", title="Tokens", bars=[{"label": "0", "value": 0}])


@pytest.mark.parametrize(("largest", "ticks"), [(3, ["0", "1", "2", "3"]), (7, ["0", "2", "4", "6", "8"])])
def test_a_count_axis_has_distinct_whole_number_ticks(largest, ticks):
    """A fifth of a largest count of 3 is 0.75: five even ticks would read "0 1 2 2 3"."""
    bars = [{"label": f"2026-12-0{day}", "value": value} for day, value in enumerate([1, largest, 2], start=1)]
    svg = svg_of(parse(charts.histogram_chart(name="per-day", title="Outputs per day", bars=bars)))

    labels = [tick.text for tick in svg.findall(f".//{SVG}text[@class='tick'][@text-anchor='end']")]

    assert labels == ticks
    top = svg.find(f".//{SVG}rect[@data-value='{largest}']")
    assert float(top.get("y")) >= charts.TOP  # the tallest column still inside the plot


# Axis labels on any screen: the SVG scales with its chart, so a phone draws a 640-unit viewBox about 308 px wide and
# an 11-unit label 5 px tall; meeting.css draws them larger in narrower charts (container queries on .chart), and each
# x label says in which of those bands it is drawn (class on-<band>), so that none overlaps another at its size.
PHONE_CHART_WIDTH = 300  # px: a 390 px phone's chart is 308 px wide, a 320 px one's about 240 (still 9 px)


def x_labels(svg: ET.Element, band: str | None) -> list[ET.Element]:
    """The x labels drawn in a band (all of them when the chart does not say: no band)."""
    ticks = [text for text in svg.iter(f"{SVG}text") if "tick" in text.get("class", "").split()]
    texts = [tick for tick in ticks if tick.get("dominant-baseline") is None]  # the y labels are centred on their line
    if band is None:
        return texts
    return [text for text in texts if f"on-{band}" in text.get("class", "").split()]


def extent(label: ET.Element, width: float) -> tuple[float, float]:
    """Where a label of this width reaches from and to, given its anchor."""
    x = float(label.get("x"))
    start = {"start": x, "middle": x - width / 2, "end": x - width}[label.get("text-anchor", "start")]
    return start, start + width


def overlapping(spans: list[tuple[float, float]]) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    spans = sorted(spans)
    return [(one, two) for one, two in zip(spans, spans[1:], strict=False) if one[1] > two[0]]


# One size for the axis labels and the bars' value labels, per band.
SIZED = r"\.chart-svg \.tick, \.chart-svg \.bar-value, \.chart-svg \.bar-missing \{ font-size: (\d+)px"


def tick_bands_in_css() -> list[tuple[str | None, int, int]]:
    """(band, least chart width in px, font size) of each container query on .chart in meeting.css that sizes the
    axis labels, and of the base size (for the widest charts)."""
    text = (Path(charts.__file__).resolve().parents[1] / "static" / "labeling" / "meeting.css").read_text()
    queries = re.findall(r"@container chart \((?:(\d+)px <= )?width < (\d+)px\) \{(.*?)\n\}", text, re.S)
    bands = []
    for low, _, body in queries:
        size = re.search(SIZED, body).group(1)
        band = re.search(r"\.banded\.on-([a-z]+) \{", body)
        bands.append((band and band.group(1), int(low or 0), int(size)))
    base = re.search(SIZED, text).group(1)
    base_band = re.search(r"\.chart-svg \.banded:not\(\.on-([a-z]+)\) \{", text)
    widest = max((int(high) for _, high, _ in queries), default=0)
    return [*bands, (base_band and base_band.group(1), widest, int(base))]


def test_axis_labels_are_at_least_9_px_on_screen_at_every_chart_width_the_css_draws_them():
    """Before: one 11-unit size at every width, 5 px tall on a phone."""
    bands = tick_bands_in_css()

    for _, low, size in bands:
        assert size * max(low, PHONE_CHART_WIDTH) / charts.WIDTH >= 9, (low, size)
    # The bands, widths and sizes are the ones charts.py places its x labels for.
    assert sorted(bands) == sorted(charts.TICK_BANDS)


@pytest.mark.parametrize("questions", [1, 3, 6, 12])
def test_a_bars_value_is_drawn_at_the_axis_labels_size_where_it_fits_its_column_and_inside_the_chart(questions):
    """Before: the values stayed 11 units at every width, 5 px tall on a phone, and a full bar's went over the top
    edge once drawn larger. Now each is drawn in the bands where it fits its column (the table has every value); a
    full bar leaves room above it for its value at the largest size, and a bar below zero has its value above the
    zero line, clear of the x labels."""
    alphas = [1.0, -0.2, *[0.5] * (questions - 2)][:questions]
    rows = [{"question": f"q{n}", "alpha": alpha, "units": 30} for n, alpha in enumerate(alphas)]
    svg = svg_of(parse(charts.agreement_chart(rows)))
    values = [text for text in svg.iter(f"{SVG}text") if "bar-value" in text.get("class", "").split()]
    zero = float(svg.find(f".//{SVG}line[@class='baseline']").get("y1"))
    slot = (charts.WIDTH - charts.RIGHT - float(svg.find(f".//{SVG}line[@class='baseline']").get("x1"))) / questions

    for band, _, size in tick_bands_in_css():
        shown = [text for text in values if f"on-{band}" in text.get("class").split()]
        # Widths by the charts' own estimate, which test_the_label_width_estimate_… holds to what chromium draws
        # (tests/browser/test_chart_labels.py measures these labels drawn).
        assert all(charts.text_width(text.text, size) <= slot for text in shown), band
        assert all(float(text.get("y")) - 0.8 * size >= 0 for text in shown), band
        assert not overlapping([extent(text, charts.text_width(text.text, size)) for text in shown]), band
        if questions <= 6 or size == 11:
            assert len(shown) == questions, band  # every value, unless twelve columns on a narrow chart
    assert values[0].text == "1.000" and float(values[0].get("y")) < zero
    if questions > 1:
        assert values[1].text == "-0.200" and float(values[1].get("y")) == pytest.approx(zero - 4)


def test_why_a_bar_is_missing_is_said_where_it_fits_its_column_and_a_dash_where_it_does_not():
    """ "too few items" is wider than a column of five at the larger sizes: there a dash stands in (the tooltip and the
    table say why), never a label running into the next column."""
    rows = [{"question": f"q{n}", "alpha": 0.0, "units": 1} for n in range(5)]
    svg = svg_of(parse(charts.agreement_chart(rows)))
    missing = [text for text in svg.iter(f"{SVG}text") if "bar-missing" in text.get("class", "").split()]
    slot = (charts.WIDTH - charts.RIGHT - float(svg.find(f".//{SVG}line[@class='baseline']").get("x1"))) / 5

    for band, _, size in charts.TICK_BANDS:
        shown = [text for text in missing if f"on-{band}" in text.get("class").split()]
        assert len(shown) == 5, band  # one for each bar
        assert all(charts.text_width(text.text, size) <= slot for text in shown), band
    assert {text.text for text in missing if "on-wide" in text.get("class")} == {"too few items"}
    assert {text.text for text in missing if "on-phone" in text.get("class")} == {"—"}


def test_an_agreement_with_enough_items_but_no_figure_is_not_said_to_have_too_few():
    """α is undefined when every answer is the same, over any number of items: its bar is "n/a", not "too few"."""
    svg = svg_of(parse(charts.agreement_chart([{"question": "correct", "alpha": None, "units": 30}])))

    texts = {text.text for text in svg.iter(f"{SVG}text") if "bar-missing" in text.get("class", "").split()}

    assert texts == {"n/a"}


def week_label_width(text: str, size: float) -> float:
    """A week label's width, an estimate of the tests' own: 0.65 em a character (chromium draws "2026-W41" 5.13 em
    wide in DejaVu Sans, the font system-ui falls back to here)."""
    return len(text) * 0.65 * size


def label_width(text: str, size: float) -> float:
    """Any other axis label's width, an estimate of the tests' own (not `charts.text_width`, which the charts place
    labels by): 0.65 em a character as for a week label, a full em for a character 0.65 would undercount (m, w, M,
    W, "…" and anything not ASCII)."""
    wide = sum(1 for char in text if char in "mwMW" or not char.isascii())
    return ((len(text) - wide) * 0.65 + wide) * size


@pytest.mark.parametrize("weeks", [1, 2, 3, 5, 8, 9, 10, 13, 20, 26, 53])
def test_week_labels_never_overlap_and_the_latest_week_is_always_named(weeks):
    """Before: with nine weeks the last label, drawn ending at its point, overlapped the one before it."""
    svg = svg_of(parse(charts.pass_rate_chart(trend([0.5] * weeks))))
    latest = f"2026-W{40 + weeks - 1:02d}"

    for band, _, size in tick_bands_in_css():
        labels = x_labels(svg, band)
        spans = [extent(label, week_label_width(label.text, size)) for label in labels]
        assert all(left >= 0 and right <= charts.WIDTH for left, right in spans), band
        assert not overlapping(spans), band
        assert latest in [label.text for label in labels], band
        if weeks <= 5 and size == 11:
            assert len(labels) == weeks  # a desktop chart of a few weeks names every one


def retention_of(offsets: int) -> dict:
    return {"all": [{"offset": k, "rate": 0.5, "returned": 5, "users": 10} for k in range(offsets)]}


@pytest.mark.parametrize(
    ("chart", "count"),
    [*(("pass-rate", weeks) for weeks in (2, 3, 5, 7, 8, 9, 10, 13, 26)), *(("retention", n) for n in (5, 8, 9, 12))],
)
def test_the_one_before_the_latest_is_named_wherever_the_two_fit_side_by_side(chart, count):
    """A weekly meeting compares the latest week with the one before it. Before: with 8 weeks a desktop chart named 7
    of them but not 2026-W46, the week before the latest (every k-th counting back from the latest, and a label
    crowding the latest left out), and a retention chart of Weeks 0-7 left out "Week 6" likewise."""
    if chart == "pass-rate":
        svg = svg_of(parse(charts.pass_rate_chart(trend([0.5] * count))))
        latest, before = (f"2026-W{40 + count - back:02d}" for back in (1, 2))
    else:
        svg = svg_of(parse(charts.retention_chart(retention_of(count))))
        latest, before = f"Week {count - 1}", f"Week {count - 2}"
    points = [float(point.get("cx")) for point in svg.findall(f".//{SVG}circle")]

    for band, _, size in tick_bands_in_css():
        labels = x_labels(svg, band)
        spans = [extent(label, label_width(label.text, size)) for label in labels]
        assert not overlapping(spans) and all(left >= 0 and right <= charts.WIDTH for left, right in spans), band
        named = [label.text for label in labels]
        assert latest in named, band
        # Side by side, each ending at its point (the latest ends the chart): they fit when the step between their
        # points holds the latest and the gap, by the charts' own width estimate (held to chromium's below).
        if points[-1] - points[-2] >= charts.text_width(latest, size) + charts.TICK_GAP * size:
            assert before in named, (band, named)


@pytest.mark.parametrize("offsets", [6, 7, 8])
def test_a_desktop_retention_chart_names_every_week_since_first_visit(offsets):
    """At the sizes of a desktop's charts (the wide and medium bands) every week is named, apart and within the chart.
    Before: in a medium chart (a 1,280 px meeting page's) "Week 0" was left out, crowded by its neighbour's room as it
    started at its point, and "Week 5" too, crowded by the last two, which ended at theirs."""
    svg = svg_of(parse(charts.retention_chart(retention_of(offsets))))

    for band, _, size in tick_bands_in_css():
        if size > 14:
            continue  # a phone's labels, larger: not every week fits there
        labels = x_labels(svg, band)
        assert [label.text for label in labels] == [f"Week {week}" for week in range(offsets)], band
        spans = [extent(label, label_width(label.text, size)) for label in labels]
        assert not overlapping(spans) and all(left >= 0 and right <= charts.WIDTH for left, right in spans), band


@pytest.mark.parametrize("days", [7, 30, 60])
def test_day_labels_of_a_histogram_never_overlap(days):
    bars = [{"label": f"Oct {day:02d}", "value": day % 5} for day in range(1, days + 1)]
    svg = svg_of(parse(charts.histogram_chart(name="per-day", title="Outputs per day", bars=bars)))

    for band, _, size in charts.TICK_BANDS:
        spans = [extent(label, label_width(label.text, size)) for label in x_labels(svg, band)]
        assert spans and not overlapping(spans)


def test_a_long_question_name_under_a_bar_is_cut_short_with_its_full_name_in_a_tooltip():
    rows = [{"question": name, "alpha": 0.6} for name in ("Is the answer factually correct?", "tone", "helpfulness")]
    svg = svg_of(parse(charts.agreement_chart(rows)))

    for band, _, size in charts.TICK_BANDS:
        labels = x_labels(svg, band)
        assert len(labels) == 3, band  # each bar named, at every size
        assert not overlapping([extent(label, label_width(label.text, size)) for label in labels]), band
    phone = x_labels(svg, "phone")[0]
    assert phone.text.endswith("…") and phone.find(f"{SVG}title").text == "Is the answer factually correct?"


# Widths chromium draws these labels at, 11 units of DejaVu Sans (getBBox), the font system-ui falls back to here.
DRAWN_WIDTHS = {"2026-W41": 56.4, "helpfulness": 63.3, "Week 0": 40.8, "100%": 31.4, "1.000": 31.7, "correct": 38.5}


@pytest.mark.parametrize(("text", "drawn"), DRAWN_WIDTHS.items())
def test_the_label_width_estimate_is_never_short_of_what_a_browser_draws(text, drawn):
    assert drawn <= charts.text_width(text, 11) <= drawn * 1.25


def test_the_line_to_a_week_not_closed_is_dotted_and_a_legend_says_why():
    weeks = trend([0.7, 0.72, 0.68, 0.3, 0.25])
    weeks[3]["provisional"], weeks[4]["provisional"] = True, True
    figure = parse(charts.pass_rate_chart(weeks))
    svg = svg_of(figure)

    lines = svg.findall(f".//{SVG}polyline")
    solid = [line for line in lines if "provisional" not in line.get("class")]
    dotted = [line for line in lines if "provisional" in line.get("class")]
    assert [len(line.get("points").split()) for line in solid] == [3]  # W40-W42, closed
    assert [len(line.get("points").split()) for line in dotted] == [3]  # W42 on to W44: the line stays whole
    assert dotted[0].get("stroke-dasharray")
    circles = svg.findall(f".//{SVG}circle")
    assert ["provisional" in circle.get("class") for circle in circles] == [False, False, False, True, True]
    legend = "".join(figure.find(".//ul[@class='chart-legend']/li").itertext())
    assert legend == "Dotted: a week not closed yet, whose figure may still change"
    all_closed = parse(charts.pass_rate_chart(trend([0.7, 0.72])))
    assert all_closed.find(".//ul[@class='chart-legend']") is None
    assert not [line for line in svg_of(all_closed).findall(f".//{SVG}polyline") if "provisional" in line.get("class")]


def test_an_agreement_bars_detail_counts_one_label_in_the_singular():
    rows = [{"question": "correct", "alpha": None, "units": 1, "labels": 1, "level": "nominal", "experts": 1}]

    tips = [title.text for title in svg_of(parse(charts.agreement_chart(rows))).iter(f"{SVG}title")]

    assert any(", 1 label, nominal" in (tip or "") for tip in tips)
    assert not any("1 labels" in (tip or "") for tip in tips)
