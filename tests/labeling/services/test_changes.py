"""What changed: the week's significant changes over all outputs and events, stored as WeekChange rows."""

from datetime import timedelta

import numpy as np
import pytest
from django.forms.models import model_to_dict
from scipy.stats import binomtest, chi2_contingency, mannwhitneyu
from statsmodels.stats.proportion import proportions_ztest

from labeling.metrics import changes as tests
from labeling.models import Output, WeekChange
from labeling.rules import calendar
from labeling.selectors.changes import week_changes
from labeling.services import change_counts
from labeling.services.changes import refresh_week_changes
from tests.helpers.changes import add_events, add_outputs, add_verdicts

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def week(project):
    """The last closed week: its baseline is the four weeks before it."""
    return calendar.current_week(project) - timedelta(days=7)


def baseline_weeks(week):
    return [week - timedelta(weeks=offset) for offset in range(1, 5)]


def stored(project, week) -> dict[tuple, WeekChange]:
    return {(c.kind, c.dimension, c.key, c.value): c for c in WeekChange.objects.filter(project=project, week=week)}


def test_a_new_model_with_more_thumbs_down_is_found_with_its_counts_and_tests(project, week):
    for each in [*baseline_weeks(week), week]:
        add_outputs(project, each, 400, rated=200, down=20, model="gpt")
    add_outputs(project, week, 150, rated=100, down=30, model="gpt-next")

    assert refresh_week_changes(project=project, week=week) >= 4
    changes = stored(project, week)

    new = changes[("new_slice", "model", "", "gpt-next")]
    assert (new.current_count, new.current_total, new.baseline_count, new.baseline_total) == (150, 550, 0, 1600)
    assert new.p_value == pytest.approx(proportions_ztest([150, 0], [550, 1600])[1])

    down = changes[("thumbs_down_share", "overall", "", "")]
    assert (down.current_count, down.current_total, down.baseline_count, down.baseline_total) == (50, 300, 80, 800)
    z, p = proportions_ztest([50, 80], [300, 800])
    assert (down.statistic, down.p_value) == (pytest.approx(z), pytest.approx(p))
    # The same 2x2 table's chi-square without continuity correction is z squared, with the same p.
    chi2, chi2_p, _, _ = chi2_contingency([[50, 250], [80, 720]], correction=False)
    assert (down.statistic**2, down.p_value) == (pytest.approx(chi2), pytest.approx(chi2_p))
    assert down.current == pytest.approx(50 / 300) and down.baseline == pytest.approx(0.1)
    assert down.q_value >= down.p_value and down.q_value <= 0.05

    volume = changes[("volume", "overall", "", "")]
    assert (volume.current, volume.baseline, volume.baseline_weeks) == (550, 400, 4)
    assert volume.p_value == pytest.approx(binomtest(550, 550 + 1600, 1 / 5).pvalue)

    share = changes[("slice_share", "model", "", "gpt")]
    assert share.current == pytest.approx(400 / 550) and share.baseline == 1.0
    # gpt's own thumbs-down rate did not move: not a change.
    assert ("slice_thumbs_down", "model", "", "gpt") not in changes
    ranks = sorted(changes.values(), key=lambda change: change.rank)
    assert ranks[0].kind == "new_slice" and [c.rank for c in ranks] == list(range(len(ranks)))
    assert all(change.tests == ranks[0].tests > len(ranks) for change in ranks)


def test_a_steady_stream_lists_nothing(project, week):
    for each in [*baseline_weeks(week), week]:
        add_outputs(project, each, 300, rated=100, down=10, commented=5, model="gpt", tags=["billing"],
                    metadata={"topic": "returns", "latency_ms": 900}, chars=400)  # fmt: skip
        add_events(project, each, 200)

    assert refresh_week_changes(project=project, week=week) == 0
    assert not WeekChange.objects.exists()


def test_a_slice_of_three_outputs_is_never_a_change(project, week):
    for each in [*baseline_weeks(week), week]:
        add_outputs(project, each, 300, rated=100, down=10)
    add_outputs(project, week, 3, rated=3, down=3, model="tiny", tags=["odd"], metadata={"topic": "odd"})

    refresh_week_changes(project=project, week=week)

    assert not any("tiny" in key or "odd" in key for key in stored(project, week))


