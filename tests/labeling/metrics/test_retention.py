"""Weekly cohort retention as pure functions: hand-computed grids, weighted means and curves (no database)."""

from datetime import date

import pytest

from labeling.metrics.retention import cell_count, cohort_table, cohort_table_of_masks, mean_curves, weighted_mean
from tests.helpers.metrics import retention_grid as grid

W = date.fromisoformat


def test_cohort_table_counts_return_on_and_on_or_after_by_hand():
    activity = [
        ("ann", W("2026-01-05")), ("ann", W("2026-01-05")), ("ann", W("2026-01-19")),  # weeks 0, 2 (a repeat)
        ("bob", W("2026-01-05")), ("bob", W("2026-01-12")),  # weeks 0, 1
        ("cy", W("2026-01-05")),  # week 0 only
        ("dee", W("2026-01-12")), ("dee", W("2026-01-26")),  # cohort 01-12: weeks 0, 2
        ("eve", W("2026-01-12")),
    ]  # fmt: skip
    cells = cohort_table(activity, current_week=W("2026-01-26"))
    assert grid(cells) == {
        W("2026-01-05"): (3, [3, 1, 1, 0], [3, 2, 1, 0], {3}),
        W("2026-01-12"): (2, [2, 0, 1], [2, 1, 1], {2}),
        # 01-19 and 01-26 have no first-time users: no cohort.
    }
    assert cells[0] == {
        "segment": "all",
        "cohort_week": W("2026-01-05"),
        "offset": 0,
        "cohort_users": 3,
        "active_on": 3,
        "active_on_or_after": 3,
        "incomplete": False,
    }


def test_cohort_table_ignores_weeks_after_the_current_one_and_marks_it_incomplete():
    activity = [("ann", W("2026-01-05")), ("ann", W("2026-01-19")), ("bob", W("2026-01-19")), ("cy", W("2026-01-26"))]
    cells = cohort_table(activity, current_week=W("2026-01-12"))
    # ann's week 2 has not happened yet; bob and cy are not users yet.
    assert grid(cells) == {W("2026-01-05"): (1, [1, 0], [1, 0], {1})}
    assert [cell["incomplete"] for cell in cells] == [False, True]


def test_cohort_table_splits_segments_and_keeps_everyone_in_all():
    activity = [("ann", W("2026-01-05")), ("ann", W("2026-01-12")), ("bob", W("2026-01-05")), ("cy", W("2026-01-05"))]
    activity += [("dee", W("2026-01-12"))]
    segments = {"ann": "pass", "bob": "fail", "cy": "fail", "nobody": "pass"}
    cells = cohort_table(activity, current_week=W("2026-01-12"), segments=segments)
    assert grid(cells, "all") == {W("2026-01-05"): (3, [3, 1], [3, 1], {1}), W("2026-01-12"): (1, [1], [1], {0})}
    assert grid(cells, "pass") == {W("2026-01-05"): (1, [1, 1], [1, 1], {1})}
    # dee has no verdict: the 01-12 cohort has no fail or pass users, so no such cells.
    assert grid(cells, "fail") == {W("2026-01-05"): (2, [2, 0], [2, 0], {1})}
    assert [cell["segment"] for cell in cells] == ["all"] * 3 + ["fail"] * 2 + ["pass"] * 2


def test_a_table_of_some_offsets_is_those_cells_of_the_whole_table_and_counts_them_all():
    """`offsets` picks cells (a refresh that knows which can have changed); `cell_count` counts the whole table."""
    masks = {"ann": 0b10101, "bob": 0b11000, "cy": 0b00011, "dee": 0b00100}  # bit n: active n weeks ago
    segments = {"ann": "pass", "cy": "fail"}
    current = W("2026-02-02")
    whole = cohort_table_of_masks(masks, current_week=current, segments=segments)

    def last_two(cohort_week, last):
        return range(max(0, last - 1), last + 1)

    some = cohort_table_of_masks(masks, current_week=current, segments=segments, offsets=last_two)

    assert some == [cell for cell in whole if cell["offset"] >= grid_last(whole, cell) - 1]
    assert 0 < len(some) < len(whole) == cell_count(masks, segments=segments) == (5 + 3 + 2) + 5 + 2  # all, pass, fail


