"""What explore shows beside and around the results: totals (exact, then estimated), facets, histograms,
outputs per day in the project's time zone, one session's conversation, and the result pages' cursors."""

import base64
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from labeling.exceptions import InvalidFilter
from labeling.models import Output, Project
from labeling.rules.calendar import cycle_week
from labeling.rules.explore import parse_filter
from labeling.selectors.explore import (
    EXACT_LIMIT,
    HISTOGRAM_BINS,
    Total,
    conversation,
    count_matches,
    daily,
    decode_cursor,
    encode_cursor,
    filter_outputs,
    histogram,
    result_page,
    summary,
)
from labeling.selectors.explore import facets as explore_facets
from labeling.selectors.explore_page import filter_choices
from tests.factories import OutputFactory, ProjectFactory, created_weeks_ago
from tests.helpers.explore import utc

pytestmark = pytest.mark.django_db


def spec(query: str = ""):
    return parse_filter(QueryDict(query))


def facet_counts(found) -> dict[str, dict[str, int]]:
    return {facet.title: {value.value: value.count for value in facet.values} for facet in found.facets}


def test_the_summary_counts_each_facet_of_the_matches(shop):
    found = summary(shop.project, spec())

    assert (found.total.value, found.total.estimated, found.sample, found.estimated) == (10, False, 10, False)
    assert facet_counts(found) == {
        "Model": {"gpt-4o-mini": 7, "gpt-4o": 2, "(none)": 1},
        "Tag": {"shipping": 6, "billing": 2, "urgent": 2, "Billing": 1},
        "Feedback": {"none": 7, "down": 1, "up": 1, "neutral": 1},
        "Gold: Is the answer correct?": {"false": 3, "true": 1},  # the tie is undecided; two adjudicated false
        "topic": {"shipping": 6, "billing": 2, "Billing": 1},
        "latency_ms": {"120": 2, "80": 1},  # numbers and strings alike, as meta= compares them
        "vip": {"true": 1, "false": 1},
        "0": {"zero": 1, "0": 1},
    }
    (length,) = found.histograms
    assert length.title == "Output length (characters)"
    assert sum(count for _, _, count in length.bins) == 10
    assert (length.bins[0][0], length.percentiles) == (2, {"p50": 26, "p90": 42, "p99": 42})


def test_the_feedback_facet_names_each_score_in_the_words_of_the_filter_not_emoji(shop):
    """A server without an emoji font drew "👍 up" as a box; the facet reads as the filter's options and the badges."""
    found = summary(shop.project, spec())

    (feedback,) = [facet for facet in found.facets if facet.parameter == "feedback"]
    assert {value.value: value.label for value in feedback.values} == {
        "none": "no feedback", "down": "thumbs down", "up": "thumbs up", "neutral": "neutral",
    }  # fmt: skip


def test_the_summary_follows_the_filter_and_each_value_narrows_to_its_count(shop):
    found = summary(shop.project, spec("to=2026-11-12"))
    counts = facet_counts(found)

    assert found.total.value == 5
    assert counts["Feedback"] == {"none": 2, "down": 1, "up": 1, "neutral": 1}
    assert counts["latency_ms"] == {"120": 2, "80": 1}  # the number 120 and the string "120" are one value
    assert counts["Gold: Is the answer correct?"] == {}
    for facet in found.facets:
        for value in facet.values:
            if value.value == "(none)":  # no model: not a value the filter can take
                continue
            added = f"{facet.key}:{value.value}" if facet.parameter in ("meta", "gold") else value.value
            narrowed = spec(f"to=2026-11-12&{facet.parameter}={added}")
            assert filter_outputs(shop.project, narrowed).count() == value.count, (facet.title, value)