def test_metadata_tags_lengths_numbers_and_events_are_compared(project, week):
    for each in baseline_weeks(week):
        add_outputs(project, each, 240, metadata={"topic": "shipping", "latency_ms": 1000}, tags=["shipping"],
                    chars=500)  # fmt: skip
        add_outputs(project, each, 60, metadata={"topic": "returns", "latency_ms": 1000}, tags=["refund"],
                    chars=500)  # fmt: skip
        add_events(project, each, 300)
    add_outputs(project, week, 150, metadata={"topic": "shipping", "latency_ms": 1500}, tags=["shipping"], chars=800)
    add_outputs(project, week, 150, metadata={"topic": "returns", "latency_ms": 1500}, tags=["refund"], chars=800)
    add_events(project, week, 300)
    add_events(project, week, 100, name="return_started")

    refresh_week_changes(project=project, week=week)
    changes = stored(project, week)

    returns = changes[("slice_share", "metadata", "topic", "returns")]
    assert (returns.current_count, returns.current_total, returns.baseline_count, returns.baseline_total) == (
        150, 300, 240, 1200,
    )  # fmt: skip
    assert ("slice_share", "tag", "", "refund") in changes
    length = changes[("output_length", "overall", "", "")]
    assert (length.current, length.baseline, length.current_total, length.baseline_total) == (800, 500, 300, 1200)
    assert length.p_value == pytest.approx(
        mannwhitneyu([800] * 300, [500] * 1200, alternative="two-sided", method="asymptotic").pvalue
    )
    latency = changes[("metadata_median", "metadata", "latency_ms", "")]
    assert (latency.current, latency.baseline, latency.relative) == (1500, 1000, 0.5)
    started = changes[("new_slice", "event", "", "return_started")]
    assert (started.current_count, started.current_total, started.baseline_total) == (100, 400, 1200)
    assert ("volume", "events", "", "") in changes  # 400 against 300 a week
    assert ("volume", "overall", "", "") not in changes  # 300 outputs, as every week


def test_a_stored_number_no_double_holds_is_left_out_and_the_week_is_still_compared(project, week):
    """Ingest refuses a metadata integer past a double's range; one stored before that rule must not stop the
    week's close (PostgreSQL refuses to cast it to float8)."""
    for each in baseline_weeks(week):
        add_outputs(project, each, 300, metadata={"latency_ms": 1000})
    add_outputs(project, week, 299, metadata={"latency_ms": 1500})
    add_outputs(project, week, 1, metadata={"latency_ms": 10**309})

    refresh_week_changes(project=project, week=week)

    latency = stored(project, week)[("metadata_median", "metadata", "latency_ms", "")]
    assert (latency.current, latency.baseline, latency.current_total) == (1500, 1000, 299)


def test_the_labeled_pass_rate_is_compared_per_slice(project, rubric, week):
    for each in baseline_weeks(week):
        add_outputs(project, each, 200, model="claude")
        add_verdicts(project, add_outputs(project, each, 40, model="gpt"), each, passes=36)
    add_outputs(project, week, 200, model="claude")
    add_verdicts(project, add_outputs(project, week, 40, model="gpt"), week, passes=20)

    refresh_week_changes(project=project, week=week)
    changes = stored(project, week)

    for dimension, value in (("overall", ""), ("model", "gpt")):
        rate = changes[("slice_pass_rate", dimension, "", value)]
        assert (rate.current_count, rate.current_total, rate.baseline_count, rate.baseline_total) == (20, 40, 144, 160)
        assert rate.p_value == pytest.approx(proportions_ztest([20, 144], [40, 160])[1])
    assert ("slice_pass_rate", "model", "", "claude") not in changes  # no labels there


def test_an_output_failed_in_any_queue_fails_in_the_pass_rate_and_counts_once(project, rubric, week):
    for each in baseline_weeks(week):
        add_verdicts(project, add_outputs(project, each, 40), each, passes=36)
    twice_judged = add_outputs(project, week, 40)
    add_verdicts(project, twice_judged, week, passes=40, queue="sample")
    add_verdicts(project, twice_judged, week, passes=20, queue="escalations")  # the last 20 fail there

    refresh_week_changes(project=project, week=week)

    rate = stored(project, week)[("slice_pass_rate", "overall", "", "")]
    assert (rate.current_count, rate.current_total, rate.baseline_count, rate.baseline_total) == (20, 40, 144, 160)


def test_a_verdict_counts_in_the_week_its_output_occurred_not_its_items_week(project, rubric, week):
    for each in baseline_weeks(week):
        add_verdicts(project, add_outputs(project, each, 40), each, passes=36)
    add_verdicts(project, add_outputs(project, week, 40), week, passes=20)
    # A lead picks 60 of last week's outputs into this week's queue: they passed, last week.
    add_verdicts(project, add_outputs(project, week - timedelta(weeks=1), 60), week, passes=60)

    refresh_week_changes(project=project, week=week)

    rate = stored(project, week)[("slice_pass_rate", "overall", "", "")]
    assert (rate.current_count, rate.current_total, rate.baseline_count, rate.baseline_total) == (20, 40, 204, 220)


