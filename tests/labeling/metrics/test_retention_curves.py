"""`mean_curves` in one pass gives, point for point, the weighted mean its definition (`weighted_mean`) gives."""

import random
from datetime import date, timedelta

import pytest

from labeling.metrics.retention import ALL, MEASURES, mean_curves, weighted_mean

SEGMENTS = (ALL, "pass", "fail")


def random_cells(seed: int, weeks: int) -> list[dict]:
    """A cohort table's cells: each cohort week has offsets up to the current week, the last one running."""
    draw = random.Random(seed)
    start = date(2025, 1, 6)
    cells = []
    for segment in SEGMENTS:
        for cohort in range(weeks):
            users = draw.randrange(0, 40)
            for offset in range(weeks - cohort):
                active = draw.randrange(0, users + 1) if users else 0
                cells.append(
                    {
                        "segment": segment,
                        "cohort_week": start + timedelta(weeks=cohort),
                        "offset": offset,
                        "cohort_users": users,
                        "active_on": active,
                        "active_on_or_after": min(users, active + draw.randrange(0, 3)),
                        "incomplete": cohort + offset == weeks - 1,
                    }
                )
    draw.shuffle(cells)
    return cells


def by_definition(cells, *, segments, offsets, measure, first_cohort, last_cohort) -> dict[str, list[dict]]:
    curves = {}
    for segment in segments:
        complete = {cell["offset"] for cell in cells if cell["segment"] == segment and not cell["incomplete"]}
        limit = offsets if offsets is not None else (max(complete) + 1 if complete else 0)
        means = [
            {"offset": offset, **weighted_mean(cells, offset=offset, segment=segment, measure=measure,
                                               first_cohort=first_cohort, last_cohort=last_cohort)}
            for offset in range(limit)
        ]  # fmt: skip
        curves[segment] = [mean for mean in means if mean["cohorts"]]
    return curves


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("measure", MEASURES)
def test_mean_curves_equal_the_weighted_mean_at_every_offset(seed, measure):
    cells = random_cells(seed, weeks=3 + seed * 4)
    draw = random.Random(seed)
    weeks = sorted({cell["cohort_week"] for cell in cells})
    first = draw.choice([None, weeks[len(weeks) // 4]])
    last = draw.choice([None, weeks[-1 - len(weeks) // 4]])
    offsets = draw.choice([None, 4, 30])
    segments = draw.choice([SEGMENTS, ("fail",), (ALL, "pass")])

    got = mean_curves(cells, segments=segments, offsets=offsets, measure=measure, first_cohort=first, last_cohort=last)

    expected = by_definition(
        cells, segments=segments, offsets=offsets, measure=measure, first_cohort=first, last_cohort=last
    )
    assert got == expected
    assert any(points for points in got.values())  # the comparison is not of empty curves


def test_an_unknown_measure_is_refused():
    with pytest.raises(ValueError, match="measure must be one of"):
        mean_curves([], measure="rate")