def test_counts_are_exact_up_to_the_limit_and_an_estimate_above_it():
    """One test makes EXACT_LIMIT + 50 outputs (bulk): the facets count the newest EXACT_LIMIT."""
    project = ProjectFactory(slug="big")
    start = utc(1, 0)
    _insert_outputs(project, EXACT_LIMIT + 50, start)
    outputs = Output.objects.filter(project=project)
    newest = outputs.filter(occurred_at__gte=start + timedelta(seconds=50))

    assert count_matches(newest).value == EXACT_LIMIT and not count_matches(newest).estimated
    assert count_matches(filter_outputs(project, spec("model=even"))).value == (EXACT_LIMIT + 50) // 2
    total = count_matches(filter_outputs(project, spec()))
    if connection.vendor == "postgresql":
        assert total.estimated and EXACT_LIMIT < total.value <= (EXACT_LIMIT + 50) * 1.2
    else:  # SQLite has no planner estimate to ask: it counts
        assert total == Total(EXACT_LIMIT + 50)

    found = summary(project, spec())
    assert (found.sample, found.estimated, found.sort) == (EXACT_LIMIT, True, "newest")
    # The newest EXACT_LIMIT as they are (n = 50 to 10,049), not scaled to a total they are no random sample of.
    assert facet_counts(found)["Model"] == {"even": 5000, "odd": 5000}
    assert facet_counts(found)["Tag"] == {"tenth": 1000}
    assert sum(count for _, _, count in found.histograms[0].bins) == EXACT_LIMIT


def test_past_the_limit_the_facets_count_the_first_matches_in_the_lists_order(monkeypatch):
    """Sorted slowest first, the facets are the slowest outputs' (the list's first), not the newest ones': twenty fast
    new outputs of one model, ten slow old ones of another, and room for ten."""
    monkeypatch.setattr(explore_facets, "EXACT_LIMIT", 10)
    project = ProjectFactory(slug="slow-and-old")
    for n in range(30):
        slow = n < 10
        OutputFactory(project=project, external_id=f"o-{n}", occurred_at=utc(1, 0) + timedelta(minutes=n),
                      model="old-slow" if slow else "new-fast",
                      metadata={"latency_ms": 9000 + n if slow else n})  # fmt: skip

    newest, slowest = summary(project, spec()), summary(project, spec("sort=slowest"))

    assert facet_counts(newest)["Model"] == {"new-fast": 10}
    assert facet_counts(slowest)["Model"] == {"old-slow": 10}
    assert (slowest.total, slowest.sample, slowest.estimated, slowest.sort) == (Total(30), 10, True, "slowest")
    assert min(low for low, _, _ in next(h for h in slowest.histograms if h.title == "latency_ms").bins) >= 9000


def test_a_facets_ties_are_listed_by_value_whatever_the_order_the_outputs_come_in():
    """Equal counts are listed by value: the sample is read in no order (its first matches are sorted as narrow rows,
    then read by pk), so "first seen" would change with the plan."""
    project = ProjectFactory(slug="ties")
    for n, model in enumerate(["alpha", "alpha", "zeta", "zeta", "mid"]):  # the newest (the last) first seen
        OutputFactory(project=project, external_id=f"o-{n}", occurred_at=utc(1, 0) + timedelta(minutes=n),
                      model=model, tags=[model], metadata={"z": "x", "a": "x"})  # fmt: skip

    found = summary(project, spec())

    facets = {facet.title: [value.value for value in facet.values] for facet in found.facets}
    assert facets["Model"] == facets["Tag"] == ["alpha", "zeta", "mid"]
    assert [facet.key for facet in found.facets if facet.parameter == "meta"] == ["a", "z"]


def test_the_filter_bar_lists_its_choices_in_the_facets_order():
    """One order on the page: the filter bar's models, tags and metadata (the newest outputs') as the facets beside
    it list them, the most frequent first and ties by value; before, the bar broke ties by the newest first seen."""
    project = ProjectFactory(slug="bar-ties")
    for n, model in enumerate(["alpha", "alpha", "zeta", "zeta", "mid"]):  # the newest (the last) first seen
        OutputFactory(project=project, external_id=f"o-{n}", occurred_at=utc(1, 0) + timedelta(minutes=n),
                      model=model, tags=[model], metadata={"z": "x", "a": "x"})  # fmt: skip

    facets = {facet.title: [value.value for value in facet.values] for facet in summary(project, spec()).facets}
    choices = filter_choices(project)

    assert choices.models == choices.tags == facets["Model"] == facets["Tag"] == ["alpha", "zeta", "mid"]
    assert choices.metadata_keys == ["a", "z"]
    assert choices.metadata_values == ["a:x", "z:x"]


