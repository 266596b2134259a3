"""The digest's headline lines (each expert's e-mail, the `cycle.digest` webhook, Slack): figures with their basis."""

from labeling.selectors.digest import headline_lines
from tests.helpers.reports import sample_report


def test_the_agreement_line_names_its_items_and_gives_no_figure_on_too_few():
    """The line read "Agreement (Krippendorff's α): 1.000 (—)": no basis, and over one item it is no figure at all."""
    report = sample_report()
    assert "Agreement (Krippendorff's α): 0.712 over 30 items (+0.062)" in headline_lines(report)

    report["headline"]["alpha"] |= {"value": 0.0, "units": 1, "change": None}

    assert "Agreement (Krippendorff's α): 1 item: too few for an agreement figure (—)" in headline_lines(report)


def test_the_pass_rate_line_says_one_item_in_the_singular():
    report = sample_report()
    report["headline"]["pass_rate"] |= {"value": 1.0, "passes": 1, "n": 1, "change": None}

    assert "Pass rate (correct): 100.0% of 1 item (—)" in headline_lines(report)