def _set_latencies(outputs, values) -> None:
    for out, value in zip(outputs, values, strict=True):
        out.metadata = {"latency_ms": float(value)}
    Output.objects.bulk_update(outputs, ["metadata"])


def test_a_continuous_key_is_compared_on_bounded_rounded_rows_with_the_exact_p_value(project, week):
    """Latencies with six significant digits: one GROUP BY row per output unrounded; rounded to three digits, at
    most 101 values in [1000, 2000] a side, and Mann–Whitney's p stays that of the exact values."""
    rng = np.random.default_rng(5)
    raw = {}
    for each in [*baseline_weeks(week), week]:
        shift = 1.04 if each == week else 1.0  # medians 4 % apart
        raw[each] = np.round(rng.uniform(1000, 1800, 300) * shift, 3)
        _set_latencies(add_outputs(project, each, 300), raw[each])
    window = change_counts.WeekWindow(
        starts=[calendar.week_start(project, week - timedelta(weeks=k)) for k in range(5)],
        end=calendar.week_end(project, week),
        elapsed=None,
    )
    outputs = window.rows(Output.objects.filter(project=project))

    current, baseline = change_counts._numeric_values(outputs, ["latency_ms"])["latency_ms"]

    assert len(current) <= 101 and len(baseline) <= 101  # against 300 and 1,200 distinct values
    assert (sum(n for _, n in current), sum(n for _, n in baseline)) == (300, 1200)
    assert {value for value, _ in current + baseline} <= set(range(1000, 2001, 10))
    baseline_raw = np.concatenate([raw[each] for each in baseline_weeks(week)])
    exact = mannwhitneyu(raw[week], baseline_raw, alternative="two-sided", method="asymptotic").pvalue
    assert 1e-9 < exact < 1e-4  # a planted shift, neither invisible nor overwhelming
    rounded = tests.compare_medians(kind="metadata_median", current=current, baseline=baseline)
    assert rounded.p_value == pytest.approx(exact, rel=0.05)


def test_sql_rounds_numbers_as_the_python_rule_does(project, week):
    # 1.2445 - 1.0 is 0.24449999999999994: PostgreSQL reads it as 0.2445 (15 digits) and rounds the half up.
    values = [1234.5, 1235, -1245, 0.0012345, 987654, 5, 0, 999.96, 0.5, 2.675, 1e-9, 123456789012, 1.2445 - 1.0]
    _set_latencies(add_outputs(project, week, len(values)), values)
    window = change_counts.WeekWindow(
        starts=[calendar.week_start(project, week)], end=calendar.week_end(project, week), elapsed=None
    )

    current, _ = change_counts._numeric_values(window.rows(Output.objects.filter(project=project)), ["latency_ms"])[
        "latency_ms"
    ]

    assert sorted(value for value, _ in current) == sorted({tests.significant(value) for value in values})


def test_a_recompute_stores_the_same_rows(project, week):
    for each in [*baseline_weeks(week), week]:
        add_outputs(project, each, 300, rated=100, down=10)
    add_outputs(project, week, 100, rated=50, down=25, model="gpt-next")

    refresh_week_changes(project=project, week=week)
    first = [model_to_dict(change, exclude=["id"]) for change in WeekChange.objects.order_by("rank")]
    refresh_week_changes(project=project, week=week)
    again = [model_to_dict(change, exclude=["id"]) for change in WeekChange.objects.order_by("rank")]

    assert first == again and first


def test_the_running_week_compares_volume_with_the_same_elapsed_share(project):
    week = calendar.current_week(project)
    halfway = calendar.week_start(project, week) + timedelta(hours=84)
    for each in baseline_weeks(week):
        add_outputs(project, each, 400, rated=100, down=10)
    add_outputs(project, week, 200, rated=50, down=5, hours=84)  # the same pace as every week

    refresh_week_changes(project=project, week=week, now=halfway)
    assert not WeekChange.objects.exists()

    add_outputs(project, week, 200, rated=50, down=5, hours=84)  # twice the pace
    refresh_week_changes(project=project, week=week, now=halfway)
    volume = stored(project, week)[("volume", "overall", "", "")]
    assert (volume.current, volume.baseline, volume.baseline_total, volume.partial) == (400, 200, 800, True)


def test_a_week_that_has_not_started_stores_nothing(project):
    week = calendar.current_week(project) + timedelta(days=7)
    add_outputs(project, week - timedelta(days=7), 100)
    assert refresh_week_changes(project=project, week=week) == 0