@pytest.mark.parametrize("sort", ["newest", "oldest", "slowest", "longest"])
def test_the_first_matches_are_sorted_as_narrow_rows_and_only_theirs_read_whole(sort):
    """By latency or length (no index orders them), the first EXACT_LIMIT in the list's order are chosen among every
    match by their pks and sort keys alone (a top-N sort in memory), and only those outputs' columns are read, in one
    statement: sorting every match with its metadata spilled ~75 MB to disk at 300,000 outputs. In the index's order
    (newest, oldest) its first rows are read as they come: 10,000 probes by pk would cost ~60 ms more."""
    project = ProjectFactory(slug="narrow")
    OutputFactory(project=project, metadata={"latency_ms": 5, "region": "eu"})
    with CaptureQueriesContext(connection) as queries:
        summary(project, spec(f"sort={sort}"))

    (sample,) = [query["sql"] for query in queries if '"metadata" AS "metadata"' in query["sql"]]
    if sort in ("newest", "oldest"):
        assert " IN (SELECT " not in sample and f"LIMIT {EXACT_LIMIT}" in sample.split("ORDER BY", 1)[1]
        return
    outer, inner = sample.split(" IN (SELECT ", 1)
    assert "ORDER BY" not in outer
    assert inner.startswith('"U0"."id" AS "pk" FROM') and f"LIMIT {EXACT_LIMIT})" in inner


