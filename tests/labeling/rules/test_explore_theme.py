"""The explore filter's `theme` parameter: read, written back, and refused with a message naming it."""

import pytest
from django.http import QueryDict

from labeling.exceptions import InvalidFilter
from labeling.rules.explore import PARAMETERS, ExploreFilter, filter_query, parse_filter


def test_a_theme_round_trips_through_the_query_string():
    spec = parse_filter(QueryDict("feedback=down&theme=2026-W48.3"))
    assert spec.theme == ("2026-W48", 3) and spec.feedback == (-1,)
    assert filter_query(spec) == "feedback=down&theme=2026-W48.3"
    assert parse_filter(QueryDict(filter_query(spec))) == spec
    assert filter_query(ExploreFilter(theme=("2026-W01", 12))) == "theme=2026-W01.12"
    assert list(PARAMETERS)[-2:] == ["theme", "sort"]  # the last condition (then the order), as the query writes


@pytest.mark.parametrize(
    "value", ["2026-W48", "2026-W48.", "2026-w48.1", "2026-W48.1.2", "2026-W48.123", "x", "2025-W53.1", "1969-W10.1",
              "2026-W48.0", "2026-W00.1", "２０２６-W48.1"],
)  # fmt: skip
def test_a_bad_theme_is_refused_naming_the_parameter(value):
    with pytest.raises(InvalidFilter) as refused:
        parse_filter({"theme": [value]})
    assert list(refused.value.problems) == ["theme"] and value[:40] in refused.value.problems["theme"]


def test_a_theme_is_given_once():
    with pytest.raises(InvalidFilter) as refused:
        parse_filter(QueryDict("theme=2026-W48.1&theme=2026-W48.2"))
    assert refused.value.problems == {"theme": "Give this filter once."}
