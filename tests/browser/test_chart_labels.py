"""A real chromium at a phone's size: the charts' axis labels are drawn large enough to read (a 640-unit SVG shrunk
to 308 px drew its 11-unit labels 5 px tall) and the x labels shown never overlap, there or on a desktop."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Queue, week_label
from labeling.rules import calendar
from labeling.services.search_index import index_outputs
from tests.factories import OutputFactory, created_weeks_ago
from tests.helpers.browser import sign_in
from tests.helpers.metrics import store_retention, store_week

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each chart's drawn axis labels: text, left and right edges, height on screen, and whether it names a week (the y
# labels are centred on their gridline).
DRAWN_TICKS = """() => [...document.querySelectorAll('figure.chart svg')].map(svg => ({
  chart: svg.closest('figure').dataset.chart,
  ticks: [...svg.querySelectorAll('text.tick')].filter(text => getComputedStyle(text).display != 'none').map(text => {
    const box = text.getBoundingClientRect();
    const names_a_week = !text.hasAttribute('dominant-baseline');
    return {text: text.textContent, left: box.left, right: box.right, height: box.height, x: names_a_week};
  }),
}))"""


@pytest.fixture
def ten_weeks(project, lead, rubric):
    """Ten weeks of pass rate and retention, more labels than a phone's chart has room for; the last week's label."""
    created_weeks_ago(project, 12)
    queue = Queue.objects.create(project=project, slug="all", name="All answers", overlap=2, weekly_quota=20)
    this_week = calendar.current_week(project)
    for weeks_ago in range(1, 11):
        store_week(project, queue, this_week - timedelta(weeks=weeks_ago), passes=20 + weeks_ago, n=40)
    for weeks_ago in range(2, 10):
        store_retention(project, this_week - timedelta(weeks=weeks_ago), this_week)
    return week_label(this_week - timedelta(weeks=1))


@pytest.mark.parametrize("width", [390, 1280])
def test_axis_labels_are_legible_and_week_labels_never_overlap(page, live_server, project, ten_weeks, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/meeting/{ten_weeks}/")  # the last week's meeting
    page.locator("figure[data-chart=pass-rate] svg").wait_for()
    charts = page.evaluate(DRAWN_TICKS)

    assert {"pass-rate", "retention"} <= {chart["chart"] for chart in charts}
    assert_legible_and_apart(charts)
    if width == 1280:
        # Weeks 0-7 since first visit, in a chart about 490 px wide: the latest and the one before it fit side by side
        # there, and a meeting compares the two. Before: "Week 6" was left out (every k-th counting back from the last).
        [retention] = [chart for chart in charts if chart["chart"] == "retention"]
        named = sorted((tick for tick in retention["ticks"] if tick["x"]), key=lambda tick: tick["left"])
        assert [tick["text"] for tick in named][-2:] == ["Week 6", "Week 7"]
        # Every week is named, the first and the one before the last two too: they were left out for crowding the
        # first label, which started at its point, and the last two, which ended at theirs.
        assert [tick["text"] for tick in named] == [f"Week {week}" for week in range(8)]


# Each bar's value label drawn: its height on screen, its edges, and the chart's SVG box.
DRAWN_BAR_VALUES = """() => [...document.querySelectorAll('figure.chart svg')].flatMap(svg => {
  const frame = svg.getBoundingClientRect();
  return [...svg.querySelectorAll('text.bar-value')].filter(text => getComputedStyle(text).display != 'none')
    .map(text => { const box = text.getBoundingClientRect();
      return {text: text.textContent, left: box.left, right: box.right, top: box.top, height: box.height,
              frame: {left: frame.left, right: frame.right, top: frame.top}}; });
})"""


@pytest.mark.parametrize("width", [390, 1280])
def test_the_agreement_bars_values_are_legible_inside_the_chart_and_apart(page, live_server, project, ten_weeks, width):
    """Before: 11 units at every width, 5 px tall on a phone."""
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/meeting/{ten_weeks}/")
    page.locator("figure[data-chart=agreement] svg").wait_for()
    values = page.evaluate(DRAWN_BAR_VALUES)

    assert sorted(value["text"] for value in values) == ["0.500", "0.700"]  # store_week's two questions
    for value in values:
        assert value["height"] >= 9, value
        assert value["top"] >= value["frame"]["top"] and value["frame"]["left"] <= value["left"], value
        assert value["right"] <= value["frame"]["right"], value
    left, right = sorted(values, key=lambda value: value["left"])
    assert left["right"] <= right["left"]


def assert_legible_and_apart(charts: list[dict]) -> None:
    for chart in charts:
        assert all(tick["height"] >= 9 for tick in chart["ticks"]), chart
        x_ticks = sorted((tick for tick in chart["ticks"] if tick["x"]), key=lambda tick: tick["left"])
        assert x_ticks, chart["chart"]
        for before, after in zip(x_ticks, x_ticks[1:], strict=False):
            assert before["right"] <= after["left"], (chart["chart"], before, after)


def test_explores_charts_take_the_phones_width_and_their_labels_are_legible(page, live_server, project, lead):
    """Before: explore drew its charts two a row at any width, 133 px wide on a phone."""
    now = timezone.now()
    made = [OutputFactory(project=project, occurred_at=now - timedelta(days=n), metadata={"latency_ms": 100 + 40 * n})
            for n in range(30)]  # fmt: skip
    index_outputs(project_id=project.pk, output_ids=[output.pk for output in made])
    page.set_viewport_size({"width": 390, "height": 900})
    sign_in(page, live_server, "lena")

    page.goto(f"{live_server.url}/p/{project.slug}/explore/")
    page.locator("#explore-charts figure.chart svg").first.wait_for()
    charts = page.evaluate(DRAWN_TICKS)

    assert charts
    for chart in page.locator("#explore-charts figure.chart").all():
        assert chart.bounding_box()["width"] >= 280
    assert_legible_and_apart(charts)