def _insert_outputs(project, count: int, start) -> None:
    """`count` outputs a second apart: models alternate even/odd, every tenth is tagged `tenth`."""
    if connection.vendor != "postgresql":  # SQLite (a local run): bulk_create is quick enough there
        Output.objects.bulk_create(
            Output(
                project=project,
                external_id=f"big-{n}",
                occurred_at=start + timedelta(seconds=n),
                received_at=start,
                model=("even", "odd")[n % 2],
                tags=["tenth"] if n % 10 == 0 else [],
                output="x",
                output_chars=1,
                content_hash=f"{n:064x}",
            )
            for n in range(count)
        )
        return
    # One statement: bulk_create's 10,000 rows of parameters take seconds to send on PostgreSQL.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO labeling_output (project_id, external_id, occurred_at, received_at, end_user_id, session_id,
                model, output, metadata, tags, feedback_comment, content_hash, output_chars)
            SELECT %s, 'big-' || n, %s + n * interval '1 second', %s, '', '', (ARRAY['even', 'odd'])[n %% 2 + 1],
                '"x"', '{}', CASE WHEN n %% 10 = 0 THEN '["tenth"]'::jsonb ELSE '[]'::jsonb END, '',
                lpad(to_hex(n), 64, '0'), 1
            FROM generate_series(0, %s - 1) AS n
            """,
            [project.pk, start, start, count],
        )
        cursor.execute("ANALYZE labeling_output")


def test_a_histogram_has_equal_bins_up_to_the_99th_percentile_and_the_rest_in_the_last():
    values = [*range(1, 200), 1_000_000]
    shown = histogram("latency_ms", values)

    assert len(shown.bins) == HISTOGRAM_BINS
    assert shown.bins[0][0] == 1 and shown.bins[-1][1] == pytest.approx(199)  # the outlier stretches nothing
    assert [count for _, _, count in shown.bins][-1] == 18  # 183 to 199, and the outlier
    assert sum(count for _, _, count in shown.bins) == 200
    assert shown.percentiles == {"p50": 101, "p90": 181, "p99": 199}
    assert histogram("empty", []).bins == [] and histogram("empty", []).percentiles == {}
    same = histogram("same", [5, 5, 5])
    assert same.bins[0] == (5, 6, 3) and sum(count for _, _, count in same.bins) == 3


def test_daily_counts_days_in_the_projects_time_zone_with_empty_days(shop):
    days = daily(shop.project, spec("from=2026-11-09&to=2026-11-16"))

    assert [day.day for day in days] == [date(2026, 11, 9) + timedelta(days=n) for n in range(8)]
    assert [day.outputs for day in days] == [1, 1, 1, 2, 2, 1, 2, 0]  # "a" at 23:59 on the 9th in New York
    assert [day.rated for day in days] == [1, 1, 1, 0, 0, 0, 0, 0]
    assert [day.thumbs_down for day in days] == [1, 0, 0, 0, 0, 0, 0, 0]
    assert [day.down_share for day in days] == [1.0, 0.0, 0.0, None, None, None, None, None]


def test_daily_follows_the_filter_and_defaults_to_the_last_sixty_days(shop):
    old_project = created_weeks_ago(Project.objects.get(pk=shop.project.pk), 104)  # a copy: the shop is shared

    days = daily(old_project, spec("tag=billing"), today=date(2026, 11, 16))

    assert len(days) == 60 and days[-1].day == date(2026, 11, 16)
    assert {day.day: day.outputs for day in days if day.outputs} == {date(2026, 11, 9): 1, date(2026, 11, 10): 1}


def test_a_young_projects_chart_starts_at_its_first_week_not_sixty_days_back(shop):
    """The shop was created today with outputs sent from the week of 9 November: its chart is those weeks' days,
    not eight weeks of empty bars before anything of it existed."""
    first_output = Output.objects.filter(project=shop.project).earliest("occurred_at")
    first_week = cycle_week(shop.project, first_output.occurred_at)

    days = daily(shop.project, spec(), today=date(2026, 11, 16))

    assert days[0].day == first_week and days[-1].day == date(2026, 11, 16)
    assert len(days) == (date(2026, 11, 16) - first_week).days + 1 < 60
    assert sum(day.outputs for day in days) == Output.objects.filter(project=shop.project).count()


def test_a_conversation_is_its_sessions_outputs_in_time_order_with_labels_and_gold(shop, django_assert_num_queries):
    with django_assert_num_queries(3):
        outputs = conversation(shop.project, "s3").outputs
        items = [(output.pk, item) for output in outputs for item in output.items.all()]
        labels = [(label.expert.username, label.answers) for _, item in items for label in item.labels.all()]
        gold = [item.resolution.adjudicated for _, item in items]

    assert shop.names([output.pk for output in outputs]) == {"g1", "over", "g2", "tie", "fixed"}
    assert [output.pk for output in outputs] == [shop.ids[name] for name in ("g1", "over", "g2", "tie", "fixed")]
    assert {item.queue.slug for _, item in items} == {"sample"} and len(labels) == 10
    assert gold == [{}, {"correct": gold[1]["correct"]}, {}, {}, {"correct": gold[4]["correct"]}]
    assert gold[1]["correct"]["value"] is False
    assert [shop.names([output.pk]) for output in conversation(shop.project, "s1").outputs] == [{"a"}, {"b"}]
    assert conversation(shop.project, "").outputs == [] and conversation(shop.project, "s-none").outputs == []


def test_pages_walk_every_match_newest_first_once(shop):
    seen, cursor = [], None
    while True:
        page = result_page(shop.project, spec(), cursor=cursor, limit=3)
        seen += [row.output.pk for row in page.rows]
        assert page.total.value == 10
        cursor = page.next_cursor
        if cursor is None:
            break
    newest_first = ["fixed", "tie", "g2", "over", "g1", "e", "d", "c", "b", "a"]  # equal times: higher pk first
    assert seen == [shop.ids[name] for name in newest_first]
    assert len(result_page(shop.project, spec(), limit=0).rows) == 1
    assert result_page(shop.project, spec(), limit=10).next_cursor is None


def test_a_page_cursor_is_good_only_for_the_project_and_filter_it_was_handed_out_for(shop):
    cursor = result_page(shop.project, spec("tag=shipping"), limit=1).next_cursor

    assert len(result_page(shop.project, spec("tag=shipping"), cursor=cursor, limit=20).rows) == 5
    for project, other_filter in [
        (shop.project, spec()),
        (shop.project, spec("tag=billing")),
        (ProjectFactory(), spec("tag=shipping")),
    ]:
        with pytest.raises(InvalidFilter) as refused:
            result_page(project, other_filter, cursor=cursor)
        assert "not handed out by this endpoint" in refused.value.problems["cursor"]


def test_a_cursor_decodes_to_what_it_was_made_from(shop):
    output = Output.objects.get(pk=shop.ids["a"])
    assert decode_cursor(encode_cursor(output, scope="1 q=a"), scope="1 q=a") == (output.occurred_at, output.pk)
    assert "=" not in encode_cursor(output, scope="1 q=a")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "é",
        "a",
        _b64(b"no bar"),
        _b64(b"2026-11-10T05:00:00|1"),  # no time zone
        _b64(b"2026-11-10T05:00:00+00:00|-1"),
        _b64(b"2026-11-10T05:00:00+00:00|1|2"),
        _b64(b"2026-11-10T05:00:00+00:00|" + b"9" * 19),
        _b64(b"2026-13-10T05:00:00+00:00|1"),
        _b64(b"\xff\xfe|1"),
        _b64(b"' OR 1=1 --|1"),
        _b64("2026-11-10T05:00:00+00:00|١".encode()),
    ],
)
def test_a_hostile_cursor_is_refused_with_a_message(shop, cursor):
    with pytest.raises(InvalidFilter) as refused:
        result_page(shop.project, spec(), cursor=cursor)
    assert "not handed out by this endpoint" in refused.value.problems["cursor"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the time budget is PostgreSQL's statement_timeout")
def test_a_count_past_its_time_budget_gives_the_planners_estimate_and_leaves_the_timeout_as_it_was():
    project = ProjectFactory(slug="slow-count")
    _insert_outputs(project, 50, utc(2, 0))
    slow = Output.objects.filter(project=project).extra(where=["pg_sleep(0.01) IS NOT NULL"])  # 10 ms a row

    assert count_matches(slow, budget_ms=10_000) == Total(50)
    estimated = count_matches(slow, budget_ms=20)
    assert estimated.estimated and estimated.value >= 1
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] not in ("20ms", "10s")  # the budget did not outlive the count


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TABLESAMPLE is PostgreSQL's")
def test_daily_counts_a_big_filter_on_a_sample_and_scales_it(monkeypatch):
    project = ProjectFactory(slug="sampled-days", time_zone="UTC")
    _insert_outputs(project, 4000, utc(2, 0))  # 4,000 seconds of 2026-11-02
    monkeypatch.setattr(explore_facets, "DAILY_SAMPLE_ROWS", 2000)  # half the pages

    exact = daily(project, spec("from=2026-11-01&to=2026-11-03"))
    sampled = daily(project, spec("from=2026-11-01&to=2026-11-03"), total=Total(20_000, estimated=True))

    assert [day.outputs for day in exact] == [0, 4000, 0] and not exact[1].sampled
    assert sampled[1].sampled and 2000 <= sampled[1].outputs <= 6000  # scaled from about half the rows
    assert sampled[0].outputs == sampled[2].outputs == 0


def test_a_per_day_chart_draws_at_most_its_ranges_last_year():
    project = ProjectFactory(slug="long-range", time_zone="UTC")
    days = daily(project, spec("from=2000-01-01&to=2100-12-31"))
    assert len(days) == 366 and days[-1].day == date(2100, 12, 31)


@pytest.mark.parametrize("number", [1e16, 1e-07, 1 / 3, 2.0, 12])
def test_a_metadata_number_facet_value_filters_to_the_outputs_it_counts(number):
    """On either database: a number counted beside a key's text is written as `meta=` reads it, and finds them."""
    project = ProjectFactory()
    for value in ("high", number, number):
        OutputFactory(project=project, metadata={"score": value})

    counted = facet_counts(summary(project, spec()))["score"]

    assert counted.pop("high") == 1 and list(counted.values()) == [2]
    (value,) = counted
    assert filter_outputs(project, spec(urlencode({"meta": f"score:{value}"}))).count() == 2