def grid_last(cells, cell) -> int:
    return max(c["offset"] for c in cells if (c["segment"], c["cohort_week"]) == (cell["segment"], cell["cohort_week"]))


def test_cohort_table_with_day_long_weeks_and_misaligned_weeks():
    days = [("ann", W("2026-01-01")), ("ann", W("2026-01-03"))]
    daily = cohort_table(days, current_week=W("2026-01-03"), week_length=1)
    assert grid(daily) == {W("2026-01-01"): (1, [1, 0, 1], [1, 1, 1], {2})}
    with pytest.raises(ValueError, match="not a week start"):
        cohort_table([("ann", W("2026-01-05")), ("ann", W("2026-01-13"))], current_week=W("2026-01-19"))
    assert cohort_table([], current_week=W("2026-01-19")) == []


def _cell(segment, cohort, offset, users, on, after=None, incomplete=False):
    return {
        "segment": segment,
        "cohort_week": W(cohort),
        "offset": offset,
        "cohort_users": users,
        "active_on": on,
        "active_on_or_after": on if after is None else after,
        "incomplete": incomplete,
    }


WEIGHTED_CELLS = [
    _cell("all", "2026-01-05", 1, 10, 5, after=7),
    _cell("all", "2026-01-12", 1, 30, 6, after=9),
    _cell("all", "2026-01-19", 1, 40, 4, after=4, incomplete=True),
    _cell("all", "2026-01-05", 2, 10, 3),
    _cell("fail", "2026-01-05", 1, 4, 1),
]


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        # (5 + 6) / (10 + 30), not the mean of 50% and 20%
        ({"offset": 1}, {"rate": 11 / 40, "returned": 11, "users": 40, "cohorts": 2}),
        ({"offset": 1, "measure": "active_on_or_after"}, {"rate": 16 / 40, "returned": 16, "users": 40, "cohorts": 2}),
        ({"offset": 1, "complete_only": False}, {"rate": 15 / 80, "returned": 15, "users": 80, "cohorts": 3}),
        ({"offset": 1, "first_cohort": W("2026-01-12")}, {"rate": 6 / 30, "returned": 6, "users": 30, "cohorts": 1}),
        ({"offset": 1, "last_cohort": W("2026-01-05")}, {"rate": 5 / 10, "returned": 5, "users": 10, "cohorts": 1}),
        ({"offset": 1, "segment": "fail"}, {"rate": 1 / 4, "returned": 1, "users": 4, "cohorts": 1}),
        ({"offset": 2}, {"rate": 3 / 10, "returned": 3, "users": 10, "cohorts": 1}),
        ({"offset": 5}, {"rate": None, "returned": 0, "users": 0, "cohorts": 0}),
    ],
)
def test_weighted_mean_weights_cohorts_by_size(kwargs, expected):
    assert weighted_mean(WEIGHTED_CELLS, **kwargs) == expected


def test_mean_curves_stop_at_the_last_complete_offset_and_skip_empty_points():
    curves = mean_curves(WEIGHTED_CELLS, segments=("all", "fail", "pass"))

    # "all": offsets 1 and 2 are complete somewhere; offset 0 has no cell here, so no point.
    assert curves["all"] == [
        {"offset": 1, "rate": 11 / 40, "returned": 11, "users": 40, "cohorts": 2},
        {"offset": 2, "rate": 3 / 10, "returned": 3, "users": 10, "cohorts": 1},
    ]
    assert curves["fail"] == [{"offset": 1, "rate": 1 / 4, "returned": 1, "users": 4, "cohorts": 1}]
    assert curves["pass"] == []
    assert [point["offset"] for point in mean_curves(WEIGHTED_CELLS, segments=("all",), offsets=2)["all"]] == [1]


def test_weighted_mean_rejects_an_unknown_measure():
    with pytest.raises(ValueError, match="measure must be one of"):
        weighted_mean(WEIGHTED_CELLS, offset=1, measure="cohort_users")