def test_another_projects_outputs_never_count(project, other_project, week):
    for each in [*baseline_weeks(week), week]:
        add_outputs(project, each, 300, rated=100, down=10)
        add_outputs(other_project, each, 300, rated=100, down=10)
    add_outputs(other_project, week, 300, rated=100, down=80, model="gpt-next")

    refresh_week_changes(project=project, week=week)
    refresh_week_changes(project=other_project, week=week)

    assert not WeekChange.objects.filter(project=project).exists()
    assert ("new_slice", "model", "", "gpt-next") in stored(other_project, week)


def test_a_new_models_rates_are_compared_with_all_outputs_rates_before_it(project, rubric, week):
    """A new model has no rate of its own before: its thumbs-down and pass rates are tested against all outputs'."""
    for each in baseline_weeks(week):
        add_outputs(project, each, 400, rated=200, down=20, model="gpt")
        add_verdicts(project, add_outputs(project, each, 40, model="gpt"), each, passes=36)
    add_outputs(project, week, 400, rated=200, down=20, model="gpt")
    add_outputs(project, week, 100, rated=80, down=28, model="gpt-next")
    add_verdicts(project, add_outputs(project, week, 40, model="gpt-next"), week, passes=22)

    refresh_week_changes(project=project, week=week)
    changes = stored(project, week)

    down = changes[("new_slice_thumbs_down", "model", "", "gpt-next")]
    assert (down.current_count, down.current_total, down.baseline_count, down.baseline_total) == (28, 80, 80, 800)
    assert down.p_value == pytest.approx(proportions_ztest([28, 80], [80, 800])[1]) and down.q_value <= 0.05
    passes = changes[("new_slice_pass_rate", "model", "", "gpt-next")]
    assert (passes.current_count, passes.current_total, passes.baseline_count, passes.baseline_total) == (
        22, 40, 144, 160,
    )  # fmt: skip
    assert ("slice_thumbs_down", "model", "", "gpt-next") not in changes  # one comparison per rate, not two
    assert ("new_slice", "model", "", "gpt-next") in changes


# 199 characters with a space at an end: in quotes, as its link writes it (spaces at its ends count), 201.
EDGE = " " + "x" * 198
LONG_PAIR = ("k" * 100, "v" * 100)  # each short, `key:value` 201
LONG_KEY = "c:" + "k" * 197  # 199 characters with a colon: in quotes in a pair, no `key:value` of it fits


def test_every_slice_what_changed_picks_has_a_working_link(project, week):
    """Slices are picked by the rule of explore's filter (`rules.explore.has_working_link`), not by raw length: a
    metadata pair over the limit as `key:value` would be a change shown with no link. A model, tag or event name of 199
    characters with a space at an end is written in quotes and read off again: its link works."""
    for each in baseline_weeks(week):
        add_outputs(project, each, 400, rated=200, down=20, model="gpt", metadata={"topic": "shipping"})
        add_events(project, each, 300)
    add_outputs(project, week, 400, rated=200, down=20, model="gpt", metadata={"topic": "shipping"})
    for model, tag, metadata in [
        (EDGE, EDGE, {LONG_PAIR[0]: LONG_PAIR[1], LONG_KEY: "a"}),
        ("gpt-next", "edge", {"topic": "returns", "c:k": "a"}),
    ]:
        add_outputs(project, week, 150, rated=100, down=30, model=model, tags=[tag], metadata=metadata)
    add_events(project, week, 300)
    add_events(project, week, 100, name=EDGE)
    add_events(project, week, 100, name="return_started")

    refresh_week_changes(project=project, week=week)

    changes = week_changes(project=project, week=week)
    picked = {(change["dimension"], change["key"], change["value"]) for change in changes}
    assert {("model", "", "gpt-next"), ("tag", "", "edge"), ("metadata", "topic", "returns"),
            ("metadata", "c:k", "a"), ("event", "", "return_started")} <= picked  # fmt: skip
    assert LONG_PAIR[1] not in {value for _, _, value in picked}
    assert not {key for _, key, _ in picked} & {LONG_PAIR[0], LONG_KEY}
    assert all(change["explore_query"] for change in changes)


@pytest.mark.parametrize(
    ("kind", "key", "chosen"),
    [
        ("number", LONG_KEY, True),  # its median's link, `has_meta`, fits: a key with a colon is no pair there
        ("text", LONG_KEY, False),  # a value of it would take a place no `key:value` link reaches
        ("text", " " + "k" * 198, False),  # in quotes, 201
        ("text", "k" * 198, True),
    ],
)
def test_a_metadata_key_takes_a_place_only_when_a_slice_of_it_has_a_working_link(kind, key, chosen):
    rows = [(0, key, kind, None if kind == "number" else "a", 10, 0, 0, 10)]
    categorical, numeric = change_counts.chosen_metadata(rows, total=10)
    assert bool(categorical or numeric) is chosen