def test_every_filter_bar_suggestion_of_a_metadata_value_opens_a_page():
    """The bar capped a suggested value at 60 characters but not its key, whose quotes a link doubles: a key of 120
    quotes made a `key:x` pair of 244 characters, a suggestion the page refused ("Use at most 200 characters")."""
    project = ProjectFactory(slug="long-key-choices")
    OutputFactory(project=project, metadata={'"' * 120: "x", "k" * 150: "y", "plan": "pro", "ok": True})

    choices = filter_choices(project)

    assert choices.metadata_values == ["k" * 150 + ":y", "ok:true", "plan:pro"]
    for value in choices.metadata_values:
        parse_filter({"meta": [value]})  # no InvalidFilter


def test_a_metadata_key_too_long_for_any_filter_takes_no_facet_place():
    """A key no `key:value` filter can hold (201 characters with its quotes) lists no value: it took one of the
    TOP_METADATA_KEYS places all the same, and the twelfth key with values was left out."""
    project = ProjectFactory(slug="long-key-facets")
    too_long = "a:" + "x" * 200  # sorted first among keys as frequent; quoted for its colon
    keys = [f"k{n:02d}" for n in range(explore_facets.TOP_METADATA_KEYS)]
    OutputFactory(project=project, metadata={too_long: "v", **{key: "v" for key in keys}})

    titles = [facet.title for facet in summary(project, spec()).facets if facet.parameter == "meta"]

    assert titles == keys
