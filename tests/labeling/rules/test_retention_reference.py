"""The retention reference's text: read into points and written back the same, every mistake named."""

import pytest

from labeling.exceptions import InvalidInput
from labeling.rules.retention_reference import format_reference, parse_reference, rate_at, reference_problems


@pytest.mark.parametrize(
    "text, points, canonical",
    [
        ("week 1: 40%, week 4: 25%", [{"week": 1, "rate": 0.4}, {"week": 4, "rate": 0.25}], "week 1: 40%, week 4: 25%"),
        (
            "Week 4 : 25 %;\n  WEEK 1:12.5%\nweek 2: 33.33%",
            [{"week": 1, "rate": 0.125}, {"week": 2, "rate": 0.3333}, {"week": 4, "rate": 0.25}],
            "week 1: 12.5%, week 2: 33.33%, week 4: 25%",
        ),
        (
            "week 52: 0%, week 1: 100%",
            [{"week": 1, "rate": 1.0}, {"week": 52, "rate": 0.0}],
            "week 1: 100%, week 52: 0%",
        ),
        ("week 3: -0%", [{"week": 3, "rate": 0.0}], "week 3: 0%"),
        ("", [], ""),
        (" , ;\n", [], ""),
    ],
)
def test_a_curve_is_read_sorted_by_week_and_written_back_canonically(text, points, canonical):
    assert parse_reference(text) == points
    assert format_reference(points) == canonical
    assert parse_reference(format_reference(points)) == points


@pytest.mark.parametrize("percent", ["0.01", "7.07", "14.29", "28.57", "33.33", "57.14", "66.67", "99.99"])
def test_every_two_decimal_rate_survives_the_round_trip(percent):
    text = f"week 2: {percent}%"
    assert format_reference(parse_reference(text)) == text


def test_a_rising_curve_is_allowed_without_a_word():
    assert parse_reference("week 1: 20%, week 2: 30%") == [{"week": 1, "rate": 0.2}, {"week": 2, "rate": 0.3}]
    assert reference_problems("week 1: 20%, week 2: 30%", "our panel") == {}


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "week one: 40%",
            "“week one: 40%” is not a point of the curve: write each as “week 1: 40%”, e.g. “week 1: 40%, week 4: 25%”",
        ),
        ("week 1 40%", "is not a point of the curve"),
        ("week 1: 40", "is not a point of the curve"),
        ("1: 40%", "is not a point of the curve"),
        ("week 1: 40%, week 4: 25% and falling", "“week 4: 25% and falling” is not a point"),
        ("week 0: 100%", "Week 0 is out of range: use weeks 1 to 52"),
        ("week 53: 10%", "Week 53 is out of range: use weeks 1 to 52"),
        ("week 2: 101%", "Week 2: 101% is outside 0–100%"),
        ("week 2: -5%", "Week 2: -5% is outside 0–100%"),
        ("week 2: 12.345%", "Week 2: 12.345% has more than 2 decimals"),
        ("week 1: 40%, week 1: 35%", "Week 1 is given twice: keep one rate per week"),
        ("week 1: 4\x000%", "NUL"),
        ("week 1: 40%, " * 100, "at most 1,000 characters"),
    ],
)
def test_each_mistake_is_named(text, message):
    with pytest.raises(InvalidInput) as caught:
        parse_reference(text)
    assert message in caught.value.message
    assert message in " ".join(reference_problems(text, "a source")["retention_reference"])


def test_every_mistake_is_named_at_once():
    problems = reference_problems("week 0: 5%, week 2: 120%, what", "src")["retention_reference"]
    assert [problem.split(" ")[0:2] for problem in problems] == [["Week", "0"], ["Week", "2:"], ["“what”", "is"]]


@pytest.mark.parametrize(
    "text, source, message",
    [
        ("week 1: 40%", "", "Say where the curve comes from"),
        ("week 1: 40%", "   ", "Say where the curve comes from"),
        ("", "our 2025 app benchmark", "A source without a curve"),
        ("week 1: 40%", "x" * 501, "at most 500 characters"),
        ("week 1: 40%", "bad\x00source", "NUL"),
    ],
)
def test_a_curve_needs_its_source_and_a_source_its_curve(text, source, message):
    problems = reference_problems(text, source)
    assert list(problems) == ["retention_reference_source"]
    assert message in problems["retention_reference_source"][0]


def test_an_empty_curve_and_source_is_no_reference_and_no_problem():
    assert reference_problems("", "") == {}


def test_the_rate_at_a_week_is_only_what_the_curve_gives():
    points = parse_reference("week 1: 40%, week 4: 25%")
    assert (rate_at(points, 1), rate_at(points, 4), rate_at(points, 2)) == (0.4, 0.25, None)
